#!/usr/bin/env bash
# Builds the web page into web/dist/: the page, its wasm engine (web/, a crate of its own, built
# for wasm32 and bound with wasm-bindgen), and from the data folder ($NETLENS_DATA, else ../shared
# beside the checkout) SqueezeNet's weights, the class names and the gallery photos.
# Installs what it needs when missing: the wasm32 target and wasm-bindgen-cli at the version of
# the wasm-bindgen crate in web/Cargo.lock.
# Serve the result with: python3 -m http.server 8000 --bind 127.0.0.1 --directory web/dist
set -euo pipefail
web="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$web")"
data="${NETLENS_DATA:-$root/../shared}"
dist="$web/dist"

for file in weights/squeezenet1_1.safetensors data/imagenet_classes.txt data/gallery; do
  if [ ! -e "$data/$file" ]; then
    echo "build.sh: $data/$file is missing; set NETLENS_DATA to the data folder" >&2
    exit 1
  fi
done

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen's output only works with the crate version it was built for.
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$web/Cargo.lock")
if [ -z "$version" ]; then
  echo "build.sh: no wasm-bindgen version in $web/Cargo.lock" >&2
  exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $version" ]; then
  cargo install wasm-bindgen-cli --version "$version"
fi

cargo build --manifest-path "$web/Cargo.toml" --release --locked --target wasm32-unknown-unknown

# Everything is written beside dist/ first and moved in place at the end, so a failed build
# leaves the previous page whole.
staging="$(mktemp -d "$web/.dist.XXXXXX")"
chmod 755 "$staging"
trap 'rm -rf "$staging"' EXIT
wasm-bindgen --target web --no-typescript --out-dir "$staging/pkg" \
  "$web/target/wasm32-unknown-unknown/release/netlens_web.wasm"
cp "$web/index.html" "$web/style.css" "$staging/"
cp -r "$web/js" "$staging/js"
mkdir -p "$staging/weights" "$staging/data" "$staging/gallery"
cp "$data/weights/squeezenet1_1.safetensors" "$staging/weights/"
cp "$data/data/imagenet_classes.txt" "$staging/data/"
gallery=()
for photo in "$data"/data/gallery/*; do
  case "$photo" in
    *.jpg | *.jpeg | *.png | *.JPG | *.JPEG | *.PNG)
      cp "$photo" "$staging/gallery/"
      gallery+=("$(basename "$photo")")
      ;;
  esac
done
python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "${gallery[@]}" >"$staging/gallery/index.json"

rm -rf "$dist"
mv "$staging" "$dist"
trap - EXIT
echo "web/dist is ready: python3 -m http.server 8000 --bind 127.0.0.1 --directory web/dist"

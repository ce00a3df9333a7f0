#!/usr/bin/env python3
"""End-to-end check of the built web page (web/dist) in headless Chromium through its URL jobs.

Serves web/dist on 127.0.0.1, opens `index.html?job=...` once per job in a fresh headless
Chromium (WebGPU on; a software adapter will do), reads the page's one `NETLENS_RESULT {json}`
console line from Chromium's log and checks it:

- classify on a gallery photo: PyTorch's top class (data/reference); with --native, the same
  top-5 classes as `netlens classify --json` and probabilities within 2e-3;
- classify and saliency (gradient) on a photo the test draws (a PNG that is in no gallery): the
  same top-5 and the same map maximum and mean as the command line (--native, rel. 2e-2);
- saliency with SmoothGrad (5 samples), Grad-CAM and guided backprop: maps of the top class,
  finite, not flat;
- fool: the hay photo made a stingray, and the 8-bit PNG the page offers still a stingray;
- dream: a tarantula from noise (20 steps) whose 8-bit PNG the network calls a tarantula with
  p > 0.2 (chance: 0.001);
- errors: a missing image and an unknown class each end in one `{"error": ...}` line, and so does
  a browser without WebGPU (Chromium without --enable-unsafe-webgpu and no GPU), naming WebGPU.

Standard library only. Exits 1 naming every failed check.
"""

import argparse
import functools
import http.server
import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib
from pathlib import Path

RESULT = "NETLENS_RESULT "
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--enable-unsafe-webgpu",
    "--enable-logging=stderr",
    "--v=0",
    "--no-first-run",
    "--disable-extensions",
    "--disable-background-networking",
]
GALLERY_PHOTO = "n01443537_goldfish.jpg"


def write_png(path, width, height, pixel):
    """Writes an 8-bit RGB PNG whose pixel (x, y) is pixel(x, y) = (r, g, b)."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows.extend(pixel(x, y))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))


def drawn_photo(x, y):
    """A 320x240 scene: a sky gradient, a sun, green hills with stripes."""
    hill = 150 + 30 * math.sin(x / 40)
    if (x - 240) ** 2 + (y - 60) ** 2 < 30 ** 2:
        return (250, 220, 60)
    if y > hill:
        shade = 90 + (40 if (x // 12 + y // 12) % 2 else 0)
        return (40, shade, 30)
    return (110 + y // 3, 160 + y // 4, 235)


def serve(root, extra):
    """A static server on 127.0.0.1 for `root`, with `/_test/` mapped to the folder `extra`."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def translate_path(self, path):
            clean = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
            if clean.startswith("/_test/"):
                return str(Path(extra) / Path(clean[len("/_test/"):]).name)
            return super().translate_path(path)

        def log_message(self, *args):
            pass

    handler = functools.partial(Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_job(chromium, base, query, timeout, profile, flags=CHROMIUM_FLAGS):
    """Opens the page with `query`; returns (result dict, seconds, number of result lines)."""
    url = f"{base}/index.html?{query}"
    start = time.monotonic()
    process = subprocess.Popen(
        [chromium, *flags, f"--user-data-dir={profile}", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace",
        start_new_session=True,
    )
    lines = []
    found = threading.Event()

    def read():
        for line in process.stderr:
            if RESULT in line:
                lines.append(line)
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not found.wait(timeout):
            raise TimeoutError(f"no {RESULT.strip()} line within {timeout} s: {url}")
        time.sleep(1.0)  # a second result line, if the page wrongly logged one, arrives now
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    seconds = time.monotonic() - start
    line = lines[0]
    text = line[line.index(RESULT) + len(RESULT):]
    end = text.rfind('", source:')
    if end >= 0:
        text = text[:end]
    return json.loads(text), seconds, len(lines)


def native(binary, args):
    """Runs the command line and returns its stdout."""
    out = subprocess.run([binary, "--quiet", *args], check=True, capture_output=True, text=True)
    return out.stdout


def read_npy(path):
    """The float32 values of a little-endian .npy file."""
    data = Path(path).read_bytes()
    header_len = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + header_len].decode()
    if "'<f4'" not in header:
        raise ValueError(f"{path}: not little-endian float32 ({header.strip()})")
    body = data[10 + header_len:]
    return struct.unpack(f"<{len(body) // 4}f", body)


def main():
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", default=here.parent / "dist", type=Path)
    parser.add_argument("--data", default=Path(os.environ.get("NETLENS_DATA", here.parents[2] / "shared")),
                        type=Path, help="the data folder (default $NETLENS_DATA, else ../shared)")
    parser.add_argument("--chromium", default="chromium")
    parser.add_argument("--native", help="the netlens binary to compare with (e.g. target/debug/netlens)")
    parser.add_argument("--timeout", default=600, type=float, help="seconds per job")
    parser.add_argument("--dream-steps", default=20, type=int)
    args = parser.parse_args()
    if not (args.dist / "index.html").is_file():
        sys.exit(f"{args.dist}/index.html is missing: run web/build.sh first")

    failures = []

    def check(ok, what):
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        drawn = tmp / "drawn.png"
        write_png(drawn, 320, 240, drawn_photo)
        server = serve(args.dist, tmp)
        base = f"http://127.0.0.1:{server.server_address[1]}"

        def job(query):
            result, seconds, count = run_job(args.chromium, base, query, args.timeout, tmp / "profile")
            print(f"{query}: {seconds:.1f} s\n  {json.dumps(result)}")
            check(count == 1, f"{query}: exactly one result line (got {count})")
            check("error" not in result, f"{query}: no error")
            return result

        def native_top5(path):
            return json.loads(native(args.native, ["classify", "--json", str(path)]))[0]["top5"]

        def same_top5(query, got, want):
            check([p["index"] for p in got] == [p["index"] for p in want],
                  f"{query}: the command line's top-5 classes {[p['index'] for p in want]}")
            worst = max(abs(a["prob"] - b["prob"]) for a, b in zip(got, want))
            check(worst <= 2e-3, f"{query}: probabilities within 2e-3 of the command line's (off by {worst:.1e})")

        # A gallery photo, decoded by the browser.
        query = f"job=classify&image=gallery/{GALLERY_PHOTO}"
        got = job(query)
        reference = json.loads((args.data / "reference/squeezenet1_1_gallery_top5.json").read_text())
        top5 = got.get("top5", [])
        check(len(top5) == 5 and top5[0]["index"] == reference[GALLERY_PHOTO]["top5"][0],
              f"{query}: PyTorch's top class {reference[GALLERY_PHOTO]['top5'][0]}")
        if args.native:
            same_top5(query, top5, native_top5(args.data / "data/gallery" / GALLERY_PHOTO))

        # A photo in no gallery.
        query = "job=classify&image=_test/drawn.png"
        got = job(query)
        check(len(got.get("top5", [])) == 5 and all(0 <= p["prob"] <= 1 for p in got["top5"]),
              f"{query}: five classes with probabilities")
        if args.native:
            drawn_top5 = native_top5(drawn)
            same_top5(query, got.get("top5", []), drawn_top5)
        query = "job=saliency&image=_test/drawn.png&method=vanilla"
        got = job(query)
        if args.native:
            native(args.native, ["saliency", "--method", "vanilla", "--out", str(tmp / "fig.png"), str(drawn)])
            values = read_npy(tmp / "fig.saliency.npy")
            want_max, want_mean = max(values), sum(values) / len(values)
            for key, want in (("map_max", want_max), ("map_mean", want_mean)):
                rel = abs(got.get(key, float("nan")) - want) / abs(want)
                check(rel <= 2e-2, f"{query}: {key} {got.get(key)} within 2e-2 of the command line's {want:.6g}")
            check(got.get("target") == drawn_top5[0]["index"], f"{query}: the map explains the top class")

        # The other saliency methods on a gallery photo.
        for method in ("smoothgrad&samples=5", "gradcam", "guided"):
            query = f"job=saliency&image=gallery/{GALLERY_PHOTO}&method={method}"
            method = method.split("&")[0]
            got = job(query)
            check(got.get("method") == method and got.get("target") == reference[GALLERY_PHOTO]["top5"][0],
                  f"{query}: a {method} map of the top class")
            check(0 < got.get("map_mean", 0) < got.get("map_max", 0) < float("inf"),
                  f"{query}: finite, not flat (0 < mean < max)")

        # Fooling, checked on the PNG the page offers.
        query = "job=fool&image=gallery/n07802026_hay.jpg&target=stingray"
        got = job(query)
        check(got.get("target") == 6 and got.get("reached") is True, f"{query}: reaches stingray (6)")
        check(got.get("png_top1", {}).get("index") == 6, f"{query}: the 8-bit PNG is a stingray")

        # Class visualization, checked on its 8-bit PNG.
        query = f"job=dream&class=tarantula&steps={args.dream_steps}"
        got = job(query)
        check(got.get("class") == 76 and got.get("steps") == args.dream_steps, f"{query}: tarantula, {args.dream_steps} steps")
        check(got.get("prob", 0) > 0.2, f"{query}: p(tarantula) > 0.2 on the 8-bit PNG (200 times chance)")

        # Bad input: one error line naming the cause.
        for query, cause in (("job=classify&image=_test/missing.png", "404"),
                             ("job=fool&image=_test/drawn.png&target=no_such_class", "unknown class")):
            result, seconds, count = run_job(args.chromium, base, query, args.timeout, tmp / "profile")
            print(f"{query}: {seconds:.1f} s\n  {json.dumps(result)}")
            check(count == 1 and cause in result.get("error", ""), f"{query}: one error line naming `{cause}`")

        # Without --enable-unsafe-webgpu a headless Chromium without a GPU has no WebGPU adapter.
        query = f"job=classify&image=gallery/{GALLERY_PHOTO}"
        flags = [f for f in CHROMIUM_FLAGS if f != "--enable-unsafe-webgpu"]
        result, seconds, count = run_job(args.chromium, base, query, args.timeout, tmp / "profile", flags)
        print(f"{query} (WebGPU off): {seconds:.1f} s\n  {json.dumps(result)}")
        if "error" in result:
            check(count == 1 and "WebGPU" in result["error"], f"{query} (WebGPU off): an error naming WebGPU")
        else:
            print("  skipped: this Chromium has WebGPU without --enable-unsafe-webgpu")
        server.shutdown()

    if failures:
        print(f"{len(failures)} check(s) failed:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("all page checks passed")


if __name__ == "__main__":
    main()

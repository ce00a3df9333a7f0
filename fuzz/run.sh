#!/bin/sh
# Fuzzes the safetensors weights loader and the image decoder for N inputs each (default
# 1000000): fuzz/run.sh [N] [TARGET...]. Seeds are written into fuzz/corpus/ first; a crash
# stops the run and leaves its input in fuzz/artifacts/TARGET/.
#
# cargo-fuzz passes the compiler flags of nightly Rust (-Z...); RUSTC_BOOTSTRAP=1 lets a stable
# compiler accept them. Needs `cargo install cargo-fuzz` and python3.
set -eu
cd "$(dirname "$0")"
runs=${1:-1000000}
[ $# -gt 0 ] && shift
targets=${*:-weights image}
export RUSTC_BOOTSTRAP=1
python3 seeds.py corpus
for target in $targets; do
    echo "== $target: $runs inputs"
    # Debug assertions on (-a): arithmetic overflow is a crash too. Inputs up to 64 KiB; an
    # input taking over 30 s is a hang; 2 GiB of memory at most (the decoder may use 512 MiB).
    cargo fuzz run -a "$target" "corpus/$target" -- \
        -runs="$runs" -max_len=65536 -timeout=30 -rss_limit_mb=2048 -print_final_stats=1
done

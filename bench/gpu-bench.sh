#!/usr/bin/env bash
# netlens and PyTorch eager timed on the same GPU in one command, each part under its own timeout
# so that the whole fits in about 8 minutes. Run from the repository root:
#
#   bench/gpu-bench.sh [OUTDIR]
#
# The binary is $NETLENS, else .gl/netlens (after `source .gl/env.sh`), else target/release/netlens.
# BENCH_MODELS, BENCH_BATCHES, BENCH_DREAM_STEPS and BENCH_ARGS change the bench's settings,
# BENCH_TIMEOUT and TORCH_TIMEOUT its parts' limits in seconds. Writes into OUTDIR (default $OUT, else out/gpu-bench):
#   adapter.txt   `netlens info` (adapters, the one chosen with its backend and driver, limits)
#                 and nvidia-smi's name and driver where it exists
#   netlens.json  `netlens bench` of SqueezeNet and VGG16 (formula weights unless
#                 $NETLENS_VGG16_WEIGHTS names a file) at batch 1, 8, 25, direct and Winograd
#                 convolutions, 100 class-visualization steps, with the GPU commands of each
#   pytorch.json  bench/pytorch_eager.py, when python3 has torch with a CUDA device
#   log.txt       everything the commands printed on stderr
set -uo pipefail

out=${1:-${OUT:-out/gpu-bench}}
mkdir -p "$out"
log=$out/log.txt
: >"$log"

netlens=${NETLENS:-}
if [ -z "$netlens" ]; then
    if [ -x .gl/netlens ]; then
        netlens=.gl/netlens
    else
        netlens=target/release/netlens
    fi
fi
if [ ! -x "$netlens" ]; then
    echo "gpu-bench: no netlens binary at $netlens (cargo build --release, or set NETLENS)" >&2
    exit 1
fi
# Seconds per part: the bench, then PyTorch (the info and nvidia-smi take seconds).
bench_timeout=${BENCH_TIMEOUT:-300}
torch_timeout=${TORCH_TIMEOUT:-150}
models=${BENCH_MODELS:-squeezenet,vgg16}
batches=${BENCH_BATCHES:-1,8,25}
dream_steps=${BENCH_DREAM_STEPS:-100}
# More bench options (a quick check: BENCH_ARGS="--reps 1 --warmup 0 --size 64").
read -r -a extra <<<"${BENCH_ARGS:-}"
status=0

{
    timeout 60 "$netlens" info
    if command -v nvidia-smi >/dev/null; then
        timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    fi
} >"$out/adapter.txt" 2>>"$log" || status=1

echo "gpu-bench: netlens bench (at most ${bench_timeout} s)" >&2
if ! timeout "$bench_timeout" "$netlens" bench --model "$models" --batch "$batches" \
    --conv auto,winograd --dream-steps "$dream_steps" --json "${extra[@]}" \
    >"$out/netlens.json" 2>>"$log"; then
    echo "gpu-bench: netlens bench failed or timed out (see $log)" >&2
    status=1
fi

here=$(dirname "$0")
if python3 -c "import torch; assert torch.cuda.is_available()" 2>>"$log"; then
    echo "gpu-bench: PyTorch eager (at most ${torch_timeout} s)" >&2
    if ! timeout "$torch_timeout" python3 "$here/pytorch_eager.py" --out "$out/pytorch.json" \
        --dream-steps "$dream_steps" 2>>"$log"; then
        echo "gpu-bench: PyTorch eager failed or timed out (see $log)" >&2
        status=1
    fi
else
    echo "gpu-bench: no PyTorch with a CUDA device here; skipped it" >&2
fi
echo "gpu-bench: results in $out" >&2
exit "$status"

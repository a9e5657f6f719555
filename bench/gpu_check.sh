#!/usr/bin/env bash
# Training throughput per loss, evaluation and metric time on a GPU, and the check that the
# losses with and without bfloat16 autocast (--amp) agree to 1e-2 relative on the same batch.
# About 4 minutes on one GPU (bench/bench_training.py does the work; see its docstring):
#
#     bench/gpu_check.sh            # on a machine with a CUDA GPU
#     bench/gpu_check.sh --quick    # the same code in a reduced run on the CPU (< 1 minute;
#                                   # the test suite runs it)
#
# Exit status 1 when an AMP check fails. PYTHON overrides the interpreter (default: the
# project's .venv, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}

if [ "${1:-}" = "--quick" ]; then
    exec "$PYTHON" bench/bench_training.py --device cpu --configs original ours ours+amp \
        --batch-sizes 16 --n-images 512 --rounds 1 --window-images 32 --warmup-images 16 \
        --eval-rounds 1 --eval-batch 256 --metric-images 512 --metric-samples 100 \
        --amp-check --amp-check-steps 2
elif [ $# -gt 0 ]; then
    echo "error: unknown option $1 (use --quick, or no option on a GPU machine)" >&2
    exit 2
fi
exec "$PYTHON" bench/bench_training.py --device cuda \
    --configs original ours ours+amp ours+compile \
    --batch-sizes 64 256 --n-images 65536 --rounds 3 --window-images 8192 \
    --warmup-images 4096 --eval-rounds 2 --eval-batch 1000 \
    --metric-images 737280 --render-full --amp-check --amp-check-steps 200

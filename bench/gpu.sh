#!/usr/bin/env bash
# The GPU check of issue 14 as one script (nothing here has been run on a GPU yet): on a CUDA machine with
# the project's venv, check the heads on CUDA and time them, then write bench/out/speed_cuda.{md,json}.
#     bash bench/gpu.sh [PYTHON]        # default .venv/bin/python; results in bench/out (or $OUT if set)
set -euo pipefail
PY=${1:-.venv/bin/python}
OUTDIR=${OUT:-bench/out}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to PyTorch')"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
# the CPU tests still pass where a GPU is present
"$PY" -m pytest tests/engine/test_infer.py tests/engine/test_infer_runtime.py tests/engine/test_stream.py -q -x -p no:cacheprovider
# 1080p head by head on CUDA (fp16 autocast), baselines on the CPU in the same run
"$PY" bench/speed.py --device cuda --frames 24 --out "$OUTDIR"
cat "$OUTDIR/speed_cuda.md"

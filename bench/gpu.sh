#!/usr/bin/env bash
# The project's GPU check as one script, sized for a short lease of a GPU machine: the CUDA tests, then the
# two stages of bench/base.py with the GPU training (a base, then show runs from it and from scratch, side by
# side, of the protocols in MODES), then bench/speed.py's heads at 1080p on CUDA. Every stage has its own time
# limit, so one that fails or overruns leaves the others' figures; the results are packed into $OUT/gpu.tgz
# after each.
#     OUT=/tmp/gpu FOOTAGE=../shared/footage bash bench/gpu.sh
# On a machine with its own Python and no package index (the device tool's GPU machines): `bash
# bench/gpu_carry.sh` here first, send .whl and .footage along, and run `PY=python3 FOOTAGE=.footage bash
# bench/gpu.sh` there.
# Settings (environment): PY (default .venv/bin/python, else python3), FOOTAGE (default ../shared/footage),
# BASE_BUDGET / SHOW_BUDGET (seconds of bench/base.py's whole protocol; default 180 / 60: the script then ends
# within about 560 s), TEST_S, BASE_S, SHOW_S, SPEED_S (each stage's time limit), MODES (default clips: on
# 2026-12-04 the four runs of both protocols at once outlasted 210 s, the `tails` ones still scoring on the
# CPU). Wheels in .whl/ (the device tool's way to bring packages the machine lacks) are installed first into
# /tmp/site. docs/benchmarks.md ("On a GPU") says how the first run was carried out and what it measured.
set -uo pipefail
PY=${PY:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
OUTDIR=${OUT:-bench/out}
RES=$OUTDIR/gpu
FOOTAGE=${FOOTAGE:-../shared/footage}
BASE_BUDGET=${BASE_BUDGET:-180}
SHOW_BUDGET=${SHOW_BUDGET:-60}
MODES=${MODES-clips}
mkdir -p "$RES"
LOG=$RES/log.txt
T0=$(date +%s)
note() { echo "[$(($(date +%s) - T0)) s] $*" | tee -a "$LOG"; }
pack() { tar -czf "$OUTDIR/gpu.tgz" -C "$RES" --exclude=cache --exclude=base-run . 2>/dev/null; cp "$LOG" "$OUTDIR/log.txt"; }
stage() {  # stage NAME SECONDS COMMAND...: run with a limit, log its status, pack the results
    local name=$1 limit=$2
    shift 2
    note "$name: start (limit ${limit} s)"
    timeout --kill-after=10 "$limit" "$@" >"$RES/$name.txt" 2>&1
    note "$name: exit $?"
    pack
}

if [ -d .whl ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        >"$RES/pip.txt" 2>&1 || note "wheels: install failed"
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
    nproc
    "$PY" -c "import sys, torch, numpy; print(sys.version.split()[0], torch.__version__, torch.version.cuda, numpy.__version__, torch.cuda.is_available(), torch.cuda.is_bf16_supported())"
} >"$RES/env.txt" 2>&1
note "env: $(tr '\n' ' ' <"$RES/env.txt")"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to PyTorch')" || exit 1

# the CUDA tests (skipped on machines without a GPU), and the engine tests that read the device
# (a GPU machine's image may lack OpenVINO, which CPU fixes default to: that one test is left out)
stage tests "${TEST_S:-60}" "$PY" -m pytest --noconftest -p no:cacheprovider -q -rs --durations=10 \
    -k "not openvino_is_installed" tests/engine/test_cuda.py tests/engine/test_infer_runtime.py \
    tests/engine/test_train_precision.py

# the base on the GPU (bench/base.py's corpus), with the GPU's load sampled beside it
nvidia-smi dmon -s um -d 5 >"$RES/dmon_base.txt" 2>&1 &
DMON=$!
stage base "${BASE_S:-225}" "$PY" bench/base.py --footage "$FOOTAGE" --base-budget "$BASE_BUDGET" --modes "" --out "$RES"
kill $DMON 2>/dev/null

# the show runs at once, each from the base or from scratch with the same budget
nvidia-smi dmon -s um -d 5 >"$RES/dmon_show.txt" 2>&1 &
DMON=$!
note "show runs: start (limit ${SHOW_S:-180} s each)"
pids=()
runs=$((2 * $(echo "$MODES" | tr ',' '\n' | grep -c .)))
workers=$(($(nproc) / (runs > 0 ? runs : 1) - 1))  # the cores shared out between the runs at once
for mode in ${MODES//,/ }; do for run in "$mode-scratch" "$mode-base"; do
    timeout --kill-after=10 "${SHOW_S:-180}" "$PY" bench/base.py --footage "$FOOTAGE" --show-budget "$SHOW_BUDGET" \
        --run "$run" --draw-workers "$((workers > 0 ? workers : 0))" --out "$RES" >"$RES/show-$run.txt" 2>&1 &
    pids+=($!)
done; done
wait_status=0
for pid in "${pids[@]}"; do
    wait "$pid" || wait_status=$?
done
kill $DMON 2>/dev/null
note "show runs: done (last non-zero exit: $wait_status)"
"$PY" bench/base.py --footage "$FOOTAGE" --base-budget "$BASE_BUDGET" --show-budget "$SHOW_BUDGET" --out "$RES" \
    --report-only >"$RES/report.txt" 2>&1
pack

# every head at 1080p with its net on the GPU (fp16 autocast), its CPU baseline in the same run
stage speed "${SPEED_S:-55}" "$PY" bench/speed.py --device cuda --frames 3 --rounds 1 --out "$RES"
note "all stages done"
pack

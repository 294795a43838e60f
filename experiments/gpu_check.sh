#!/usr/bin/env bash
# GPU check: on a machine with an NVIDIA GPU and JAX's CUDA plugin
# (pip install -U "jax[cuda12]"), run from the repository root:
#
#     bash experiments/gpu_check.sh [OUT_DIR]
#
# 1. the test suite on the GPU            -> OUT_DIR/pytest.txt
# 2. the benchmark: GPU rows, plus book-numpy on the host CPU
#                                         -> OUT_DIR/benchmark.txt, benchmark.json,
#                                            BENCHMARKS-gpu.md
# 3. the default training (python -m jaxbp.train)
#                                         -> OUT_DIR/train.txt, train-metrics.json,
#                                            train.png
# plus OUT_DIR/summary.txt (machine, versions, exit status and wall time of each
# step).  Eight files in all.  Every step has its own time limit so that the
# whole check ends within 8 minutes (150 + 240 + 60 s plus start-up); a step
# that fails or times out is recorded and the next one still runs; the script's
# exit status is non-zero if any step failed.
#
# OUT_DIR: the first argument, else $OUT, else experiments/results/gpu.
# Data: $JAXBP_DATA_DIR, else shared/data/mnist or ../shared/data/mnist when
# present; without MNIST the tests that need it skip and the benchmark runs on
# synthetic data of MNIST's shapes (timings only; said so in its output).
# Python: $PYTHON, else python3.
# For a dry run of the plumbing on a machine without a GPU:
#     GPU_CHECK_ALLOW_CPU=1 BENCH_ARGS=--quick PYTEST_ARGS=tests/test_graph.py \
#         bash experiments/gpu_check.sh /tmp/gpu_dry
set -u

OUT_DIR=${1:-${OUT:-experiments/results/gpu}}
PY=${PYTHON:-python3}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
SUMMARY="$OUT_DIR/summary.txt"
: >"$SUMMARY"
log() { echo "$*" | tee -a "$SUMMARY"; }

if [ -z "${JAXBP_DATA_DIR:-}" ]; then
    for d in shared/data/mnist ../shared/data/mnist; do
        if [ -f "$d/train-images-idx3-ubyte.gz" ] || [ -f "$d/train-images-idx3-ubyte" ]; then
            export JAXBP_DATA_DIR="$PWD/$d"
            break
        fi
    done
fi
SYNTH=()
if [ -z "${JAXBP_DATA_DIR:-}" ]; then
    log "MNIST not found (JAXBP_DATA_DIR unset): the benchmark uses synthetic data"
    SYNTH=(--synthetic)
fi

log "gpu_check.sh $(date -Is) in $PWD"
log "JAXBP_DATA_DIR=${JAXBP_DATA_DIR:-}"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true; } \
    | tee -a "$SUMMARY"
if ! "$PY" - >>"$SUMMARY" 2>&1 <<'EOF'
import sys, jax, jaxlib, numpy
d = jax.devices()
print("python", sys.version.split()[0], "jax", jax.__version__, "jaxlib", jaxlib.__version__,
      "numpy", numpy.__version__)
print("devices:", d)
sys.exit(0 if d[0].platform == "gpu" else 3)
EOF
then
    if [ "${GPU_CHECK_ALLOW_CPU:-0}" = 1 ]; then
        log "WARNING: JAX sees no GPU; GPU_CHECK_ALLOW_CPU=1: dry run on the CPU"
    else
        log "FAILED: JAX sees no GPU (install the CUDA plugin: pip install -U 'jax[cuda12]')"
        exit 3
    fi
fi
grep -E "^(python|devices)" "$SUMMARY"

status=0
step() {   # step NAME LIMIT_S LOGFILE COMMAND...
    local name=$1 limit=$2 logf=$3
    shift 3
    local t0=$SECONDS rc
    timeout --kill-after=10 "$limit" "$@" >"$OUT_DIR/$logf" 2>&1
    rc=$?
    [ $rc -ne 0 ] && status=1
    log "$name: exit $rc ($((SECONDS - t0)) s, limit $limit s; $( [ $rc -eq 124 ] && echo 'TIMED OUT; ')log $logf)"
    tail -n 3 "$OUT_DIR/$logf" | sed 's/^/    /' | tee -a "$SUMMARY"
}

# 1. The test suite on the GPU (the benchmark's smoke test is left out: step 2
#    runs the benchmark itself).
step pytest 150 pytest.txt "$PY" -m pytest -q -p no:cacheprovider \
    --ignore=tests/test_benchmark.py ${PYTEST_ARGS:-tests}

# 2. The benchmark: the JAX rows on the GPU (book-numpy runs on the host CPU; the
#    devices table uses forced CPU host devices), a short SimpleConvNet row too.
step benchmark 240 benchmark.txt "$PY" experiments/benchmark.py \
    "${SYNTH[@]}" ${BENCH_ARGS:-} --out "$OUT_DIR/benchmark.json" --markdown "$OUT_DIR/BENCHMARKS-gpu.md"

# 3. The default training, as a user runs it.
TRAIN_DIR=$(mktemp -d)
step train 60 train.txt "$PY" -m jaxbp.train --quiet --out-dir "$TRAIN_DIR"
cp "$TRAIN_DIR/metrics.json" "$OUT_DIR/train-metrics.json" 2>/dev/null || log "train: no metrics.json"
cp "$TRAIN_DIR/training.png" "$OUT_DIR/train.png" 2>/dev/null || log "train: no training.png"
rm -rf "$TRAIN_DIR"

log "done $(date -Is): $( [ $status -eq 0 ] && echo 'all steps passed' || echo 'SOME STEPS FAILED')"
exit $status

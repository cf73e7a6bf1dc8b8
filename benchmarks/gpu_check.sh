#!/usr/bin/env bash
# make gpu-check: the one script a machine with an NVIDIA GPU runs (see docs/benchmarks.md), in about 5 minutes.
# Needs CuPy, numba-cuda, torch, pytest and hypothesis. From wheels/ it installs, into a folder put first on
# PYTHONPATH, whatever the machine lacks: array-api-compat (required) and a NumPy below 2.5 where the machine
# has 2.5 (numba-cuda 0.30 fails to compile on NumPy 2.5); make gpu-wheels fetches them, so the GPU machine
# needs no network. PUBLISHED=path/to/PPM.py times the authors' code beside ours.
# Warnings are reported, not turned into failures. Results go into docs/benchmarks.md (its GPU section) and,
# where $OUT is set, to $OUT too.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SITE=${SITE:-/tmp/ppm-array-gpu-site}
unset NUMBA_ENABLE_CUDASIM
if ls wheels/*.whl >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --upgrade --target "$SITE" wheels/*.whl
fi
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader || true
"$PYTHON" -c "import numpy, cupy, numba_cuda; print('numpy', numpy.__version__, 'cupy', cupy.__version__, 'numba-cuda', numba_cuda.__version__)"
echo "== CUDA kernels on the device, and the GPU tests =="
status=0
"$PYTHON" -m pytest -q -p no:cacheprovider -W default -o addopts="" tests/test_gpu.py tests/test_numba_cuda.py || status=$?
echo "== GPU benchmark =="
"$PYTHON" benchmarks/bench_gpu.py --write docs/benchmarks.md ${PUBLISHED:+--published "$PUBLISHED"} ${QUICK:+--quick}
if [ -n "${OUT:-}" ]; then
    cp docs/benchmarks.md "$OUT/benchmarks.md"
fi
exit $status

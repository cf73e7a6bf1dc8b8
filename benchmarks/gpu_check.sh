#!/usr/bin/env bash
# make gpu-check: on a machine with an NVIDIA GPU and CuPy, numba-cuda, pytest and
# hypothesis installed (no network needed). array-api-compat, if missing, is
# installed from wheels/ (fetch it beforehand: pip download array-api-compat -d wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PYTHON" -c "import array_api_compat" 2>/dev/null; then
    "$PYTHON" -m pip install --no-index --find-links wheels array-api-compat
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
echo "== CUDA kernels and CuPy end to end (real GPU, no simulator) =="
env -u NUMBA_ENABLE_CUDASIM "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_numba_cuda.py
echo "== GPU benchmark =="
env -u NUMBA_ENABLE_CUDASIM "$PYTHON" benchmarks/bench_gpu.py

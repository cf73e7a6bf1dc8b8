#!/usr/bin/env bash
# make gpu-check: the one script a machine with an NVIDIA GPU runs (see docs/benchmarks.md).
# Needs CuPy, numba-cuda, pytest and hypothesis; array-api-compat (required) and FINUFFT (for the
# CPU's Fourier method) are installed from wheels/ where missing (make gpu-wheels fetches them: no
# network is needed on the GPU machine).
# Results go into docs/benchmarks.md (its GPU section) and, where $OUT is set, to $OUT too.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
unset NUMBA_ENABLE_CUDASIM
for module in array_api_compat finufft; do
    if ! "$PYTHON" -c "import $module" 2>/dev/null && ls wheels/"${module}"-*.whl >/dev/null 2>&1; then
        "$PYTHON" -m pip install --quiet --no-deps --no-index --find-links wheels "${module//_/-}"
    fi
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
echo "== CUDA kernels on the device, and the GPU tests =="
status=0
"$PYTHON" -m pytest -q -p no:cacheprovider tests/test_numba_cuda.py tests/test_gpu.py || status=$?
echo "== GPU benchmark =="
"$PYTHON" benchmarks/bench_gpu.py --write docs/benchmarks.md
if [ -n "${OUT:-}" ]; then
    cp docs/benchmarks.md "$OUT/benchmarks.md"
fi
exit $status

#!/bin/sh
# Run a command with Numba compiling for AVX2 (Haswell: 16 vector registers, no AVX-512) on an AVX-512 machine,
# with its own on-disk cache, so that the kernels' AVX2 code can be measured where no AVX2-only machine is at hand:
#     sh benchmarks/as_avx2.sh python -c "import sys; sys.path.insert(0, 'benchmarks'); import bench_step; bench_step.throughput(16384, 5)"
NUMBA_CPU_NAME=haswell \
NUMBA_CPU_FEATURES="+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+f16c,+fma,+fsgsbase,+fxsr,+lzcnt,+mmx,+movbe,+pclmul,+popcnt,+rdrnd,+sahf,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave,+xsaveopt" \
NUMBA_CACHE_DIR="${TMPDIR:-/tmp}/ppm_array_avx2_cache" \
exec "$@"

"""Every CUDA kernel of :mod:`.numba_cuda` with the argument types it is launched with, for compiling them ahead
of time without a GPU: ``tests/test_cuda_compile.py`` (NVVM and ptxas for several GPU architectures) and
``benchmarks/cuda_resources.py`` (registers, spills, shared memory). A kernel added there must be added here:
a test checks that every kernel that is an attribute of that module is listed.
"""

from __future__ import annotations

import numba

from . import numba_cuda

__all__ = ["compile_targets"]


def compile_targets(dtype) -> list:
    """``(name, dispatcher, argument_types)`` for every kernel of :mod:`.numba_cuda` in compute ``dtype``
    (``numba.float32`` or ``numba.float64``), with the layouts the backend passes (``tests/test_cuda_compile.py``
    compiles each for real)."""
    array = numba.types.Array
    floats = [array(dtype, n, "C") for n in (1, 2, 3)]
    points, int1, int2 = array(dtype, 2, "A"), array(numba.int64, 1, "C"), array(numba.int64, 2, "C")
    f64_1, f64_2, f64_3 = (array(numba.float64, n, "C") for n in (1, 2, 3))
    return [
        ("persistence_kernel", numba_cuda.persistence_kernel, (points, int2, floats[0], floats[0], int2, int2)),
        ("scatter_kernel", numba_cuda.scatter_kernel, (points, int2, f64_1, f64_2)),
        ("compact_kernel", numba_cuda.compact_kernel, (floats[0], floats[0], floats[0], int1, floats[0], floats[1])),
        ("expand_kernel", numba_cuda.expand_kernel, (floats[0], int1, f64_3, f64_1, f64_2)),
        (
            "moment_kernel",
            numba_cuda._moment_kernel(dtype, numba_cuda.THREADS_PER_BLOCK, numba_cuda.ROWS_PER_THREAD),
            (floats[1], floats[1], int1, numba.boolean, f64_3),
        ),
    ]

"""Running the CPU kernels: how many of Numba's threads a piece of work repays, and the compiled kernels' layout.

Kernels run on Numba's thread pool (``numba.set_num_threads`` sets its size for the
calling thread). Work too small to repay a parallel region runs on the calling thread
alone, and no kernel uses more threads than the user asked for
(``PPM_ARRAY_NUM_THREADS``, ``NUMBA_NUM_THREADS``), the cgroup's CPU quota allows, or
other processes leave free (:mod:`.._cores`). Numba's OpenMP workers spin briefly
after a parallel region and then sleep (:mod:`.._openmp`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from .. import _fastmath, _kernel_bodies
from .._compile import cached_njit
from .._cores import requested_threads, thread_limit
from .._openmp import short_spin

__all__ = ["SERIAL_WORK_NS", "bounds", "jit_cached_with", "kernel_array", "run", "threads_for"]

# Estimated nanoseconds of one thread's work below which a kernel runs on the calling thread alone.
SERIAL_WORK_NS = 50_000


def jit_cached_with(module_file: str) -> Callable[..., Any]:
    """``numba.njit(cache=True)`` for the kernels of ``module_file``, whose cache also follows the files whose
    code is inlined into every CPU kernel (the shared kernel bodies and the polynomial ``exp``)."""
    return cached_njit((module_file, _kernel_bodies.__file__, _fastmath.__file__))


def _start_threads() -> None:
    with short_spin():  # see _openmp: Numba's workers spin briefly, then sleep
        numba.get_num_threads()  # loads the threading layer, which reads the variables once


_start_threads()


def threads_for(work_ns: float) -> int:
    """As many threads as repay ``work_ns``: one when it is too small to share, and no more than
    :func:`.._cores.thread_limit` allows (the user's choice, the cgroup's quota, or the cores other processes
    leave free)."""
    requested_threads()  # a malformed PPM_ARRAY_NUM_THREADS is refused by every call, small ones too
    threads = numba.get_num_threads()
    if threads == 1 or work_ns < SERIAL_WORK_NS:
        return 1
    limit = thread_limit()
    return threads if limit is None else min(threads, max(1, limit))


def run(kernel, work_ns: float, *args, threads: int | None = None):
    """``kernel(*args)`` on ``threads`` (default: ``threads_for(work_ns)``) of Numba's threads."""
    available = numba.get_num_threads()
    wanted = threads_for(work_ns) if threads is None else threads
    if wanted == available:
        return kernel(*args)
    numba.set_num_threads(wanted)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(available)


def bounds(total: int, n_parts: int) -> np.ndarray:
    """Where each of ``n_parts`` near-equal consecutive parts of ``range(total)`` starts, and ``total`` last
    (integer arithmetic: ``np.linspace`` costs more than a small call's kernels)."""
    return np.arange(n_parts + 1, dtype=np.int64) * total // n_parts


def kernel_array(X) -> np.ndarray:
    """``X`` as a writeable C-contiguous array: one compiled specialisation serves every layout."""
    X = np.ascontiguousarray(X)
    return X if X.flags.writeable else X.copy()

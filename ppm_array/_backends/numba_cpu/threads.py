"""Running the CPU kernels: how many of Numba's threads a piece of work repays, and the compiled kernels' layout.

Kernels run on Numba's thread pool (``numba.set_num_threads`` sets its size for the
calling thread; within one call's :func:`call_threads` the size is read once, set only
where a kernel wants another than the last, and restored once). Work too small to repay
a parallel region runs on the calling thread alone, and no kernel uses more threads than
the user asked for (``PPM_ARRAY_NUM_THREADS``, ``NUMBA_NUM_THREADS``), the cgroup's CPU
quota allows, or other processes leave free (:mod:`.._cores`). Numba's OpenMP workers
spin briefly after a parallel region and then sleep (:mod:`.._openmp`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numba
import numpy as np

from .. import _fastmath, _kernel_bodies
from .._compile import cached_njit
from .._cores import requested_threads, thread_limit
from .._openmp import short_spin

__all__ = [
    "SERIAL_WORK_NS",
    "bounds",
    "call_threads",
    "chunk_sum",
    "jit_cached_with",
    "kernel_array",
    "run",
    "threads_for",
]

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


# Within call_threads: Numba's thread count when the call began ("entry") and now ("current").
_call = threading.local()


@contextlib.contextmanager
def call_threads(X: Any = None) -> Iterator[None]:
    """The kernels of one call (the backend's ``on_device``; ``X`` is not used): Numba's thread count is read
    on entry and set back on exit, and :func:`run` sets it only where a kernel wants another count than the
    last (each read or set takes a lock: microseconds, which nine kernels of a small call would pay four
    times each). Nested scopes are the outer one."""
    if getattr(_call, "entry", None) is not None:
        yield
        return
    requested_threads()  # a malformed PPM_ARRAY_NUM_THREADS is refused by every call, small ones too
    entry = numba.get_num_threads()
    _call.entry = _call.current = entry
    try:
        yield
    finally:
        if _call.current != entry:
            numba.set_num_threads(entry)
        _call.entry = _call.current = None


def threads_for(work_ns: float) -> int:
    """As many threads as repay ``work_ns``: one when it is too small to share, and no more than
    :func:`.._cores.thread_limit` allows (the user's choice, the cgroup's quota, or the cores other processes
    leave free)."""
    entry = getattr(_call, "entry", None)
    if entry is None:
        requested_threads()  # a malformed PPM_ARRAY_NUM_THREADS is refused by every call, small ones too
    if work_ns < SERIAL_WORK_NS:
        return 1
    threads = entry or numba.get_num_threads()
    if threads == 1:
        return 1
    limit = thread_limit()
    return threads if limit is None else min(threads, max(1, limit))


def run(kernel, work_ns: float, *args, threads: int | None = None):
    """``kernel(*args)`` on ``threads`` (default: ``threads_for(work_ns)``) of Numba's threads."""
    wanted = threads_for(work_ns) if threads is None else threads
    if getattr(_call, "entry", None) is not None:  # within call_threads: set back when the call ends
        if wanted != _call.current:
            numba.set_num_threads(wanted)
            _call.current = wanted
        return kernel(*args)
    available = numba.get_num_threads()
    if wanted == available:
        return kernel(*args)
    numba.set_num_threads(wanted)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(available)


def bounds(total: int, n_parts: int) -> np.ndarray:
    """Where each of ``n_parts`` near-equal consecutive parts of ``range(total)`` starts, and ``total`` last
    (integer arithmetic, in Python: for the few parts of a call, NumPy's operations cost more than the kernels of a
    small call)."""
    return np.array([k * total // n_parts for k in range(n_parts + 1)], dtype=np.int64)


def chunk_sum(buffers: np.ndarray) -> np.ndarray:
    """The sum of a kernel's per-chunk buffers (axis 0) in chunk order; the buffer itself when there is one."""
    return buffers[0] if buffers.shape[0] == 1 else buffers.sum(axis=0)


def kernel_array(X) -> np.ndarray:
    """``X`` as a writeable C-contiguous array: one compiled specialisation serves every layout."""
    X = np.ascontiguousarray(X)
    return X if X.flags.writeable else X.copy()

"""How the benchmarks time a call: the fastest of repeated runs after a warm-up, with warm or cold caches."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["best_time", "cold_time"]

# Reading this evicts the caches (4 times the 32 MiB L3 of this project's machine).
_EVICTOR = np.ones(2**24)


def best_time(function, repeat: int) -> float:
    """Seconds of the fastest of ``repeat`` calls after one warm-up call."""
    return cold_time(function, repeat, evict=False)


def cold_time(function, repeat: int, *, evict: bool = True) -> float:
    """Seconds of the fastest of ``repeat`` calls, each (with ``evict``) from cold caches, as data that the
    rest of a training step has evicted."""
    function()
    times = []
    for _ in range(repeat):
        if evict:
            _EVICTOR.sum()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)

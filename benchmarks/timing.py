"""How the benchmarks time a call (the fastest or the median of repeated runs after a warm-up, with warm or
cold caches), and which machine they ran on."""

from __future__ import annotations

import os
import platform
import time

import numpy as np

__all__ = ["best_time", "best_times", "cold_time", "machine", "median_times"]

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


def best_times(functions, repeat: int) -> list[float]:
    """Seconds of the fastest of ``repeat`` calls of each function after one warm-up call of each, the functions
    called in turn (round after round), so that a slow spell of a shared machine falls on all."""
    return [min(spent) for spent in _rounds(functions, repeat)]


def median_times(functions, repeat: int) -> list[float]:
    """Seconds of the median of ``repeat`` calls of each function after one warm-up call of each, the
    functions called in turn (round after round), so that a slow spell of a shared machine falls on all."""
    return [float(np.median(spent)) for spent in _rounds(functions, repeat)]


def _rounds(functions, repeat: int) -> list[list[float]]:
    for function in functions:
        function()
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(repeat):
        for function, spent in zip(functions, times):
            start = time.perf_counter()
            function()
            spent.append(time.perf_counter() - start)
    return times


def machine() -> str:
    """The CPU model, its widest SIMD instruction set and the cores this process may use (Linux's
    ``/proc/cpuinfo``; elsewhere what ``platform`` knows): printed beside every figure."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as stream:
            for line in stream:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    simd = next((name.upper() for name in ("avx512f", "avx2", "avx", "sse4_2", "neon", "asimd") if name in flags),
                "SIMD unknown")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model} ({simd}{' with FMA' if 'fma' in flags else ''}), {cores} cores available"

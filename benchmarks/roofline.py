"""What this machine's cores do: standalone loops that bound the MMD kernels from above.

``evaluation_rate`` times the simplest loop that does a kernel evaluation's work:
for every ordered pair, the polynomial ``exp`` of ppm_array's kernels and the
value and gradient sums of one point (structure-of-arrays inputs, rows shared
among threads, no stores in the inner loop). It is a ceiling on evaluations per
second, measured rather than estimated. ``copy_time`` is the memory-traffic floor
of a PPM-Reg step on large clouds: reading both clouds once and writing both
gradients once.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ppm_array._backends._fastmath import exp_neg
from ppm_array._backends.numba_cpu.moment_kernels import _VECTORISE
from timing import best_time, cold_time

__all__ = ["copy_time", "evaluation_rate"]


@njit(parallel=True, fastmath=_VECTORISE)
def _lifetimes_loop(l, v, c, out_0, out_1):
    zero = c - c
    for i in prange(l.shape[0]):
        li = l[i]
        s0 = zero
        s1 = zero
        for j in range(l.shape[0]):
            d = li - l[j]
            e = v[j] * exp_neg(d * d * c)
            s0 += e
            s1 += e * d
        out_0[i] = s0
        out_1[i] = s1


@njit(parallel=True, fastmath=_VECTORISE)
def _planar_loop(b, l, v, c, out_0, out_1, out_2):
    zero = c - c
    for i in prange(l.shape[0]):
        bi, li = b[i], l[i]
        s0 = zero
        s1 = zero
        s2 = zero
        for j in range(l.shape[0]):
            db = bi - b[j]
            dl = li - l[j]
            e = v[j] * exp_neg((db * db + dl * dl) * c)
            s0 += e
            s1 += e * db
            s2 += e * dl
        out_0[i] = s0
        out_1[i] = s1
        out_2[i] = s2


def evaluation_rate(n: int, dtype, planar: bool, repeat: int = 5) -> float:
    """Kernel evaluations per second of the standalone loop over ``n x n`` ordered pairs."""
    rng = np.random.default_rng(0)
    b, l, v = (rng.uniform(0, 1, n).astype(dtype) for _ in range(3))
    outs = [np.empty(n, dtype) for _ in range(3)]
    c = dtype(10.0)
    if planar:
        seconds = best_time(lambda: _planar_loop(b, l, v, c, *outs), repeat)
    else:
        seconds = best_time(lambda: _lifetimes_loop(l, v, c, *outs[:2]), repeat)
    return n * n / seconds


def copy_time(X: np.ndarray, Y: np.ndarray, repeat: int = 15) -> float:
    """Seconds to read both clouds once and write two new arrays of their shapes (the gradients) once,
    from cold caches."""

    def traffic():
        for cloud in (X, Y):
            np.copyto(np.empty_like(cloud), cloud)

    return cold_time(traffic, repeat)

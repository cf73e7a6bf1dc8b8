"""What this machine's cores do: standalone loops that bound the MMD kernels from above.

``evaluation_loop`` is the simplest loop that does a kernel evaluation's work: for
every ordered pair, the polynomial ``exp`` of ppm_array's kernels (``exp2_neg``) and
the value and gradient sums of one point (structure-of-arrays inputs, rows shared
among threads, no stores in the inner loop). It is a ceiling on evaluations per
second, measured rather than estimated. ``pair_loop`` is the kernels' own tile loop
(``_tile_planar``, ``_tile_lifetimes``: one exp per pair, the sums of both of its
points) in the simplest schedule, without the kernels' compaction, float64 flushes or
write-conflict-free scheduling: what the kernels' arithmetic reaches on this machine,
so that the kernels' ratio to it is the cost of everything around the loop.
``copy_time`` is the memory-traffic floor of a PPM-Reg step on large clouds: reading
both clouds once and writing both gradients once.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
from numba import njit, prange

from ppm_array._backends._fastmath import LOG2_E, exp2_neg
from ppm_array._backends.numba_cpu.moment_kernels import _VECTORISE, _tile_lifetimes, _tile_planar
from timing import cold_time

__all__ = ["copy_time", "evaluation_loop", "pair_loop"]


@njit(parallel=True, fastmath=_VECTORISE)
def _lifetimes_loop(l, v, c, out_0, out_1):
    zero = c - c
    for i in prange(l.shape[0]):
        li = l[i]
        s0 = zero
        s1 = zero
        for j in range(l.shape[0]):
            d = li - l[j]
            e = v[j] * exp2_neg(d * d * c)
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
            e = v[j] * exp2_neg((db * db + dl * dl) * c)
            s0 += e
            s1 += e * db
            s2 += e * dl
        out_0[i] = s0
        out_1[i] = s1
        out_2[i] = s2


def evaluation_loop(n: int, dtype, planar: bool) -> tuple[Callable[[], object], int]:
    """The standalone loop over ``n x n`` ordered pairs, ready to call, and the evaluations a call does."""
    rng = np.random.default_rng(0)
    b, l, v = (rng.uniform(0, 1, n).astype(dtype) for _ in range(3))
    outs = [np.empty(n, dtype) for _ in range(3)]
    c = dtype(10.0 * LOG2_E)  # the kernels' constant for 1 / (2 h^2) = 10
    loop = (lambda: _planar_loop(b, l, v, c, *outs)) if planar else (lambda: _lifetimes_loop(l, v, c, *outs[:2]))
    return loop, n * n


@njit(parallel=True, fastmath=_VECTORISE)
def _pairs_loop(b, l, v, c, width, planar, rows, columns):
    """Thread ``t`` takes the blocks of ``width`` rows numbered ``t, t + n_threads, ...`` against every block of
    ``width`` columns: ``n^2`` pairs, rows and columns summed into two L1-resident buffers of the thread, never
    cleared or flushed (their values are not meaningful: only the work is)."""
    n, n_threads = l.shape[0], columns.shape[0]
    for t in prange(n_threads):
        for i0 in range(t * width, n, n_threads * width):
            i1 = min(i0 + width, n)
            for j0 in range(0, n, width):
                j1 = min(j0 + width, n)
                if planar:
                    _tile_planar(b, l, v, b, l, v, i0, i1, j0, j1, False, c, rows[t], columns[t])
                else:
                    _tile_lifetimes(l, v, l, v, i0, i1, j0, j1, False, c, rows[t], columns[t])


def pair_loop(n: int, dtype, planar: bool, width: int = 512) -> tuple[Callable[[], object], int]:
    """The kernels' tile loop over ``n x n`` pairs in square blocks of side ``width``, ready to call, and the
    pairs a call visits."""
    rng = np.random.default_rng(0)
    b, l, v = (rng.uniform(0, 1, n).astype(dtype) for _ in range(3))
    rows, columns = (np.zeros((numba.get_num_threads(), 3, width), dtype) for _ in range(2))
    c = dtype(10.0 * LOG2_E)
    return (lambda: _pairs_loop(b, l, v, c, width, planar, rows, columns)), n * n


def copy_time(X: np.ndarray, Y: np.ndarray, repeat: int = 15) -> float:
    """Seconds to read both clouds once and write two new arrays of their shapes (the gradients) once,
    from cold caches."""

    def traffic():
        for cloud in (X, Y):
            np.copyto(np.empty_like(cloud), cloud)

    return cold_time(traffic, repeat)

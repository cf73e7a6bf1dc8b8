"""The MMD's kernel moments: pairs of persistence points in square tiles, scheduled without write conflicts.

The points with a weight are compacted first (:mod:`..compaction`). The remaining
pairs are visited in square tiles, and each pair updates the moments of both of its
points, so a within-sum visits every unordered pair once. The tiles are scheduled so
that no two threads write the same moments (see the two schedules below): the extra
memory is ``O(s)`` whatever the thread count, and every sum runs in an order fixed by
the tiling alone, so results are bitwise reproducible across thread counts. Inside a
tile the inner loop runs over contiguous 1-D arrays with a branch-free power of two
(``exp(-x) = 2^(-x log2 e)``, :mod:`.._fastmath`) in the input's precision (float32 has
twice the SIMD lanes of float64); each tile's sums are flushed into float64 moments.
When every birth is 0 (``q = 0``) a one-dimensional loop leaves out the birth terms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from .._fastmath import LOG2_E, exp2_neg
from ..compaction import expand, weighted
from ..contract import KernelPoints, Moments
from .threads import chunk_sum, jit_cached_with, run

__all__ = [
    "batched_kernel",
    "batched_pair_moments",
    "TILE_MAX",
    "TILE_MIN",
    "cross_chunks_kernel",
    "cross_rounds_kernel",
    "pair_moments",
    "within_chunks_kernel",
    "within_rounds_kernel",
]

# Reassociation lets LLVM vectorise the moment sums; it changes rounding only, and
# the order is still fixed for a given compilation.
_VECTORISE = {"reassoc", "contract", "nsz", "arcp"}


# Largest and smallest side of a tile of kernel pairs; 6 tile-long arrays stay in L1.
TILE_MAX, TILE_MIN = 512, 64

_jit = jit_cached_with(__file__)


@njit(inline="always", fastmath=_VECTORISE)
def _tile_planar(ba, la, va, bb, lb, vb, i0, i1, j0, j1, diagonal, c, rows, columns):
    """Pairs ``(i, j)`` of one tile, ``j > i`` on a diagonal tile: row moments of ``i`` into ``rows``,
    column moments of ``j`` into ``columns``, both indexed from the tile's corner."""
    zero = c - c
    rows_0, rows_b, rows_l = rows[0], rows[1], rows[2]
    for i in range(i0, i1):
        bi, li, vi = ba[i], la[i], va[i]
        s0 = zero
        sb = zero
        sl = zero
        start = i + 1 if diagonal else j0
        # Slices start every inner loop at 0: Numba then drops the wraparound checks that block vectorisation.
        b_j, l_j, v_j = bb[start:j1], lb[start:j1], vb[start:j1]
        c_0, c_b, c_l = columns[0, start - j0 :], columns[1, start - j0 :], columns[2, start - j0 :]
        for j in range(l_j.shape[0]):
            db = bi - b_j[j]
            dl = li - l_j[j]
            e = exp2_neg((db * db + dl * dl) * c)
            ej = v_j[j] * e
            ei = vi * e
            s0 += ej
            sb += ej * db
            sl += ej * dl
            c_0[j] += ei
            c_b[j] -= ei * db
            c_l[j] -= ei * dl
        rows_0[i - i0] += s0
        rows_b[i - i0] += sb
        rows_l[i - i0] += sl


@njit(inline="always", fastmath=_VECTORISE)
def _tile_lifetimes(la, va, lb, vb, i0, i1, j0, j1, diagonal, c, rows, columns):
    """:func:`_tile_planar` when every birth is 0: the birth moments stay 0."""
    zero = c - c
    rows_0, rows_l = rows[0], rows[2]
    for i in range(i0, i1):
        li, vi = la[i], va[i]
        s0 = zero
        sl = zero
        start = i + 1 if diagonal else j0
        l_j, v_j = lb[start:j1], vb[start:j1]
        c_0, c_l = columns[0, start - j0 :], columns[2, start - j0 :]
        for j in range(l_j.shape[0]):
            dl = li - l_j[j]
            e = exp2_neg(dl * dl * c)
            ej = v_j[j] * e
            ei = vi * e
            s0 += ej
            sl += ej * dl
            c_0[j] += ei
            c_l[j] -= ei * dl
        rows_0[i - i0] += s0
        rows_l[i - i0] += sl


@njit(inline="always")
def _tile_task(ba, la, va, bb, lb, vb, ti, tj, tile, diagonal, planar, c, moments_a, moments_b):
    """Tile ``(ti, tj)``: its pairs' sums in the compute dtype, added to the float64 moments.

    On a ``diagonal`` tile (a set against itself, ``ti == tj``) only the pairs ``j > i`` are visited.
    """
    i0, j0 = ti * tile, tj * tile
    i1, j1 = min(i0 + tile, la.shape[0]), min(j0 + tile, lb.shape[0])
    rows = np.zeros((3, i1 - i0), dtype=la.dtype)
    columns = np.zeros((3, j1 - j0), dtype=la.dtype)
    if planar:
        _tile_planar(ba, la, va, bb, lb, vb, i0, i1, j0, j1, diagonal, c, rows, columns)
    else:
        _tile_lifetimes(la, va, lb, vb, i0, i1, j0, j1, diagonal, c, rows, columns)
    for k in range(3):
        for t in range(i1 - i0):
            moments_a[k, i0 + t] += rows[k, t]
        for t in range(j1 - j0):
            moments_b[k, j0 + t] += columns[k, t]


# Two schedules of the tiles, both exact and independent of the thread count:
#
# - chunks: tile pairs dealt round-robin to _CHUNKS chunks that own their float64 moment buffers, summed in
#   a fixed order after. One parallel region per call; 2 * _CHUNKS * 3 * s floats of buffers. For sets of up to
#   _CHUNKED_POINTS points.
# - rounds: rounds in which no two tasks touch the same points (a round-robin tournament for a set against itself,
#   a cyclic shift for two sets), writing straight into the moments: O(s) memory and every thread busy, but a
#   parallel region per round, which only large sets repay.
_CHUNKS, _CHUNKED_POINTS = 8, 2**15


@_jit(parallel=True, fastmath=_VECTORISE)
def within_chunks_kernel(b, l, v, c, tile, planar, buffers):
    """Moments of every point against the others of its set: chunk ``k`` takes the tile pairs
    ``(ti <= tj)`` numbered ``k, k + n_chunks, ...`` in row order."""
    n_tiles = (l.shape[0] + tile - 1) // tile
    n_chunks = buffers.shape[0]
    for chunk in prange(n_chunks):
        number = 0
        for ti in range(n_tiles):
            for tj in range(ti, n_tiles):
                if number % n_chunks == chunk:
                    _tile_task(b, l, v, b, l, v, ti, tj, tile, ti == tj, planar, c, buffers[chunk], buffers[chunk])
                number += 1


@_jit(parallel=True, fastmath=_VECTORISE)
def cross_chunks_kernel(ba, la, va, bb, lb, vb, c, tile, planar, buffers_a, buffers_b):
    """Moments of every point of A against B and of B against A: chunk ``k`` takes the tile pairs
    numbered ``k, k + n_chunks, ...`` in row order."""
    tiles_a = (la.shape[0] + tile - 1) // tile
    tiles_b = (lb.shape[0] + tile - 1) // tile
    n_chunks = buffers_a.shape[0]
    for chunk in prange(n_chunks):
        for number in range(chunk, tiles_a * tiles_b, n_chunks):
            _tile_task(
                ba,
                la,
                va,
                bb,
                lb,
                vb,
                number // tiles_b,
                number % tiles_b,
                tile,
                False,
                planar,
                c,
                buffers_a[chunk],
                buffers_b[chunk],
            )


@_jit(parallel=True, fastmath=_VECTORISE)
def within_rounds_kernel(b, l, v, c, tile, planar, moments):
    """Moments of every point against the others of its set: first the diagonal tiles, each its own
    task; then a round-robin tournament (circle method) among the tiles."""
    n_tiles = (l.shape[0] + tile - 1) // tile
    for t in prange(n_tiles):
        _tile_task(b, l, v, b, l, v, t, t, tile, True, planar, c, moments, moments)
    slots = n_tiles + n_tiles % 2
    for r in range(slots - 1):
        for k in prange(slots // 2):
            first = slots - 1 if k == 0 else (r + k) % (slots - 1)
            second = r if k == 0 else (r - k) % (slots - 1)
            if first < n_tiles and second < n_tiles:
                _tile_task(
                    b, l, v, b, l, v, min(first, second), max(first, second), tile, False, planar, c, moments, moments
                )


@_jit(parallel=True, fastmath=_VECTORISE)
def cross_rounds_kernel(ba, la, va, bb, lb, vb, c, tile, planar, moments_a, moments_b):
    """Moments of every point of A against B and of B against A; round ``r`` pairs tile ``i`` of A
    with tile ``(i + r) mod max(tiles)`` of B, so no two tasks of a round share a tile."""
    tiles_a = (la.shape[0] + tile - 1) // tile
    tiles_b = (lb.shape[0] + tile - 1) // tile
    rounds = max(tiles_a, tiles_b)
    for r in range(rounds):
        for i in prange(tiles_a):
            j = (i + r) % rounds
            if j < tiles_b:
                _tile_task(ba, la, va, bb, lb, vb, i, j, tile, False, planar, c, moments_a, moments_b)


@_jit(parallel=True, fastmath=_VECTORISE)
def batched_kernel(ba, la, va, bounds_a, bb, lb, vb, bounds_b, c, same_set, tile, planar, moments_a, moments_b):
    """Item ``k`` of a batch: the points ``[bounds_a[k], bounds_a[k + 1])`` of A against
    ``[bounds_b[k], bounds_b[k + 1])`` of B, with the kernel's ``c[k]``, in tiles, on one thread; the items in
    parallel. With ``same_set`` (A is B, and ``moments_a`` is ``moments_b``) the tile pairs ``ti <= tj`` of an
    item, each unordered pair of points once. Every item writes only its own points' moments."""
    for k in prange(bounds_a.shape[0] - 1):
        a0, a1, b0, b1 = bounds_a[k], bounds_a[k + 1], bounds_b[k], bounds_b[k + 1]
        tiles_a = (a1 - a0 + tile - 1) // tile
        tiles_b = (b1 - b0 + tile - 1) // tile
        for ti in range(tiles_a):
            for tj in range(ti if same_set else 0, tiles_b):
                _tile_task(
                    ba[a0:a1],
                    la[a0:a1],
                    va[a0:a1],
                    bb[b0:b1],
                    lb[b0:b1],
                    vb[b0:b1],
                    ti,
                    tj,
                    tile,
                    same_set and ti == tj,
                    planar,
                    c[k],
                    moments_a[:, a0:a1],
                    moments_b[:, b0:b1],
                )


def _tile_side(n: int) -> int:
    """The largest power of two from TILE_MIN to TILE_MAX that cuts ``n`` points into at least 8 tiles.

    It depends on ``n`` only, never on the thread count, so neither do the results.
    """
    tile = TILE_MAX
    while tile > TILE_MIN and n < 8 * tile:
        tile //= 2
    return tile


# Nanoseconds per pair on one thread, for the choice of serial or parallel execution.
_NS_PER_PAIR = 0.6


def _n_chunks(tile_pairs: int) -> int:
    """Chunks of the chunked schedule: ``_CHUNKS``, or one per tile pair where there are fewer (the others would
    add only zeros: the same sums)."""
    return min(_CHUNKS, tile_pairs)


def _within(b, l, v, c, planar):
    n = l.shape[0]
    work, tile = _NS_PER_PAIR * n * n / 2, _tile_side(n)
    if n > _CHUNKED_POINTS:
        moments = np.zeros((3, n))
        run(within_rounds_kernel, work, b, l, v, c, tile, planar, moments)
        return moments
    n_tiles = -(-n // tile)
    buffers = np.zeros((_n_chunks(n_tiles * (n_tiles + 1) // 2), 3, n))
    run(within_chunks_kernel, work, b, l, v, c, tile, planar, buffers)
    return chunk_sum(buffers)


def _cross(ba, la, va, bb, lb, vb, c, planar):
    n_a, n_b = la.shape[0], lb.shape[0]
    work, tile = _NS_PER_PAIR * n_a * n_b, _tile_side(max(n_a, n_b))
    if max(n_a, n_b) > _CHUNKED_POINTS:
        moments_a, moments_b = np.zeros((3, n_a)), np.zeros((3, n_b))
        run(cross_rounds_kernel, work, ba, la, va, bb, lb, vb, c, tile, planar, moments_a, moments_b)
        return moments_a, moments_b
    n_chunks = _n_chunks(-(-n_a // tile) * -(-n_b // tile))
    buffers_a, buffers_b = np.zeros((n_chunks, 3, n_a)), np.zeros((n_chunks, 3, n_b))
    run(cross_chunks_kernel, work, ba, la, va, bb, lb, vb, c, tile, planar, buffers_a, buffers_b)
    return chunk_sum(buffers_a), chunk_sum(buffers_b)


def _base_two(inv_two_h2: Any) -> Any:
    """The kernels' constant ``c``: ``exp(-|z - z'|^2 / (2 h^2)) = 2^(-c |z - z'|^2)``, computed in float64 and
    rounded once to the points' dtype by the caller (as ``1 / (2 h^2)`` itself was before the fold)."""
    return np.asarray(inv_two_h2, dtype=np.float64) * LOG2_E


def _contiguous(points: KernelPoints) -> KernelPoints:
    return KernelPoints(*(np.ascontiguousarray(a) for a in points))


def pair_moments(A: KernelPoints, B: KernelPoints, *, same_set: bool, inv_two_h2: Any, xp: Any) -> tuple:
    rows_a, (ba, la, va) = weighted(_contiguous(A), np)
    c = la.dtype.type(_base_two(inv_two_h2))
    if same_set:
        moments = _within(ba, la, va, c, bool(ba.any())) if la.shape[0] > 1 else np.zeros((3, la.shape[0]))
        expanded = expand(rows_a, Moments(*moments), A.birth.shape[0], np)
        return expanded, expanded
    rows_b, (bb, lb, vb) = weighted(_contiguous(B), np)
    if la.shape[0] and lb.shape[0]:
        moments_a, moments_b = _cross(ba, la, va, bb, lb, vb, c, bool(ba.any() or bb.any()))
    else:
        moments_a, moments_b = np.zeros((3, la.shape[0])), np.zeros((3, lb.shape[0]))
    return (
        expand(rows_a, Moments(*moments_a), A.birth.shape[0], np),
        expand(rows_b, Moments(*moments_b), B.birth.shape[0], np),
    )


def _weighted_items(points: KernelPoints) -> tuple:
    """The points with a weight of a batch (``(batch, n)`` arrays), flattened and compacted, with the flat
    positions they came from (None when every point has a weight) and where each item's points start."""
    flat = KernelPoints(*(np.ascontiguousarray(np.reshape(a, (-1,))) for a in points))
    rows, compact = weighted(flat, np)
    n_items, n = points.v.shape
    starts = np.arange(n_items + 1, dtype=np.int64) * n
    bounds = starts if rows is None else np.searchsorted(rows, starts).astype(np.int64)
    return rows, compact, bounds


def batched_pair_moments(A: KernelPoints, B: KernelPoints, *, same_set: bool, inv_two_h2: Any, xp: Any) -> tuple:
    """The items of a batch in one parallel loop (:func:`batched_kernel`), each on the points with a weight."""
    n_items, n_a = A.v.shape
    rows_a, (ba, la, va), bounds_a = _weighted_items(A)
    if same_set:
        rows_b, (bb, lb, vb), bounds_b = rows_a, (ba, la, va), bounds_a
    else:
        rows_b, (bb, lb, vb), bounds_b = _weighted_items(B)
    c = np.ascontiguousarray(np.reshape(_base_two(inv_two_h2), (-1,)), dtype=la.dtype)
    longest = int(max(np.max(np.diff(bounds_a), initial=0), np.max(np.diff(bounds_b), initial=0)))
    moments_a = np.zeros((3, la.shape[0]))
    moments_b = moments_a if same_set else np.zeros((3, lb.shape[0]))
    planar = bool(ba.any() or bb.any())
    work = _NS_PER_PAIR * float(np.sum(np.diff(bounds_a) * np.diff(bounds_b)))
    run(
        batched_kernel,
        work,
        ba,
        la,
        va,
        bounds_a,
        bb,
        lb,
        vb,
        bounds_b,
        c,
        same_set,
        _tile_side(longest),
        planar,
        moments_a,
        moments_b,
    )

    def in_place(rows, moments, n: int) -> Moments:
        full = expand(rows, Moments(*moments), n_items * n, np)
        return Moments(*(np.reshape(m, (n_items, n)) for m in full))

    moments_of_a = in_place(rows_a, moments_a, n_a)
    return moments_of_a, (moments_of_a if same_set else in_place(rows_b, moments_b, B.v.shape[1]))

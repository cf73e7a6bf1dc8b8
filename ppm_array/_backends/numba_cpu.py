"""Numba CPU backend for NumPy arrays: fused, parallel, deterministic kernels.

Same operations and signatures as :mod:`ppm_array.backends.array_api`. Kernels
compute in float64 and write into buffers allocated here in the caller's dtype.
Every reduction has a fixed order for a given thread count (``numba.get_num_threads()``),
so results are bitwise reproducible on one machine and thread setting.
"""

from __future__ import annotations


import numba
import numpy as np
from numba import njit, prange

from .._moments import Moments
from . import _fastmath, _kernel_bodies
from ._compile import cached_njit
from ._fastmath import exp_neg
from ._kernel_bodies import build

__all__ = ["pair_moments", "persistence", "scatter_edges"]

# Reassociation lets LLVM vectorise the moment sums (about 3x here); it changes
# rounding only, and the order is still fixed for a given compilation.
_VECTORISE = {"reassoc", "contract", "nsz", "arcp"}
# Points per side of a square tile of kernel pairs: 3 column buffers of this many
# float64 stay in L1 while a row of the tile streams over them.
TILE = 256
# The cache of every kernel below follows the files whose code is inlined into it.
_jit = cached_njit((__file__, _kernel_bodies.__file__, _fastmath.__file__))

_bodies = build(njit(inline="always"))
_subsample_persistence = _bodies.subsample_persistence
_edge_push = _bodies.edge_push


@_jit(parallel=True)
def persistence_kernel(X, indices, birth, lifetime, birth_edge, death_edge):
    """Closed-form ``PH_q`` of every row of ``indices``, one subsample per iteration."""
    for k in prange(indices.shape[0]):
        _subsample_persistence(X, indices, k, birth, lifetime, birth_edge, death_edge)


def persistence(X, indices, q, *, xp):
    X = np.asarray(X)
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    n_subsamples = indices.shape[0]
    birth = np.empty(n_subsamples, dtype=X.dtype)
    lifetime = np.empty(n_subsamples, dtype=X.dtype)
    birth_edge = np.empty((n_subsamples, 2), dtype=np.int64)
    death_edge = np.empty((n_subsamples, 2), dtype=np.int64)
    persistence_kernel(X, indices, birth, lifetime, birth_edge, death_edge)
    return birth, lifetime, birth_edge, death_edge


@_jit(parallel=True)
def edge_push_kernel(X, edges, grad_length, pushes):
    """``pushes[e] = grad_length[e] * (x_a - x_b) / |x_a - x_b|`` (0 if they coincide)."""
    for e in prange(edges.shape[0]):
        _edge_push(X, edges, grad_length, e, pushes)


@_jit(parallel=True)
def segment_sum_kernel(order, starts, targets, pushes, grad):
    """Add ``+pushes[e]`` to the first and ``-pushes[e]`` to the second end of each edge.

    ``order`` sorts the endpoint list ``targets`` (``2 e`` is edge ``e``'s first
    end, ``2 e + 1`` its second) and ``starts`` bounds its runs of equal rows, so
    each output row is owned by one iteration and summed in a fixed order.
    """
    for g in prange(starts.shape[0] - 1):
        row = targets[order[starts[g]]]
        for p in range(starts[g], starts[g + 1]):
            c = order[p]
            sign = 1.0 - 2.0 * (c & 1)
            for k in range(grad.shape[1]):
                grad[row, k] += sign * pushes[c >> 1, k]


@_jit(parallel=True)
def zero_fill_kernel(array):
    """Zero a C-contiguous array in parallel, touching its pages in order.

    ``np.zeros`` maps fresh pages lazily; the scattered writes of the VJP would then
    take their page faults in random order, which dominates for large ``N``.
    """
    flat = array.reshape(-1)
    for i in prange(flat.shape[0]):
        flat[i] = 0.0


def scatter_edges(X, edges, grad_length, *, xp):
    X = np.asarray(X)
    edges = np.ascontiguousarray(edges, dtype=np.int64)
    pushes = np.empty((edges.shape[0], X.shape[1]), dtype=np.float64)
    edge_push_kernel(X, edges, np.ascontiguousarray(grad_length, dtype=np.float64), pushes)
    targets = edges.reshape(-1)
    order = np.argsort(targets, kind="stable")
    sorted_targets = targets[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(sorted_targets)) + 1, [targets.shape[0]]])
    grad = np.empty(X.shape, dtype=np.float64)
    zero_fill_kernel(grad)
    segment_sum_kernel(order, starts, targets, pushes, grad)
    return grad.astype(X.dtype, copy=False)


@njit(inline="always", fastmath=_VECTORISE)
def _tile_moments(b_a, l_a, v_a, b_b, l_b, v_b, i0, i1, j0, j1, upper, inv_two_h2, rows, columns):
    """Accumulate one tile of pairs into the row moments of A and column moments of B.

    With ``upper`` only pairs ``j > i`` are visited (A and B are one set). The
    inner loop runs over contiguous 1-D arrays with a branch-free exp, so it
    vectorises.
    """
    for i in range(i0, i1):
        bi, li, vi = b_a[i], l_a[i], v_a[i]
        s0 = sb = sl = 0.0
        # Slices let the inner loop start at 0: Numba then knows the index is
        # non-negative and drops the wraparound branch that blocks vectorisation.
        lo = max(j0, i + 1) if upper else j0
        b_j, l_j, v_j = b_b[lo:j1], l_b[lo:j1], v_b[lo:j1]
        c0, cb, cl = columns[0, lo:j1], columns[1, lo:j1], columns[2, lo:j1]
        for j in range(b_j.shape[0]):
            db = bi - b_j[j]
            dl = li - l_j[j]
            e = exp_neg((db * db + dl * dl) * inv_two_h2)
            ej = v_j[j] * e
            ei = vi * e
            s0 += ej
            sb += ej * db
            sl += ej * dl
            c0[j] += ei
            cb[j] -= ei * db
            cl[j] -= ei * dl
        rows[0, i] += s0
        rows[1, i] += sb
        rows[2, i] += sl


@_jit(parallel=True, fastmath=_VECTORISE)
def pair_moments_kernel(b_a, l_a, v_a, b_b, l_b, v_b, same_set, inv_two_h2, row_buffers, column_buffers):
    """Moments of every point of A against B and of B against A, streamed in tiles.

    ``row_buffers``/``column_buffers`` have shape ``(n_chunks, 3, n)``: chunk ``c``
    takes tile pairs ``c, c + n_chunks, ...`` and owns its buffers, so no two
    threads write one location and the caller's fixed-order sum is deterministic.
    With ``same_set`` A and B are one set (pass the same buffers twice): only tile
    pairs on or above the diagonal are visited, each unordered pair once.
    """
    n_chunks = row_buffers.shape[0]
    tiles_a = (b_a.shape[0] + TILE - 1) // TILE
    tiles_b = (b_b.shape[0] + TILE - 1) // TILE
    for c in prange(n_chunks):
        for p in range(c, tiles_a * tiles_b, n_chunks):
            ti, tj = p // tiles_b, p % tiles_b
            if same_set and tj < ti:
                continue
            _tile_moments(
                b_a, l_a, v_a, b_b, l_b, v_b,
                ti * TILE, min((ti + 1) * TILE, b_a.shape[0]), tj * TILE, min((tj + 1) * TILE, b_b.shape[0]),
                same_set and ti == tj, inv_two_h2, row_buffers[c], column_buffers[c],
            )


def _n_chunks(n_a: int, n_b: int) -> int:
    tiles = -(-n_a // TILE) * -(-n_b // TILE)
    return max(1, min(tiles, 4 * numba.get_num_threads()))


def _alive(points):
    """Indices of points with nonzero weight, and those points as contiguous float64 arrays."""
    alive = np.flatnonzero(np.asarray(points.v) > 0)
    return alive, tuple(np.ascontiguousarray(np.asarray(a)[alive], dtype=np.float64) for a in points)


def _scatter(alive, moments, n):
    full = np.zeros((3, n))
    full[:, alive] = moments
    return Moments(*full)


def pair_moments(A, B, *, same_set, inv_two_h2, xp):
    inv_two_h2 = float(inv_two_h2)
    alive_a, (ba, la, va) = _alive(A)
    if same_set:
        buffers = np.zeros((_n_chunks(len(ba), len(ba)), 3, len(ba)))
        pair_moments_kernel(ba, la, va, ba, la, va, True, inv_two_h2, buffers, buffers)
        moments = _scatter(alive_a, buffers.sum(axis=0), A.birth.shape[0])
        return moments, moments
    alive_b, (bb, lb, vb) = _alive(B)
    n_chunks = _n_chunks(len(ba), len(bb))
    rows, columns = np.zeros((n_chunks, 3, len(ba))), np.zeros((n_chunks, 3, len(bb)))
    pair_moments_kernel(ba, la, va, bb, lb, vb, False, inv_two_h2, rows, columns)
    return _scatter(alive_a, rows.sum(axis=0), A.birth.shape[0]), _scatter(alive_b, columns.sum(axis=0), B.birth.shape[0])

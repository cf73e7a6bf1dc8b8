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

from ._fastmath import exp_neg
from ._kernel_bodies import build
from ._moments import Moments, assemble, point_set

__all__ = ["mmd_squared", "persistence", "persistence_vjp"]

# Reassociation lets LLVM vectorise the moment sums (about 3x here); it changes
# rounding only, and the order is still fixed for a given compilation.
_VECTORISE = {"reassoc", "contract", "nsz", "arcp"}
# Points per side of a square tile of kernel pairs: 3 column buffers of this many
# float64 stay in L1 while a row of the tile streams over them.
TILE = 256


_bodies = build(njit(inline="always"))
_subsample_persistence = _bodies.subsample_persistence
_edge_push = _bodies.edge_push


@njit(parallel=True, cache=True)
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


@njit(parallel=True, cache=True)
def edge_push_kernel(X, edges, grad_length, pushes):
    """``pushes[e] = grad_length[e] * (x_a - x_b) / |x_a - x_b|`` (0 if they coincide)."""
    for e in prange(edges.shape[0]):
        _edge_push(X, edges, grad_length, e, pushes)


@njit(parallel=True, cache=True)
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


@njit(parallel=True, cache=True)
def zero_fill_kernel(array):
    """Zero a C-contiguous array in parallel, touching its pages in order.

    ``np.zeros`` maps fresh pages lazily; the scattered writes of the VJP would then
    take their page faults in random order, which dominates for large ``N``.
    """
    flat = array.reshape(-1)
    for i in prange(flat.shape[0]):
        flat[i] = 0.0


def persistence_vjp(X, birth_edge, death_edge, lifetime, grad_birth, grad_lifetime, *, xp):
    X = np.asarray(X)
    grad_death_length = np.where(lifetime > 0, grad_lifetime, 0.0)
    grad_length = np.concatenate([grad_birth - grad_death_length, grad_death_length]).astype(np.float64)
    edges = np.ascontiguousarray(np.concatenate([birth_edge, death_edge]), dtype=np.int64)
    pushes = np.empty((edges.shape[0], X.shape[1]), dtype=np.float64)
    edge_push_kernel(X, edges, grad_length, pushes)
    targets = edges.reshape(-1)
    order = np.argsort(targets, kind="stable")
    sorted_targets = targets[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(sorted_targets)) + 1, [targets.shape[0]]])
    grad = np.empty(X.shape, dtype=np.float64)
    zero_fill_kernel(grad)
    segment_sum_kernel(order, starts, targets, pushes, grad)
    return grad.astype(X.dtype, copy=False)


@njit(cache=True, inline="always", fastmath=_VECTORISE)
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


@njit(parallel=True, cache=True, fastmath=_VECTORISE)
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


@njit(parallel=True, cache=True, fastmath=_VECTORISE)
def row_sum_kernel(b_rows, l_rows, b_b, l_b, v_b, inv_two_h2, out):
    """``out[i] = sum_j v_j exp(-|z_i - y_j|^2 / (2 h^2))``, one row per iteration."""
    for i in prange(b_rows.shape[0]):
        total = 0.0
        for j in range(b_b.shape[0]):
            db = b_rows[i] - b_b[j]
            dl = l_rows[i] - l_b[j]
            total += v_b[j] * exp_neg((db * db + dl * dl) * inv_two_h2)
        out[i] = total


def _n_chunks(n_a: int, n_b: int) -> int:
    tiles = -(-n_a // TILE) * -(-n_b // TILE)
    return max(1, min(tiles, 4 * numba.get_num_threads()))


def _alive(points):
    """Indices of points with nonzero weight, and those points as contiguous arrays."""
    alive = np.flatnonzero(points.v > 0)
    return alive, tuple(np.ascontiguousarray(a[alive]) for a in (points.birth, points.lifetime, points.v))


def _scatter(alive, moments, n):
    full = np.zeros((3, n))
    full[:, alive] = moments
    return Moments(*full)


def _within(points, inv_two_h2):
    alive, (b, l, v) = _alive(points)
    buffers = np.zeros((_n_chunks(len(b), len(b)), 3, len(b)))
    pair_moments_kernel(b, l, v, b, l, v, True, inv_two_h2, buffers, buffers)
    return _scatter(alive, buffers.sum(axis=0), points.birth.shape[0])


def _cross(P, Q, inv_two_h2):
    alive_p, (bp, lp, vp) = _alive(P)
    alive_q, (bq, lq, vq) = _alive(Q)
    n_chunks = _n_chunks(len(bp), len(bq))
    rows, columns = np.zeros((n_chunks, 3, len(bp))), np.zeros((n_chunks, 3, len(bq)))
    pair_moments_kernel(bp, lp, vp, bq, lq, vq, False, inv_two_h2, rows, columns)
    return _scatter(alive_p, rows.sum(axis=0), P.birth.shape[0]), _scatter(alive_q, columns.sum(axis=0), Q.birth.shape[0])


def _collapsed_row_sums(points, partner, moments, inv_two_h2):
    """Fill ``m0`` of zero-weight points: the lifetime gradient at ``l = 0`` needs it when ``p = 1``."""
    collapsed = np.flatnonzero(points.v == 0)
    _, (b, l, v) = _alive(partner)
    if collapsed.size == 0 or b.size == 0:
        return moments
    out = np.empty(collapsed.size)
    row_sum_kernel(np.ascontiguousarray(points.birth[collapsed]), np.ascontiguousarray(points.lifetime[collapsed]),
                   b, l, v, inv_two_h2, out)
    m0 = moments.m0.copy()
    m0[collapsed] = out
    return moments._replace(m0=m0)


def mmd_squared(P, Q, *, bandwidth, weight_power, unbiased, with_grad, grad_at_collapsed=True, xp):
    dtype = np.asarray(P[0]).dtype
    P, Q = (point_set(*(np.asarray(a, dtype=np.float64) for a in triple), weight_power) for triple in (P, Q))
    inv_two_h2 = 1.0 / (2.0 * bandwidth * bandwidth)
    within_p, within_q = _within(P, inv_two_h2), _within(Q, inv_two_h2)
    cross_p, cross_q = _cross(P, Q, inv_two_h2)
    if with_grad and grad_at_collapsed and weight_power == 1.0:
        within_p = _collapsed_row_sums(P, P, within_p, inv_two_h2)
        within_q = _collapsed_row_sums(Q, Q, within_q, inv_two_h2)
        cross_p = _collapsed_row_sums(P, Q, cross_p, inv_two_h2)
        cross_q = _collapsed_row_sums(Q, P, cross_q, inv_two_h2)
    value, grads = assemble(P, Q, within_p, within_q, cross_p, cross_q,
                            bandwidth=bandwidth, unbiased=unbiased, with_grad=with_grad, xp=np)
    value = np.asarray(value, dtype=dtype)
    if grads is None:
        return value, None
    return value, tuple(tuple(g.astype(dtype, copy=False) for g in pair) for pair in grads)

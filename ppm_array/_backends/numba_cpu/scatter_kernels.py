"""The VJP's scatter: every edge's push added to its two rows, in order, without races.

A small cloud is scattered into float64 buffers, one per fixed chunk of edges, summed
in order; a large cloud is split by rows, and the thread that owns a part zeroes it
and applies every edge with an end in it. The result does not depend on the number
of threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from .._kernel_bodies import build
from .threads import bounds, chunk_sum, jit_cached_with, kernel_array, run, threads_for

__all__ = ["scatter_edges", "scatter_owned_kernel", "scatter_private_kernel"]

_jit = jit_cached_with(__file__)
_distance = build(njit(inline="always")).distance

# The VJP scatters into this many private buffers (fixed, so results do not depend on the thread count)
# when the cloud has at most _PRIVATE_ENTRIES coordinates; larger clouds are split into parts by rows.
_SCATTER_CHUNKS, _PRIVATE_ENTRIES = 8, 2**16


@njit(inline="always")
def _scatter_edge(X, edges, grad_length, e, out, lo, hi):
    """Edge ``e``'s push into the rows of ``out`` that lie in ``[lo, hi)`` (``out`` row ``r - lo`` holds row ``r``)."""
    g = grad_length[e]
    if g == 0.0:  # most edges of collapsed subsamples: no need to read their points
        return
    a, b = edges[e, 0], edges[e, 1]
    take_a, take_b = lo <= a < hi, lo <= b < hi
    if not (take_a or take_b):
        return
    length = _distance(X, a, b)
    if length == 0.0:  # coincident points: the direction is defined as 0
        return
    for k in range(X.shape[1]):
        push = g * ((X[a, k] - X[b, k]) / length)  # a unit vector's component first: no overflow
        if take_a:
            out[a - lo, k] += push
        if take_b:
            out[b - lo, k] -= push


@_jit(parallel=True)
def scatter_private_kernel(X, edges, grad_length, bounds, buffers):
    """Chunk ``c`` scatters the edges ``[bounds[c], bounds[c + 1])``, in order, into its own ``buffers[c]``."""
    for chunk in prange(bounds.shape[0] - 1):
        for e in range(bounds[chunk], bounds[chunk + 1]):
            _scatter_edge(X, edges, grad_length, e, buffers[chunk], 0, X.shape[0])


@_jit(parallel=True)
def scatter_owned_kernel(X, edges, grad_length, row_bounds, grad):
    """Part ``p`` owns the rows ``[row_bounds[p], row_bounds[p + 1])``: it zeroes them (first touch, in
    order) and applies, in order, every edge with an end among them. No two parts write one row."""
    for part in prange(row_bounds.shape[0] - 1):
        lo, hi = row_bounds[part], row_bounds[part + 1]
        rows = grad[lo:hi]
        for r in range(hi - lo):
            for k in range(grad.shape[1]):
                rows[r, k] = 0.0
        for e in range(edges.shape[0]):
            _scatter_edge(X, edges, grad_length, e, rows, lo, hi)


def scatter_edges(X: Any, edges: Any, grad_length: Any, *, xp: Any) -> Any:
    X = kernel_array(X)
    edges = np.ascontiguousarray(edges, dtype=np.int64)
    grad_length = np.ascontiguousarray(grad_length, dtype=np.float64)
    n_edges, (n_points, d) = edges.shape[0], X.shape
    if X.size <= _PRIVATE_ENTRIES:  # a small cloud: float64 buffers per chunk of edges, summed in order
        n_chunks = max(1, min(_SCATTER_CHUNKS, -(-n_edges // 4096)))
        buffers = np.zeros((n_chunks, n_points, d))
        run(scatter_private_kernel, 3.0 * n_edges * d, X, edges, grad_length, bounds(n_edges, n_chunks), buffers)
        return chunk_sum(buffers).astype(X.dtype, copy=False)
    # A large cloud: parts of its rows, each zeroed and scattered into by one thread, in the caller's dtype.
    # Which thread owns which rows does not change the result: every row takes its edges in order.
    threads = threads_for(0.5 * X.size + 3.0 * n_edges * d)
    n_parts = max(1, min(threads, -(-n_points // 65536)))
    grad = np.empty(X.shape, dtype=X.dtype)
    run(scatter_owned_kernel, 0.0, X, edges, grad_length, bounds(n_points, n_parts), grad, threads=n_parts)
    return grad

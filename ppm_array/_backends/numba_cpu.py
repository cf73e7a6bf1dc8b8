"""Numba CPU backend for NumPy arrays: fused, vectorised, deterministic kernels.

The backend contract is documented in :mod:`ppm_array._backends`.

**Kernel moments** (the MMD, where the time goes). Points of weight 0 (collapsed
subsamples) are dropped first. The remaining pairs are visited in square tiles,
and each pair updates the moments of both of its points, so a within-sum visits
every unordered pair once. The tiles are scheduled so that no two threads write
the same moments (see the two schedules below): the extra memory is ``O(s)``
whatever the thread count, and every sum runs in an order fixed by the tiling
alone, so results are bitwise reproducible across thread counts. Inside a tile the
inner loop runs over contiguous 1-D arrays with a branch-free ``exp`` in the
input's precision (float32 has twice the SIMD lanes of float64); each tile's sums
are flushed into float64 moments. When every birth is 0 (``q = 0``) a
one-dimensional loop leaves out the birth terms.

**Threads.** Kernels run on Numba's thread pool (``numba.set_num_threads`` sets its
size for the calling thread). Work too small to repay a parallel region runs on
the calling thread alone, and no kernel uses more threads than the user asked for
(``PPM_ARRAY_NUM_THREADS``, ``NUMBA_NUM_THREADS``), the cgroup's CPU quota allows, or
other processes leave free (:mod:`._cores`). Numba's OpenMP workers spin briefly after
a parallel region and then sleep (:mod:`._openmp`).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .._moments import Moments
from . import _fastmath, _kernel_bodies
from ._compile import cached_njit
from ._cores import requested_threads, thread_limit
from ._openmp import short_spin
from ._fastmath import exp_neg
from ._kernel_bodies import build
from ._nufft import Explicit, Finufft, available
from . import placed_by_arrays as on_device

__all__ = ["all_finite", "feature_persistence", "fourier_transforms", "on_device", "pair_moments", "persistence", "scatter_edges"]

DROPS_COLLAPSED = True

# Reassociation lets LLVM vectorise the moment sums; it changes rounding only, and
# the order is still fixed for a given compilation.
_VECTORISE = {"reassoc", "contract", "nsz", "arcp"}
# Largest and smallest side of a tile of kernel pairs; 6 tile-long arrays stay in L1.
TILE_MAX, TILE_MIN = 512, 64
# Estimated nanoseconds of one thread's work below which a kernel runs on the calling thread alone.
SERIAL_WORK_NS = 50_000
# The VJP scatters into this many private buffers (fixed, so results do not depend on the thread count)
# when the cloud has at most _PRIVATE_ENTRIES coordinates; larger clouds are split into parts by rows.
_SCATTER_CHUNKS, _PRIVATE_ENTRIES = 8, 2**16
# The cache of every kernel below follows the files whose code is inlined into it.
_jit = cached_njit((__file__, _kernel_bodies.__file__, _fastmath.__file__))

_bodies = build(njit(inline="always"))
_subsample_persistence = _bodies.subsample_persistence
_distance = _bodies.distance


def _start_threads() -> None:
    with short_spin():  # see _openmp: Numba's workers spin briefly, then sleep
        numba.get_num_threads()  # loads the threading layer, which reads the variables once


_start_threads()


def _threads_for(work_ns: float) -> int:
    """As many threads as repay ``work_ns``: one when it is too small to share, and no more than
    :func:`._cores.thread_limit` allows (the user's choice, the cgroup's quota, or the cores other processes
    leave free)."""
    requested_threads()  # a malformed PPM_ARRAY_NUM_THREADS is refused by every call, small ones too
    threads = numba.get_num_threads()
    if threads == 1 or work_ns < SERIAL_WORK_NS:
        return 1
    limit = thread_limit()
    return threads if limit is None else min(threads, max(1, limit))


def _run(kernel, work_ns: float, *args, threads: int | None = None):
    """``kernel(*args)`` on ``threads`` (default: ``_threads_for(work_ns)``) of Numba's threads."""
    available = numba.get_num_threads()
    wanted = _threads_for(work_ns) if threads is None else threads
    if wanted == available:
        return kernel(*args)
    numba.set_num_threads(wanted)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(available)


def _bounds(total: int, n_parts: int) -> np.ndarray:
    """Where each of ``n_parts`` near-equal consecutive parts of ``range(total)`` starts, and ``total`` last
    (integer arithmetic: ``np.linspace`` costs more than a small call's kernels)."""
    return np.arange(n_parts + 1, dtype=np.int64) * total // n_parts


def _kernel_array(X) -> np.ndarray:
    """``X`` as a writeable C-contiguous array: one compiled specialisation serves every layout."""
    X = np.ascontiguousarray(X)
    return X if X.flags.writeable else X.copy()


def fourier_transforms(tol: float, *, xp):
    """FINUFFT (the ``fft`` extra) on the cores other processes leave free; the explicit sums without it."""
    if not available("finufft"):
        return Explicit(np)
    return Finufft(tol, _threads_for(float("inf")))


# --- Finite check ---------------------------------------------------------------------------------------------------

@_jit(parallel=True, fastmath={"reassoc"})
def finite_kernel(flat, sums):
    """``sums[c]`` is 0 if chunk ``c`` of ``flat`` is finite and NaN otherwise: ``x - x`` is 0 exactly for
    finite ``x`` and NaN for NaN and infinities, and NaN survives the (vectorised) sum."""
    n_chunks = sums.shape[0]
    for chunk in prange(n_chunks):
        part = flat[flat.shape[0] * chunk // n_chunks: flat.shape[0] * (chunk + 1) // n_chunks]
        total = sums[chunk]
        for i in range(part.shape[0]):
            total += part[i] - part[i]
        sums[chunk] = total


def all_finite(X, *, xp) -> bool:
    X = np.asarray(X)
    if not (X.flags.c_contiguous and X.flags.writeable):  # no copy, and no second compiled specialisation
        return bool(np.all(np.isfinite(X)))
    flat = X.reshape(-1)
    sums = np.zeros(8, dtype=X.dtype)
    _run(finite_kernel, 0.3 * flat.shape[0], flat, sums)
    return bool(sums.sum() == 0)


# --- Persistence ---------------------------------------------------------------------------------------------------

@_jit(parallel=True)
def persistence_kernel(X, indices, birth, lifetime, birth_edge, death_edge):
    """Closed-form ``PH_q`` of every row of ``indices``, one subsample per iteration."""
    for k in prange(indices.shape[0]):
        _subsample_persistence(X, indices, k, k, birth, lifetime, birth_edge, death_edge)


@_jit(parallel=True)
def feature_persistence_kernel(X, indices, bounds, birth, lifetime, birth_edge, death_edge, rows, counts):
    """Chunk ``c`` computes the subsamples ``[bounds[c], bounds[c + 1])`` and writes those with a feature, in
    order, to the rows from ``bounds[c]`` on (``rows``: which subsample each is); ``counts[c]`` of them."""
    for c in prange(bounds.shape[0] - 1):
        row = bounds[c]
        for k in range(bounds[c], bounds[c + 1]):
            _subsample_persistence(X, indices, k, row, birth, lifetime, birth_edge, death_edge)
            rows[row] = k
            row += lifetime[row] > 0.0  # a collapsed subsample's row is overwritten by the next one
        counts[c] = row - bounds[c]


def _outputs(n_subsamples: int, dtype) -> tuple:
    """Uninitialised ``birth, lifetime, birth_edge, death_edge`` for ``n_subsamples`` subsamples."""
    return (np.empty(n_subsamples, dtype=dtype), np.empty(n_subsamples, dtype=dtype),
            np.empty((n_subsamples, 2), dtype=np.int64), np.empty((n_subsamples, 2), dtype=np.int64))


def _persistence_work(X, n_subsamples: int, m: int) -> float:
    # About 4 + d nanoseconds per distance (each of the m (m - 1) computed once per end), and a
    # cache miss for each of the m rows a subsample reads once X outgrows the caches.
    misses = n_subsamples * m * (100.0 if X.nbytes > 2**20 else 0.0)
    return n_subsamples * m * (m - 1) * (4.0 + X.shape[1]) + misses


def persistence(X, indices, q, *, xp):
    X = _kernel_array(X)
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    outputs = _outputs(indices.shape[0], X.dtype)
    _run(persistence_kernel, _persistence_work(X, *indices.shape), X, indices, *outputs)
    return outputs


# Chunks per thread of the feature persistence: small enough to balance the threads, few enough to gather.
_CHUNKS_PER_THREAD = 8


def feature_persistence(X, indices, q, *, xp):
    """Only the pages of the rows it writes are touched: with few features, most of the outputs' memory is
    never faulted in (measured: a q = 1 draw of 10^6 subsamples in 12 ms instead of 28 ms)."""
    X = _kernel_array(X)
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    n_subsamples, m = indices.shape
    work = _persistence_work(X, n_subsamples, m)
    threads = _threads_for(work)
    n_chunks = max(1, min(n_subsamples, threads * _CHUNKS_PER_THREAD if threads > 1 else 1))
    bounds = _bounds(n_subsamples, n_chunks)
    outputs = _outputs(n_subsamples, X.dtype)
    rows = np.empty(n_subsamples, dtype=np.int64)
    counts = np.empty(n_chunks, dtype=np.int64)
    _run(feature_persistence_kernel, work, X, indices, bounds, *outputs, rows, counts, threads=threads)
    if counts.sum() == n_subsamples:
        return (*outputs, rows)
    return tuple(np.concatenate([a[start:start + n] for start, n in zip(bounds[:-1], counts)])
                 for a in (*outputs, rows))


# --- Scatter of edge gradients -------------------------------------------------------------------------------------

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


def scatter_edges(X, edges, grad_length, *, xp):
    X = _kernel_array(X)
    edges = np.ascontiguousarray(edges, dtype=np.int64)
    grad_length = np.ascontiguousarray(grad_length, dtype=np.float64)
    n_edges, (n_points, d) = edges.shape[0], X.shape
    if X.size <= _PRIVATE_ENTRIES:  # a small cloud: float64 buffers per chunk of edges, summed in order
        n_chunks = max(1, min(_SCATTER_CHUNKS, -(-n_edges // 4096)))
        buffers = np.zeros((n_chunks, n_points, d))
        _run(scatter_private_kernel, 3.0 * n_edges * d, X, edges, grad_length,
             _bounds(n_edges, n_chunks), buffers)
        return buffers.sum(axis=0).astype(X.dtype, copy=False)
    # A large cloud: parts of its rows, each zeroed and scattered into by one thread, in the caller's dtype.
    # Which thread owns which rows does not change the result: every row takes its edges in order.
    threads = _threads_for(0.5 * X.size + 3.0 * n_edges * d)
    n_parts = max(1, min(threads, -(-n_points // 65536)))
    grad = np.empty(X.shape, dtype=X.dtype)
    _run(scatter_owned_kernel, 0.0, X, edges, grad_length, _bounds(n_points, n_parts),
         grad, threads=n_parts)
    return grad


# --- Kernel moments ------------------------------------------------------------------------------------------------

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
        c_0, c_b, c_l = columns[0, start - j0:], columns[1, start - j0:], columns[2, start - j0:]
        for j in range(l_j.shape[0]):
            db = bi - b_j[j]
            dl = li - l_j[j]
            e = exp_neg((db * db + dl * dl) * c)
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
        c_0, c_l = columns[0, start - j0:], columns[2, start - j0:]
        for j in range(l_j.shape[0]):
            dl = li - l_j[j]
            e = exp_neg(dl * dl * c)
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
            _tile_task(ba, la, va, bb, lb, vb, number // tiles_b, number % tiles_b, tile, False, planar, c,
                       buffers_a[chunk], buffers_b[chunk])


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
                _tile_task(b, l, v, b, l, v, min(first, second), max(first, second), tile, False, planar, c,
                           moments, moments)


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


def _tile_side(n: int) -> int:
    """The largest power of two from TILE_MIN to TILE_MAX that cuts ``n`` points into at least 8 tiles.

    It depends on ``n`` only, never on the thread count, so neither do the results.
    """
    tile = TILE_MAX
    while tile > TILE_MIN and n < 8 * tile:
        tile //= 2
    return tile


def _alive(points):
    """Indices of the points with nonzero weight (None if all are), and those points as contiguous arrays."""
    alive = np.flatnonzero(np.asarray(points.v))
    if alive.shape[0] == points.v.shape[0]:
        return None, tuple(np.ascontiguousarray(a) for a in points)
    return alive, tuple(np.ascontiguousarray(np.asarray(a)[alive]) for a in points)


def _expand(alive, moments, n) -> Moments:
    """Moments of all ``n`` points from those of the alive ones (0 for the others)."""
    if alive is None:
        return Moments(moments[0], moments[1], moments[2])
    full = np.zeros((3, n))
    full[:, alive] = moments
    return Moments(full[0], full[1], full[2])


# Nanoseconds per pair on one thread, for the choice of serial or parallel execution.
_NS_PER_PAIR = 0.6


def _within(b, l, v, c, planar):
    n = l.shape[0]
    work = _NS_PER_PAIR * n * n / 2
    if n > _CHUNKED_POINTS:
        moments = np.zeros((3, n))
        _run(within_rounds_kernel, work, b, l, v, c, _tile_side(n), planar, moments)
        return moments
    buffers = np.zeros((_CHUNKS, 3, n))
    _run(within_chunks_kernel, work, b, l, v, c, _tile_side(n), planar, buffers)
    return buffers.sum(axis=0)


def _cross(ba, la, va, bb, lb, vb, c, planar):
    n_a, n_b = la.shape[0], lb.shape[0]
    work, tile = _NS_PER_PAIR * n_a * n_b, _tile_side(max(n_a, n_b))
    if max(n_a, n_b) > _CHUNKED_POINTS:
        moments_a, moments_b = np.zeros((3, n_a)), np.zeros((3, n_b))
        _run(cross_rounds_kernel, work, ba, la, va, bb, lb, vb, c, tile, planar, moments_a, moments_b)
        return moments_a, moments_b
    buffers_a, buffers_b = np.zeros((_CHUNKS, 3, n_a)), np.zeros((_CHUNKS, 3, n_b))
    _run(cross_chunks_kernel, work, ba, la, va, bb, lb, vb, c, tile, planar, buffers_a, buffers_b)
    return buffers_a.sum(axis=0), buffers_b.sum(axis=0)


def pair_moments(A, B, *, same_set, inv_two_h2, xp):
    alive_a, (ba, la, va) = _alive(A)
    c = la.dtype.type(inv_two_h2)
    if same_set:
        moments = _within(ba, la, va, c, bool(np.any(ba))) if la.shape[0] > 1 else np.zeros((3, la.shape[0]))
        expanded = _expand(alive_a, moments, A.birth.shape[0])
        return expanded, expanded
    alive_b, (bb, lb, vb) = _alive(B)
    if la.shape[0] and lb.shape[0]:
        moments_a, moments_b = _cross(ba, la, va, bb, lb, vb, c, bool(np.any(ba) or np.any(bb)))
    else:
        moments_a, moments_b = np.zeros((3, la.shape[0])), np.zeros((3, lb.shape[0]))
    return _expand(alive_a, moments_a, A.birth.shape[0]), _expand(alive_b, moments_b, B.birth.shape[0])

"""Numba-CUDA backend for CuPy arrays (and, in tests, the CUDA simulator).

The backend contract of :mod:`ppm_array._backends`, plus a ``threads_per_block``
keyword. This module is imported only when the backend is selected, and it touches
no GPU at import.

**Interop.** CuPy arrays reach the kernels as Numba views of the same memory made
without synchronising (``cuda.as_cuda_array(a, sync=False)``: by default Numba
synchronises the exporting stream for every such argument), and every kernel runs
on CuPy's current stream (``cuda.external_stream``). So the kernels are ordered with
the caller's CuPy work on that stream, as CuPy's own operations are, and the host
never waits for the device here. Everything around the kernels is Array-API code in
the caller's namespace: nothing in this module reads device data on the host.

**Kernels.** One thread computes one subsample (persistence) or one edge (VJP,
scattered with atomic adds). The MMD moments first compact the points with a weight
on the device (a prefix sum; their number stays on the device) and then visit square
tiles of them, one tile pair per block iteration: a within-sum visits each unordered
pair once and a cross-sum each pair once, and each pair updates the moments of both
its points (the partner's through shared-memory atomics, then one global atomic add
per point and tile pair). ``O(s)`` memory. The inner loop runs in the input's dtype
(float32 runs at full rate on every GPU; float64 at half to 1/64 of it), each tile
pair's sums are added to float64 moments. Atomic adds make the last bits depend on
the order in which blocks finish: results agree with the CPU to rounding, not bitwise.
"""

from __future__ import annotations

import math
import sys
from functools import lru_cache

import numba
from numba import cuda

from .._moments import Moments
from .._namespace import device as device_of
from .._namespace import is_cupy_array
from ._kernel_bodies import build
from ._nufft import Cufinufft, Explicit, available

__all__ = ["all_finite", "compile_targets", "fourier_transforms", "pair_moments", "persistence", "scatter_edges"]

DROPS_COLLAPSED = False

THREADS_PER_BLOCK = 128
# The tile-pair kernel launches at most this many blocks; each loops over its share of the tile pairs.
MAX_BLOCKS = 2**14

_bodies = build(cuda.jit(device=True))
_subsample_persistence = _bodies.subsample_persistence
_distance = _bodies.distance


# --- Launching -------------------------------------------------------------------------------------------------------

def _device_view(array):
    """A CuPy array as a Numba device array of the same memory, imported without synchronising its stream;
    anything else (the simulator's NumPy arrays, scalars) as it is."""
    return cuda.as_cuda_array(array, sync=False) if is_cupy_array(array) else array


def _stream(arrays):
    """CuPy's current stream when the arguments are CuPy arrays; else Numba's default stream (the simulator)."""
    if any(is_cupy_array(a) for a in arrays):
        return cuda.external_stream(sys.modules["cupy"].cuda.get_current_stream().ptr)
    return 0


def _launch(kernel, n_blocks: int, threads_per_block: int, *args) -> None:
    """``kernel`` on ``n_blocks`` blocks, on CuPy's current stream, its CuPy arguments imported without a sync."""
    kernel[n_blocks, threads_per_block, _stream(args)](*(_device_view(a) for a in args))


def _blocks(n: int, threads_per_block: int) -> int:
    return max(1, -(-n // threads_per_block))


# --- Persistence and the scatter of edge gradients -------------------------------------------------------------------

@cuda.jit
def persistence_kernel(X, indices, birth, lifetime, birth_edge, death_edge):
    k = cuda.grid(1)
    if k < indices.shape[0]:
        _subsample_persistence(X, indices, k, k, birth, lifetime, birth_edge, death_edge)


@cuda.jit
def scatter_kernel(X, edges, grad_length, grad):
    """``grad[a] += g (x_a - x_b) / |x_a - x_b|`` and ``grad[b] -= ...`` for each edge ``(a, b)``, atomically."""
    e = cuda.grid(1)
    if e < edges.shape[0]:
        a, b = edges[e, 0], edges[e, 1]
        length = _distance(X, a, b)
        if length > 0.0:  # coincident points: the direction is defined as 0
            for k in range(grad.shape[1]):
                push = grad_length[e] * ((X[a, k] - X[b, k]) / length)
                cuda.atomic.add(grad, (a, k), push)
                cuda.atomic.add(grad, (b, k), -push)


def all_finite(X, *, xp) -> bool:
    """One reduction on the device and one scalar read back (a host synchronisation)."""
    return bool(xp.all(xp.isfinite(X)))


def fourier_transforms(tol: float, *, xp):
    """cuFINUFFT (the ``cuda`` extra) on CuPy's current stream; the explicit sums without it."""
    return Cufinufft(tol) if available("cufinufft") else Explicit(xp)


def persistence(X, indices, q, *, xp, threads_per_block=THREADS_PER_BLOCK):
    device = device_of(X)
    n_subsamples = indices.shape[0]
    outputs = (xp.empty((n_subsamples,), dtype=X.dtype, device=device),
               xp.empty((n_subsamples,), dtype=X.dtype, device=device),
               xp.empty((n_subsamples, 2), dtype=xp.int64, device=device),
               xp.empty((n_subsamples, 2), dtype=xp.int64, device=device))
    _launch(persistence_kernel, _blocks(n_subsamples, threads_per_block), threads_per_block, X, indices, *outputs)
    return outputs


def scatter_edges(X, edges, grad_length, *, xp, threads_per_block=THREADS_PER_BLOCK):
    grad = xp.zeros(X.shape, dtype=xp.float64, device=device_of(X))
    _launch(scatter_kernel, _blocks(edges.shape[0], threads_per_block), threads_per_block,
            X, edges, xp.astype(grad_length, xp.float64), grad)
    return xp.astype(grad, X.dtype)


# --- Kernel moments ----------------------------------------------------------------------------------------------------

@cuda.jit
def compact_kernel(birth, lifetime, v, position, compact):
    """Point ``i`` with ``v != 0`` to column ``position[i] - 1`` of ``compact`` (rows: birth, lifetime, v)."""
    i = cuda.grid(1)
    if i < v.shape[0] and v[i] != 0:
        p = position[i] - 1
        compact[0, p] = birth[i]
        compact[1, p] = lifetime[i]
        compact[2, p] = v[i]


@cuda.jit
def expand_kernel(v, position, compact_moments, moments):
    """The moments of every point from those of the compacted points (0 where ``v == 0``)."""
    i = cuda.grid(1)
    if i < v.shape[0]:
        for r in range(3):
            moments[r, i] = compact_moments[r, position[i] - 1] if v[i] != 0 else 0.0


@lru_cache(maxsize=None)
def _tile_pair_kernel(dtype, tile: int):
    """The moment kernel for compute ``dtype`` (a Numba float type) and ``tile`` threads per block (= points
    per tile): shared arrays need both at compile time."""

    @cuda.jit(fastmath=dtype == numba.float32)
    def kernel(a, b, counts, same_set, inv_two_h2, out_a, out_b):
        """Moments of the first ``counts[0]`` points of ``a`` against the first ``counts[1]`` of ``b``
        (columns: birth, lifetime, v), added to ``out_a`` and ``out_b``; with ``same_set`` (``a is b``) the
        pairs ``j = i`` are left out and every moment goes to ``out_a`` (``out_b`` is not touched: an array
        passed twice would be two copies where Numba transfers host arrays).

        Tile pairs ``(I, J)``: with ``same_set`` the unordered ones, ``J = (I + d) mod T`` for
        ``d = 0 .. T // 2`` (the pairs at ``d = T / 2`` once); else every ``(I, J)``. In a pair, thread ``t``
        owns row ``I * tile + t`` and at step ``k`` meets column ``(t + k) mod tile`` of the tile in shared
        memory, so the threads of a step meet distinct columns.
        """
        t = cuda.threadIdx.x
        tile_b = cuda.shared.array(tile, dtype)
        tile_l = cuda.shared.array(tile, dtype)
        tile_v = cuda.shared.array(tile, dtype)
        column_0 = cuda.shared.array(tile, dtype)
        column_b = cuda.shared.array(tile, dtype)
        column_l = cuda.shared.array(tile, dtype)
        zero = dtype(0.0)
        inv = dtype(inv_two_h2[0])
        n_a, n_b = counts[0], counts[1]
        tiles_a, tiles_b = (n_a + tile - 1) // tile, (n_b + tile - 1) // tile
        n_pairs = tiles_a * (tiles_a // 2 + 1) if same_set else tiles_a * tiles_b
        for pair in range(cuda.blockIdx.x, n_pairs, cuda.gridDim.x):
            if same_set:
                offset, tile_i = pair // tiles_a, pair % tiles_a
                tile_j = (tile_i + offset) % tiles_a
                if 2 * offset == tiles_a and tile_i >= offset:  # the other half of the pairs at d = T / 2
                    continue  # the same for the whole block: no thread skips a barrier
            else:
                offset, tile_i, tile_j = 1, pair // tiles_b, pair % tiles_b
            diagonal = same_set and offset == 0
            j = tile_j * tile + t
            inside_j = j < n_b
            tile_b[t] = b[0, j] if inside_j else zero
            tile_l[t] = b[1, j] if inside_j else zero
            tile_v[t] = b[2, j] if inside_j else zero
            column_0[t] = zero
            column_b[t] = zero
            column_l[t] = zero
            i = tile_i * tile + t
            inside_i = i < n_a
            bi = a[0, i] if inside_i else zero
            li = a[1, i] if inside_i else zero
            vi = a[2, i] if inside_i else zero
            cuda.syncthreads()
            row_0 = row_b = row_l = zero
            # On the diagonal tile each unordered pair once: steps 1 .. tile / 2, the last one by half the threads.
            for step in range(1 if diagonal else 0, tile // 2 + 1 if diagonal else tile):
                if diagonal and 2 * step == tile and t >= step:
                    continue
                c = (t + step) % tile
                db = bi - tile_b[c]
                dl = li - tile_l[c]
                e = math.exp(-(db * db + dl * dl) * inv)
                ej, ei = tile_v[c] * e, vi * e
                row_0 += ej
                row_b += ej * db
                row_l += ej * dl
                cuda.atomic.add(column_0, c, ei)
                cuda.atomic.add(column_b, c, -ei * db)
                cuda.atomic.add(column_l, c, -ei * dl)
            cuda.syncthreads()
            if inside_i:
                cuda.atomic.add(out_a, (0, i), numba.float64(row_0))
                cuda.atomic.add(out_a, (1, i), numba.float64(row_b))
                cuda.atomic.add(out_a, (2, i), numba.float64(row_l))
            if inside_j and same_set:
                cuda.atomic.add(out_a, (0, j), numba.float64(column_0[t]))
                cuda.atomic.add(out_a, (1, j), numba.float64(column_b[t]))
                cuda.atomic.add(out_a, (2, j), numba.float64(column_l[t]))
            elif inside_j:
                cuda.atomic.add(out_b, (0, j), numba.float64(column_0[t]))
                cuda.atomic.add(out_b, (1, j), numba.float64(column_b[t]))
                cuda.atomic.add(out_b, (2, j), numba.float64(column_l[t]))
            cuda.syncthreads()  # before the next pair overwrites the tile and the column sums

    return kernel


def _compact(S, dtype, xp, threads_per_block):
    """The points of ``S`` with ``v != 0`` as the first columns of a ``(3, n)`` array, their positions
    (inclusive prefix sum of ``v != 0``) and their number as a 1-element device array."""
    n = S.v.shape[0]
    position = xp.cumulative_sum(xp.astype(S.v != 0, xp.int64))
    compact = xp.zeros((3, n), dtype=dtype, device=device_of(S.v))
    _launch(compact_kernel, _blocks(n, threads_per_block), threads_per_block,
            *(xp.astype(a, dtype) for a in S), position, compact)
    return compact, position, position[n - 1:]


def _expand(S, position, compact_moments, xp, threads_per_block) -> Moments:
    moments = xp.empty((3, S.v.shape[0]), dtype=xp.float64, device=device_of(S.v))
    _launch(expand_kernel, _blocks(S.v.shape[0], threads_per_block), threads_per_block,
            S.v, position, compact_moments, moments)
    return Moments(moments[0, :], moments[1, :], moments[2, :])


def pair_moments(A, B, *, same_set, inv_two_h2, xp, threads_per_block=THREADS_PER_BLOCK):
    """The tile-pair kernel on the points with a weight, compacted on the device; computed in the points'
    dtype, moments in float64."""
    n_a, n_b = A.v.shape[0], B.v.shape[0]
    if n_a == 0 or n_b == 0:
        zeros = [Moments(*(xp.zeros((n,), dtype=xp.float64, device=device_of(S.v)) for _ in range(3)))
                 for n, S in ((n_a, A), (n_b, B))]
        return (zeros[0], zeros[0]) if same_set else tuple(zeros)
    dtype = xp.float32 if A.v.dtype == xp.float32 and B.v.dtype == xp.float32 else xp.float64
    compact_a, position_a, count_a = _compact(A, dtype, xp, threads_per_block)
    compact_b, position_b, count_b = (compact_a, position_a, count_a) if same_set else _compact(
        B, dtype, xp, threads_per_block)
    out_a = xp.zeros((3, n_a), dtype=xp.float64, device=device_of(A.v))
    out_b = xp.zeros((3, 1 if same_set else n_b), dtype=xp.float64, device=device_of(B.v))
    tiles_a, tiles_b = _blocks(n_a, threads_per_block), _blocks(n_b, threads_per_block)
    most_pairs = tiles_a * (tiles_a // 2 + 1) if same_set else tiles_a * tiles_b  # with every point weighted
    kernel = _tile_pair_kernel(numba.float32 if dtype == xp.float32 else numba.float64, threads_per_block)
    _launch(kernel, min(most_pairs, MAX_BLOCKS), threads_per_block, compact_a, compact_b,
            xp.concat([count_a, count_b]), same_set, xp.reshape(xp.astype(inv_two_h2, dtype), (1,)), out_a, out_b)
    moments_a = _expand(A, position_a, out_a, xp, threads_per_block)
    if same_set:
        return moments_a, moments_a
    return moments_a, _expand(B, position_b, out_b, xp, threads_per_block)


# --- Compile targets ---------------------------------------------------------------------------------------------------
# Every kernel of this module with the argument types it is launched with, for tests/test_cuda_compile.py (NVVM and
# ptxas for several GPU architectures, no GPU needed) and benchmarks/cuda_resources.py. A kernel added above must be
# added here: a test checks that every kernel that is an attribute of this module is listed.

def compile_targets(dtype) -> list[tuple[str, object, tuple]]:
    """``(name, kernel, argument_types)`` of every kernel, for compute ``dtype`` (``numba.float32`` or
    ``numba.float64``: the element type of the float arrays); ``argument_types`` are Numba types, those of the
    C-contiguous arrays (and the flag) the launchers above pass."""
    def array(element, ndim):
        return numba.types.Array(element, ndim, "C")

    float_1d, float_2d = array(dtype, 1), array(dtype, 2)
    int64_1d, int64_2d = array(numba.int64, 1), array(numba.int64, 2)
    float64_1d, float64_2d = array(numba.float64, 1), array(numba.float64, 2)
    return [
        ("persistence_kernel", persistence_kernel, (float_2d, int64_2d, float_1d, float_1d, int64_2d, int64_2d)),
        ("scatter_kernel", scatter_kernel, (float_2d, int64_2d, float64_1d, float64_2d)),
        ("compact_kernel", compact_kernel, (float_1d, float_1d, float_1d, int64_1d, float_2d)),
        ("expand_kernel", expand_kernel, (float_1d, int64_1d, float64_2d, float64_2d)),
        ("tile_pair_kernel", _tile_pair_kernel(dtype, THREADS_PER_BLOCK),
         (float_2d, float_2d, int64_1d, numba.boolean, float_1d, float64_2d, float64_2d)),
    ]

"""Numba-CUDA backend for CuPy arrays (and, in tests, the CUDA simulator).

The backend contract of :mod:`ppm_array._backends`, plus a ``threads_per_block``
keyword and :func:`on_device`. This module is imported only when the backend is
selected, and it touches no GPU at import.

**Interop.** CuPy arrays reach the kernels as Numba views of the same memory made
without synchronising (``cuda.as_cuda_array(a, sync=False)``: by default Numba
synchronises the exporting stream for every such argument), and every kernel runs
on CuPy's current stream (``cuda.external_stream``), on the device that holds the
data (:func:`on_device`). So the kernels are ordered with the caller's CuPy work on
that stream, as CuPy's own operations are, and the host never waits for the device
here. Everything around the kernels is Array-API code in the caller's namespace:
nothing in this module reads device data on the host. A whole PPM-Reg call is
captured once per shape as a CUDA graph and replayed
(:mod:`ppm_array._regularizer.cuda_graphs`), so the launch costs here are paid once.

**Kernels.** One thread computes one subsample (persistence) or one edge (VJP,
scattered with atomic adds). The MMD moments first compact the points with a weight
on the device (a prefix sum; their number stays on the device), scaled so that the
kernel is ``exp2(-|z_i - z_j|^2)``, and then each thread owns ``ROWS_PER_THREAD``
rows and meets every column of its block's share of the column tiles, staged in
shared memory: each ordered pair once, no atomic operation and no data-dependent
branch. A row's sums over one tile run in the compute dtype (float32 for float32
data, at the full rate of the exponential unit), and are added to float64 moments
after each tile. Blocks split the columns into ``chunks`` when there are too few
rows to fill the GPU; the chunks' partial moments are summed in a fixed order, so
results are the same at every run.
"""

from __future__ import annotations

import contextlib
import math
import sys
import warnings
from contextlib import AbstractContextManager
from functools import cache
from typing import Any

import numba
from numba import cuda
from numba.cuda import libdevice

from .._boundary.namespace import device as device_of
from .._boundary.namespace import is_cupy_array
from ._kernel_bodies import build
from ._nufft import Cufinufft, Explicit, available
from .contract import KernelPoints, Moments, Transforms

__all__ = [
    "all_finite",
    "fourier_transforms",
    "on_device",
    "pair_moments",
    "persistence",
    "scatter_edges",
]

THREADS_PER_BLOCK = 128
# Rows of the moment kernel per thread: each column read from shared memory serves this many pairs.
ROWS_PER_THREAD = 4
# The moment kernel splits the columns until its grid has about this many blocks per multiprocessor.
BLOCKS_PER_MULTIPROCESSOR = 8
LOG2_E = math.log2(math.e)

_bodies = build(cuda.jit(device=True))
_subsample_persistence = _bodies.subsample_persistence
_distance = _bodies.distance


# --- Launching -------------------------------------------------------------------------------------------------------


def on_device(array: Any) -> AbstractContextManager[Any]:
    """A context in which CuPy allocates and launches on the device of ``array`` (a no-op for other arrays)."""
    return array.device if is_cupy_array(array) else contextlib.nullcontext()


def _device_view(array):
    """A CuPy array as a Numba device array of the same memory, imported without synchronising its stream;
    anything else (the simulator's NumPy arrays, scalars) as it is."""
    return cuda.as_cuda_array(array, sync=False) if is_cupy_array(array) else array


def _stream(arrays):
    """CuPy's current stream when the arguments are CuPy arrays; else Numba's default stream (the simulator)."""
    if any(is_cupy_array(a) for a in arrays):
        return cuda.external_stream(sys.modules["cupy"].cuda.get_current_stream().ptr)
    return 0


def _launch(kernel, grid, threads_per_block: int, *args) -> None:
    """``kernel`` on ``grid`` blocks, on CuPy's current stream, its CuPy arguments imported without a sync.

    Small problems make small grids, which Numba warns about at every launch: the
    grid is what the problem has, so the warning is silenced here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Grid size .* under-utilization")
        kernel[grid, threads_per_block, _stream(args)](*(_device_view(a) for a in args))


def _blocks(n: int, per_block: int) -> int:
    return max(1, -(-n // per_block))


# The CUDA simulator's device has no multiprocessor count; as 2, small tests split the columns into chunks.
SIMULATED_MULTIPROCESSORS = 2


@cache
def _multiprocessors() -> int:
    """The current device's multiprocessor count."""
    return int(getattr(cuda.get_current_device(), "MULTIPROCESSOR_COUNT", SIMULATED_MULTIPROCESSORS))


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


def all_finite(X: Any, *, xp: Any) -> bool:
    """One reduction on the device and one scalar read back (a host synchronisation)."""
    return bool(xp.all(xp.isfinite(X)))


def fourier_transforms(tol: float, *, xp: Any) -> Transforms:
    """cuFINUFFT (the ``cuda`` extra) on CuPy's current stream; the explicit sums without it."""
    return Cufinufft(tol) if available("cufinufft") else Explicit(xp)


def persistence(
    X: Any, indices: Any, q: int, *, xp: Any, threads_per_block: int = THREADS_PER_BLOCK
) -> tuple[Any, Any, Any, Any]:
    device = device_of(X)
    n_subsamples = indices.shape[0]
    outputs = (
        xp.empty((n_subsamples,), dtype=X.dtype, device=device),
        xp.empty((n_subsamples,), dtype=X.dtype, device=device),
        xp.empty((n_subsamples, 2), dtype=xp.int64, device=device),
        xp.empty((n_subsamples, 2), dtype=xp.int64, device=device),
    )
    _launch(persistence_kernel, _blocks(n_subsamples, threads_per_block), threads_per_block, X, indices, *outputs)
    return outputs


def scatter_edges(X: Any, edges: Any, grad_length: Any, *, xp: Any, threads_per_block: int = THREADS_PER_BLOCK) -> Any:
    grad = xp.zeros(X.shape, dtype=xp.float64, device=device_of(X))
    _launch(
        scatter_kernel,
        _blocks(edges.shape[0], threads_per_block),
        threads_per_block,
        X,
        edges,
        xp.astype(grad_length, xp.float64),
        grad,
    )
    return xp.astype(grad, X.dtype)


# --- Kernel moments ---------------------------------------------------------------------------------------------------


@cuda.jit
def compact_kernel(birth, lifetime, v, position, unit, compact):
    """Point ``i`` with ``v != 0`` to column ``position[i] - 1`` of ``compact`` (rows: birth, lifetime, v), its
    coordinates multiplied by ``unit[0]``."""
    i = cuda.grid(1)
    if i < v.shape[0] and v[i] != 0:
        p = position[i] - 1
        compact[0, p] = birth[i] * unit[0]
        compact[1, p] = lifetime[i] * unit[0]
        compact[2, p] = v[i]


@cuda.jit
def expand_kernel(v, position, partial, unit, moments):
    """The moments of every point from the chunks' partial moments of the compacted points (0 where
    ``v == 0``); ``mb`` and ``ml`` divided by ``unit[0]``, back to the points' units."""
    i = cuda.grid(1)
    if i < v.shape[0]:
        p = position[i] - 1
        for r in range(3):
            total = 0.0
            if v[i] != 0:
                for chunk in range(partial.shape[0]):
                    total += partial[chunk, r, p]
            moments[r, i] = total if r == 0 else total / unit[0]


def _exp2(dtype):
    """``2**x`` in ``dtype``: the hardware's exponential (``ex2.approx.ftz`` under fastmath) for float32, the
    correctly rounded libdevice one for float64; the simulator, which runs kernels as Python, has neither."""
    if numba.config.ENABLE_CUDASIM:
        return lambda x: 2.0**x
    return libdevice.exp2f if dtype == numba.float32 else libdevice.exp2


@cache
def _moment_kernel(dtype, threads: int, rows: int):
    """The moment kernel for compute ``dtype`` (a Numba float type), ``threads`` per block and ``rows`` per
    thread: the shared tile, the registers and the exponential depend on them at compile time."""
    exp2 = _exp2(dtype)

    @cuda.jit(fastmath=dtype == numba.float32)
    def kernel(a, b, counts, same_set, partial):
        """Moments of the first ``counts[0]`` columns of ``a`` against the first ``counts[1]`` of ``b``
        (rows of each: scaled birth, scaled lifetime, v), with ``exp2(-|z_i - z_j|^2)`` as the kernel, into
        ``partial[chunk]``: block ``(x, chunk)`` owns ``rows * threads`` points of ``a`` and meets the column
        tiles ``chunk, chunk + chunks, ...`` of ``b``. With ``same_set`` (``a is b``) the pair ``j = i``
        is left out: its only term, ``v_i`` in ``m0``, is subtracted by the chunk that met it.

        A tile's columns lie in shared memory as ``(birth, lifetime, v)`` side by side, so that the three
        reads of a column share one address (every thread reads the same column: a broadcast).
        """
        t = cuda.threadIdx.x
        tile = cuda.shared.array((threads, 3), dtype)
        n_a, n_b = counts[0], counts[1]
        first = cuda.blockIdx.x * (rows * threads)
        if first >= n_a:  # the same for the whole block: no thread skips a barrier
            return
        chunk, chunks = cuda.blockIdx.y, cuda.gridDim.y
        zero = dtype(0.0)
        point_b = cuda.local.array(rows, dtype)
        point_l = cuda.local.array(rows, dtype)
        moments = cuda.local.array((rows, 3), numba.float64)
        tile_sums = cuda.local.array((rows, 3), dtype)
        for r in range(rows):
            i = first + r * threads + t
            point_b[r] = a[0, i] if i < n_a else zero
            point_l[r] = a[1, i] if i < n_a else zero
            for m in range(3):
                moments[r, m] = 0.0
        for column_tile in range(chunk, (n_b + threads - 1) // threads, chunks):
            j = column_tile * threads + t
            inside = j < n_b
            for k in range(3):
                tile[t, k] = b[k, j] if inside else zero
            cuda.syncthreads()
            for r in range(rows):
                for m in range(3):
                    tile_sums[r, m] = zero
            for c in range(threads):
                u = numba.uint32(c)  # an unsigned index: no wraparound arithmetic for negative indices
                bj, lj, vj = tile[u, 0], tile[u, 1], tile[u, 2]
                for r in range(rows):
                    db = point_b[r] - bj
                    dl = point_l[r] - lj
                    e = vj * exp2(-(db * db + dl * dl))
                    tile_sums[r, 0] += e
                    tile_sums[r, 1] += e * db
                    tile_sums[r, 2] += e * dl
            cuda.syncthreads()  # before the next tile overwrites this one
            for r in range(rows):
                for m in range(3):
                    moments[r, m] += numba.float64(tile_sums[r, m])
        for r in range(rows):
            i = first + r * threads + t
            if i < n_a:
                if same_set and (i // threads) % chunks == chunk:
                    moments[r, 0] -= numba.float64(a[2, i])
                for m in range(3):
                    partial[chunk, m, i] = moments[r, m]

    return kernel


def _compact(S, unit, dtype, xp, threads_per_block):
    """The points of ``S`` with ``v != 0`` as the first columns of a ``(3, n)`` array in ``dtype``, their
    coordinates times ``unit`` (a 1-element array), their positions (inclusive prefix sum of ``v != 0``) and
    their number as a 1-element device array."""
    n = S.v.shape[0]
    position = xp.cumulative_sum(xp.astype(S.v != 0, xp.int64))
    compact = xp.zeros((3, n), dtype=dtype, device=device_of(S.v))
    _launch(
        compact_kernel,
        _blocks(n, threads_per_block),
        threads_per_block,
        S.birth,
        S.lifetime,
        S.v,
        position,
        xp.astype(unit, S.v.dtype),
        compact,
    )
    return compact, position, position[n - 1 :]


def _chunks(n_a: int, n_b: int, threads_per_block: int) -> int:
    """How many chunks the columns are split into: enough blocks to fill the GPU, at most one tile each."""
    row_blocks = _blocks(n_a, ROWS_PER_THREAD * threads_per_block)
    wanted = _blocks(BLOCKS_PER_MULTIPROCESSOR * _multiprocessors(), row_blocks)
    return min(wanted, _blocks(n_b, threads_per_block))


def _moments(compact_a, count_a, compact_b, count_b, same_set: bool, dtype, xp, threads_per_block):
    """The chunks' partial moments ``(chunks, 3, n_a)`` (float64) of the compacted ``a`` against ``b``."""
    n_a, n_b = compact_a.shape[1], compact_b.shape[1]
    chunks = _chunks(n_a, n_b, threads_per_block)
    partial = xp.empty((chunks, 3, n_a), dtype=xp.float64, device=device_of(compact_a))
    kernel = _moment_kernel(numba.float32 if dtype == xp.float32 else numba.float64, threads_per_block, ROWS_PER_THREAD)
    grid = (_blocks(n_a, ROWS_PER_THREAD * threads_per_block), chunks)
    _launch(kernel, grid, threads_per_block, compact_a, compact_b, xp.concat([count_a, count_b]), same_set, partial)
    return partial


def _expand(S, position, partial, unit, xp, threads_per_block) -> Moments:
    moments = xp.empty((3, S.v.shape[0]), dtype=xp.float64, device=device_of(S.v))
    _launch(
        expand_kernel,
        _blocks(S.v.shape[0], threads_per_block),
        threads_per_block,
        S.v,
        position,
        partial,
        xp.astype(unit, xp.float64),
        moments,
    )
    return Moments(moments[0, :], moments[1, :], moments[2, :])


def pair_moments(
    A: KernelPoints,
    B: KernelPoints,
    *,
    same_set: bool,
    inv_two_h2: Any,
    xp: Any,
    threads_per_block: int = THREADS_PER_BLOCK,
) -> tuple[Moments, Moments]:
    """The moment kernel on the points with a weight, compacted on the device; computed in the points'
    dtype, moments in float64. Each direction of a pair of sets is its own launch."""
    n_a, n_b = A.v.shape[0], B.v.shape[0]
    if n_a == 0 or n_b == 0:
        zeros = [
            Moments(*(xp.zeros((n,), dtype=xp.float64, device=device_of(S.v)) for _ in range(3)))
            for n, S in ((n_a, A), (n_b, B))
        ]
        return (zeros[0], zeros[0]) if same_set else (zeros[0], zeros[1])
    dtype = xp.float32 if A.v.dtype == xp.float32 and B.v.dtype == xp.float32 else xp.float64
    # exp(-|z|^2 / (2 h^2)) = exp2(-|u z|^2) with u = sqrt(log2(e) / (2 h^2)).
    unit = xp.reshape(xp.sqrt(xp.astype(inv_two_h2, xp.float64) * LOG2_E), (1,))
    compact_a, position_a, count_a = _compact(A, unit, dtype, xp, threads_per_block)
    if same_set:
        partial = _moments(compact_a, count_a, compact_a, count_a, True, dtype, xp, threads_per_block)
        moments_a = _expand(A, position_a, partial, unit, xp, threads_per_block)
        return moments_a, moments_a
    compact_b, position_b, count_b = _compact(B, unit, dtype, xp, threads_per_block)
    partial_a = _moments(compact_a, count_a, compact_b, count_b, False, dtype, xp, threads_per_block)
    partial_b = _moments(compact_b, count_b, compact_a, count_a, False, dtype, xp, threads_per_block)
    return (
        _expand(A, position_a, partial_a, unit, xp, threads_per_block),
        _expand(B, position_b, partial_b, unit, xp, threads_per_block),
    )

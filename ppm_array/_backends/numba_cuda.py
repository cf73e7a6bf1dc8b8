"""Numba-CUDA backend for CuPy arrays (and, in tests, the CUDA simulator).

The backend contract of :mod:`ppm_array._backends`, plus a ``threads_per_block``
keyword. Kernels take CuPy arrays zero-copy through
``__cuda_array_interface__``; everything around them is Array-API code in the
caller's namespace ``xp``, so the host never reads device data. This module is
imported only when the backend is selected, and it touches no GPU at import.

One thread computes one subsample (persistence), one edge (VJP, scattered with
atomic adds) or one persistence point's kernel moments against a whole set
(MMD, with the partner set streamed through shared memory in tiles): ``O(s)``
memory, no ``s x s`` matrix. Kernels compute in float64.
"""

from __future__ import annotations

import math

from numba import cuda, float64

from .._moments import Moments
from .._namespace import device as device_of
from ._kernel_bodies import build
from ._nufft import Cufinufft, Explicit, available

__all__ = ["all_finite", "fourier_transforms", "pair_moments", "persistence", "scatter_edges"]

DROPS_COLLAPSED = False

THREADS_PER_BLOCK = 128
# Partner points held in shared memory per tile (3 float64 arrays of this size).
SHARED_TILE = 256

_bodies = build(cuda.jit(device=True))
_subsample_persistence = _bodies.subsample_persistence
_distance = _bodies.distance


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


@cuda.jit
def moments_kernel(b_a, l_a, b_b, l_b, v_b, exclude_self, inv_two_h2, out):
    """``out[:, i] = (m0, mb, ml)`` of point ``i`` of A against all of B (see ``_moments``).

    ``inv_two_h2`` is a one-element device array, so the host never reads it.

    B is loaded tile by tile into shared memory by the whole block; points of B
    with zero weight are skipped. ``exclude_self`` drops ``j = i`` (A is B).
    """
    i = cuda.grid(1)
    tx = cuda.threadIdx.x
    tile_b = cuda.shared.array(SHARED_TILE, dtype=float64)
    tile_l = cuda.shared.array(SHARED_TILE, dtype=float64)
    tile_v = cuda.shared.array(SHARED_TILE, dtype=float64)
    active = i < b_a.shape[0]
    bi = b_a[i] if active else 0.0
    li = l_a[i] if active else 0.0
    s0 = sb = sl = 0.0
    n_b = b_b.shape[0]
    for start in range(0, n_b, SHARED_TILE):
        for t in range(tx, SHARED_TILE, cuda.blockDim.x):
            j = start + t
            inside = j < n_b
            tile_b[t] = b_b[j] if inside else 0.0
            tile_l[t] = l_b[j] if inside else 0.0
            tile_v[t] = v_b[j] if inside else 0.0
        cuda.syncthreads()
        if active:
            for t in range(min(SHARED_TILE, n_b - start)):
                vj = tile_v[t]
                if vj != 0.0 and not (exclude_self and start + t == i):
                    db = bi - tile_b[t]
                    dl = li - tile_l[t]
                    e = vj * math.exp(-(db * db + dl * dl) * inv_two_h2[0])
                    s0 += e
                    sb += e * db
                    sl += e * dl
        cuda.syncthreads()
    if active:
        out[0, i] = s0
        out[1, i] = sb
        out[2, i] = sl


def fourier_transforms(tol: float, *, xp):
    """cuFINUFFT (the ``cuda`` extra) on CuPy's current stream; the explicit sums without it."""
    return Cufinufft(tol) if available("cufinufft") else Explicit(xp)


def all_finite(X, *, xp) -> bool:
    """One reduction on the device and one scalar read back (a host synchronisation)."""
    return bool(xp.all(xp.isfinite(X)))


def _blocks(n: int, threads_per_block: int) -> int:
    return max(1, -(-n // threads_per_block))


def persistence(X, indices, q, *, xp, threads_per_block=THREADS_PER_BLOCK):
    device = device_of(X)
    n_subsamples = indices.shape[0]
    birth = xp.empty((n_subsamples,), dtype=X.dtype, device=device)
    lifetime = xp.empty((n_subsamples,), dtype=X.dtype, device=device)
    birth_edge = xp.empty((n_subsamples, 2), dtype=xp.int64, device=device)
    death_edge = xp.empty((n_subsamples, 2), dtype=xp.int64, device=device)
    persistence_kernel[_blocks(n_subsamples, threads_per_block), threads_per_block](
        X, indices, birth, lifetime, birth_edge, death_edge)
    return birth, lifetime, birth_edge, death_edge


def scatter_edges(X, edges, grad_length, *, xp, threads_per_block=THREADS_PER_BLOCK):
    grad = xp.zeros(X.shape, dtype=xp.float64, device=device_of(X))
    scatter_kernel[_blocks(edges.shape[0], threads_per_block), threads_per_block](
        X, edges, xp.astype(grad_length, xp.float64), grad)
    return xp.astype(grad, X.dtype)


def _moments(A, B, exclude_self, inv_two_h2, xp, threads_per_block):
    n = A.birth.shape[0]
    out = xp.empty((3, n), dtype=xp.float64, device=device_of(A.birth))
    moments_kernel[_blocks(n, threads_per_block), threads_per_block](
        A.birth, A.lifetime, B.birth, B.lifetime, B.v, exclude_self, inv_two_h2, out)
    return Moments(out[0, :], out[1, :], out[2, :])


def pair_moments(A, B, *, same_set, inv_two_h2, xp, threads_per_block=THREADS_PER_BLOCK):
    A, B = (type(S)(*(xp.astype(a, xp.float64) for a in S)) for S in (A, B))
    inv_two_h2 = xp.reshape(xp.astype(inv_two_h2, xp.float64), (1,))
    moments_a = _moments(A, B, same_set, inv_two_h2, xp, threads_per_block)
    if same_set:
        return moments_a, moments_a
    return moments_a, _moments(B, A, False, inv_two_h2, xp, threads_per_block)

"""JAX-native kernels: the parts of the backend contract that :func:`ppm_array._regularizer.assembly.regularizer` calls,
written in ``jax.numpy`` and ``jax.lax`` so that XLA compiles, fuses and places them (CPU, GPU or TPU).

Used by :mod:`ppm_array._adapters.jax_native` (the default path of :mod:`ppm_array.jax`), never selected by
:func:`~ppm_array._backends.select_backend`. Every shape is fixed by the input shapes, so the
kernels trace under ``jit`` and batch under ``vmap``; nothing is differentiated through them
(:mod:`ppm_array._adapters.jax_native` wires the explicit gradients with ``jax.custom_vjp``).

- ``persistence`` is the Array-API reference (:mod:`.array_api`): gathers, a ``(s, m, m)``
  distance table and arg-max/arg-min reductions (ties to the lowest index).
- ``scatter_edges`` adds the edge gradients with ``.at[].add`` (XLA's scatter-add, which sums
  repeated rows; on the CPU in a fixed order).
- ``fourier_transforms`` are jax-finufft's (where it is installed and ``jax_enable_x64`` is on: the
  Fourier method computes in float64); the Fourier method runs on a grid of ``FOURIER_MODES`` modes
  per axis, and ``branch`` (``lax.cond``, item by item under ``vmap``) takes the direct sums where the
  data need more (:mod:`ppm_array._mmd.fourier_fixed`).
- ``pair_moments`` streams the kernel sums in ``tile x tile`` blocks: memory ``O(s + tile^2)``,
  never ``s x s``. Points without a feature (lifetime 0, weight 0) are sorted behind the others
  and the loops stop at the last tile that holds a point with a feature, so they cost nothing
  (exact: such a partner has weight 0, and PPM-Reg discards such a point's own moments).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._nufft import Explicit, JaxFinufft, available
from .array_api import _unit_vector, all_finite, persistence
from .contract import KernelPoints, Moments, Transforms
from .contract import placed_by_arrays as on_device

__all__ = [
    "FOURIER_MODES",
    "TILE",
    "all_finite",
    "branch",
    "fourier_transforms",
    "on_device",
    "pair_moments",
    "persistence",
    "scatter_edges",
]

# Points per side of one block of kernel entries: 512 x 512 pairs, a few MiB of temporaries.
TILE = 512

# Modes per axis of the Fourier method's grid: enough for points spread over up to about 46 bandwidths at the
# default tol (docs/adapters.md); at most a grid of 128 x 128 complex128 coefficients, 256 KiB.
FOURIER_MODES = 128


def fourier_transforms(tol: float, *, xp: Any) -> Transforms:
    """jax-finufft where it is installed and loads and float64 is enabled; else :class:`Explicit`, which
    tells the caller there is no NUFFT here (``method="auto"`` then takes the direct sums, and the
    adapter refuses ``"fft"``)."""
    if jax.config.read("jax_enable_x64") and available("jax_finufft"):
        return JaxFinufft(tol)
    return Explicit(xp)


def branch(take_first: Any, first: Any, second: Any, operands: Any) -> Any:
    """``lax.cond`` of the contract's ``branch``; under ``vmap`` a loop over the items (a batched ``lax.cond``
    would run both sides), which also keeps jax-finufft's transforms out of its own batching rule."""

    @jax.custom_batching.sequential_vmap
    def chosen(take_first: Any, operands: Any) -> Any:
        return lax.cond(take_first, first, second, operands)

    return chosen(take_first, operands)


def scatter_edges(X: Any, edges: Any, grad_length: Any, *, xp: Any) -> Any:
    start, end = X[edges[:, 0]], X[edges[:, 1]]
    push = grad_length.astype(X.dtype)[:, None] * _unit_vector(start, end, xp)
    return jnp.zeros_like(X).at[edges[:, 0]].add(push).at[edges[:, 1]].add(-push)


def pair_moments(
    A: KernelPoints, B: KernelPoints, *, same_set: bool, inv_two_h2: Any, xp: Any, tile: int = TILE
) -> tuple[Moments, Moments]:
    """The moments of ``A`` against ``B`` and of ``B`` against ``A`` (the same with ``same_set``), by tiles."""
    rows = _row_moments(A, B, same_set, inv_two_h2, tile)
    if same_set:
        return rows, rows
    # The moments of B's points against A are B's row moments: m_b of j is sum_i v_i E_ij (b_j - b_i).
    return rows, _row_moments(B, A, False, inv_two_h2, tile)


def _features_first(points: KernelPoints, tile: int):
    """The points with a feature (lifetime > 0) first, in order, then the others; zero-padded to whole tiles.

    Returns the permutation, the number of tiles that hold a point with a feature (a 0-d
    array) and the padded ``(birth, lifetime, v)``.
    """
    alive = points.lifetime > 0
    order = jnp.argsort(jnp.logical_not(alive), stable=True)
    n = order.shape[0]
    padding = (0, -n % tile)
    padded = tuple(jnp.pad(jnp.take(a, order), padding) for a in points)
    n_tiles = (jnp.sum(alive) + tile - 1) // tile
    return order, n_tiles, padded


def _row_moments(A: KernelPoints, B: KernelPoints, same_set: bool, inv_two_h2, tile: int) -> Moments:
    """``(m0, mb, ml)`` of every point of ``A`` against ``B`` (``j = i`` left out with ``same_set``).

    Each block of kernel entries is computed once and summed by two matrix-vector
    products: ``m0 = E v``, and ``mb_i = b_i m0_i - (E (v b))_i`` (``ml`` alike) with
    coordinates taken from the centre of the block's rows, which bounds the
    cancellation to ``eps * (span of the tile) / h`` relative. Within one set only the
    blocks from the diagonal on are computed, each giving its rows' and its columns'
    moments. The moments of a point without a feature are returned as 0, which the
    backend contract allows; a partner without one has weight 0 and adds nothing.
    """
    order_a, tiles_a, points_a = _features_first(A, tile)
    tiles_b, points_b = (tiles_a, points_a) if same_set else _features_first(B, tile)[1:]
    dtype = jnp.result_type(points_a[0], points_b[2])
    offsets = jnp.arange(tile)

    def tile_of(points, start):
        return tuple(lax.dynamic_slice(a, (start,), (tile,)) for a in points)

    def add(out, moments, start):
        return lax.dynamic_update_slice(out, lax.dynamic_slice(out, (0, start), (3, tile)) + moments, (0, start))

    def moments_from(birth, lifetime, sums):
        """``(m0, mb, ml)`` from ``[v, v b, v l] @ E`` of the partners, coordinates relative to the centre."""
        return jnp.stack([sums[0], birth * sums[0] - sums[1], lifetime * sums[0] - sums[2]])

    def sum_over(birth, lifetime, v, kernel):
        """``[v, v b, v l] @ kernel``: the sums over the partners, which index the kernel's first axis. (This
        form, a ``(3, tile)`` matrix on the left, is the one XLA's CPU code runs fast.)"""
        return jnp.dot(jnp.stack([v, v * birth, v * lifetime]), kernel, precision=lax.Precision.HIGHEST)

    def row_tile(i, out):
        start = i * tile
        row_birth, row_lifetime, row_v = tile_of(points_a, start)
        centre_birth, centre_lifetime = jnp.mean(row_birth), jnp.mean(row_lifetime)
        row_birth, row_lifetime = row_birth - centre_birth, row_lifetime - centre_lifetime

        def column_tile(j, carry):
            sums, out = carry
            column = j * tile
            birth, lifetime, v = tile_of(points_b, column)
            birth, lifetime = birth - centre_birth, lifetime - centre_lifetime
            d_birth, d_lifetime = row_birth[:, None] - birth[None, :], row_lifetime[:, None] - lifetime[None, :]
            kernel = jnp.exp(-(d_birth * d_birth + d_lifetime * d_lifetime) * inv_two_h2)
            if same_set:  # both sides are in the one sorted order: the pair (i, i) sits where the positions agree
                kernel = jnp.where((start + offsets)[:, None] == (column + offsets)[None, :], 0, kernel)
            sums = sums + sum_over(birth, lifetime, v, kernel.T)
            if same_set:  # a block above the diagonal also gives its columns' moments; the diagonal block its rows'
                columns = sum_over(row_birth, row_lifetime, jnp.where(j > i, row_v, 0), kernel)
                out = add(out, moments_from(birth, lifetime, columns), column)
            return sums, out

        # Within one set, the blocks from the diagonal on: each unordered pair of tiles once.
        sums, out = lax.fori_loop(i if same_set else 0, tiles_b, column_tile, (jnp.zeros((3, tile), dtype=dtype), out))
        return add(out, moments_from(row_birth, row_lifetime, sums), start)

    sorted_moments = lax.fori_loop(0, tiles_a, row_tile, jnp.zeros((3, points_a[0].shape[0]), dtype=dtype))
    n = order_a.shape[0]
    moments = jnp.zeros((3, n), dtype=dtype).at[:, order_a].set(sorted_moments[:, :n])
    return Moments(moments[0], moments[1], moments[2])

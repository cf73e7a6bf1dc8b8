"""PPM-Reg computed by XLA: the default path of :mod:`ppm_array.jax` for float32 and float64 JAX arrays.

Nothing leaves the device: the subsamples are drawn with ``jax.random``, the
persistence, MMD and gradients are the core's own functions
(:func:`ppm_array._regularizer.assembly.regularizer`) running on the JAX kernels of
:mod:`ppm_array._backends.jax_native`, and ``jax.custom_vjp`` hands JAX the explicit
gradients (DESIGN 2.2 and :mod:`ppm_array._mmd.kernel`): nothing is differentiated
through a sort or an arg-max. Every shape is fixed by the input shapes, so the
computation traces under ``jit``, batches under ``vmap`` and can be fused and sharded.

The key and the subsamples
--------------------------
``jax.random.split(key, 2 * len(dims))`` gives one key per cloud and dimension: for
the ``k``-th entry ``q`` of ``dims`` (``s`` subsamples, ``m = 2q + 2`` points), key
``2k`` draws ``X``'s subsamples and key ``2k + 1`` ``Y``'s. With ``replace=True`` the
rows are ``jax.random.randint(key_, (s, m), 0, N)``; with ``replace=False`` each row
is an ``m``-subset by Floyd's algorithm, column ``c`` drawn from
``jax.random.split(key_, m)[c]`` (as :func:`ppm_array._persistence.sampling.draw_indices` does with a
NumPy generator). These are not the subsamples the NumPy path draws from the same
key (``backend="numba"``): both are uniform, so the two paths agree in distribution.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .._backends import jax_native
from .._boundary.options import RegularizerOptions
from .._boundary.validation import Points
from .._mmd.bandwidth import MEDIAN_POINTS
from .._mmd.method import has_transforms
from .._persistence.persistence import monte_carlo_persistence
from .._regularizer.assembly import regularizer
from .._regularizer.draws import DeviceDraw

__all__ = ["draw", "has_fourier", "median_bandwidth", "ppm_reg", "regularizer_on_indices"]


def has_fourier(tol: float) -> bool:
    """Whether the native path can run the Fourier method: jax-finufft loads and float64 is enabled."""
    return has_transforms(jax_native, tol, jnp)


def _subsample_rows(key, n_points: int, q: int, n_subsamples: int, replace: bool):
    """``(n_subsamples, 2q + 2)`` row indices into a cloud of ``n_points`` (see the module's docstring)."""
    m = 2 * q + 2
    if replace:
        return jax.random.randint(key, (n_subsamples, m), 0, n_points)
    # Floyd's algorithm: column c takes a candidate from [0, top], or top itself when the row holds it already.
    column_keys = jax.random.split(key, m)
    rows = jnp.zeros((n_subsamples, m), dtype=jnp.result_type(int))
    for column, top in enumerate(range(n_points - m, n_points)):
        candidate = jax.random.randint(column_keys[column], (n_subsamples,), 0, top + 1)
        taken = jnp.any(rows[:, :column] == candidate[:, None], axis=1)
        rows = rows.at[:, column].set(jnp.where(taken, top, candidate))
    return rows


def draw(key, n_x: int, n_y: int, options: RegularizerOptions) -> tuple:
    """The subsamples of one call: per entry of ``options.dims``, ``(indices of X, indices of Y)``."""
    keys = jax.random.split(key, 2 * len(options.dims))
    return tuple(
        (
            _subsample_rows(keys[2 * k], n_x, q, s, options.replace),
            _subsample_rows(keys[2 * k + 1], n_y, q, s, options.replace),
        )
        for k, (q, s) in enumerate(zip(options.dims, options.n_subsamples))
    )


def median_bandwidth(P, Q):
    """:func:`ppm_array._mmd.bandwidth.median_bandwidth` in fixed shapes: the same number, without selecting points.

    The first ``MEDIAN_POINTS`` points with a feature of each sample are found by a
    stable sort and kept with a mask; the median is read at a position computed from
    how many there are. Points without a feature may be in the samples here (the core's
    samples drop them), so every maximum is taken over the points with one.
    """
    heads, valid, largest = [], [], []
    for S in (P, Q):
        alive = S.lifetime > 0
        first = jnp.argsort(jnp.logical_not(alive), stable=True)[:MEDIAN_POINTS]
        heads.append(jnp.stack([S.birth[first], S.lifetime[first]], axis=1))
        valid.append(alive[first])
        largest.append(
            jnp.max(jnp.where(alive, jnp.abs(S.birth), 0), initial=0)
            + jnp.max(jnp.where(alive, S.lifetime, 0), initial=0)
        )
    points, valid = jnp.concat(heads), jnp.concat(valid)
    fallback = jnp.maximum(largest[0], largest[1])
    fallback = jnp.where(fallback > 0, fallback, 1)
    difference = points[:, None, :] - points[None, :, :]
    distance = jnp.sqrt(jnp.sum(difference * difference, axis=-1))
    order = jnp.arange(points.shape[0])
    pair = (order[:, None] < order[None, :]) & valid[:, None] & valid[None, :]
    ranked = jnp.sort(jnp.where(pair, distance, jnp.inf).ravel())
    n = jnp.sum(valid)
    count = n * (n - 1) // 2
    median = (ranked[jnp.maximum(count - 1, 0) // 2] + ranked[count // 2]) / 2.0
    return jnp.where((n >= 2) & (median > 0), median, fallback)


def _with_median_bandwidths(cloud_x, cloud_y, options: RegularizerOptions, draws) -> list:
    """Per entry of ``dims``: the one-dimension options with the median rule's bandwidth filled in."""
    split = []
    for k, (q, s, (draw_x, draw_y)) in enumerate(zip(options.dims, options.n_subsamples, draws)):
        P, Q = (
            monte_carlo_persistence(jax_native, cloud, q, d.indices, d.mass, s)
            for cloud, d in ((cloud_x, draw_x), (cloud_y, draw_y))
        )
        bandwidth = jax.lax.stop_gradient(median_bandwidth(P, Q))
        split.append(
            dataclasses.replace(
                options, dims=(q,), weights=(options.weights[k],), n_subsamples=(s,), bandwidth=bandwidth
            )
        )
    return split


def _compute(X, Y, indices, options: RegularizerOptions, with_grad: bool) -> tuple:
    """``(value, [grad_X, grad_Y,] terms, bandwidths)`` in the dtype of ``X``.

    With ``check_finite`` a NaN or infinity anywhere in ``X`` or ``Y`` makes every
    result but the bandwidths NaN: the refusal that needs no host read (``jit``).
    """
    with np.errstate(over="ignore"):  # as in the core: 1 / bandwidth may overflow the dtype; kernel_mmd clamps it
        return _results(X, Y, indices, options, with_grad)


def _results(X, Y, indices, options: RegularizerOptions, with_grad: bool) -> tuple:
    cloud_x, cloud_y = (Points(A, jnp, None, A.dtype) for A in (X, Y))
    draws = tuple(
        (DeviceDraw(index_x, None, 1.0 / s), DeviceDraw(index_y, None, 1.0 / s))
        for (index_x, index_y), s in zip(indices, options.n_subsamples)
    )
    if options.bandwidth == "median":
        parts = [
            regularizer(jax_native, cloud_x, cloud_y, part, (pair,), with_grad=with_grad)
            for part, pair in zip(_with_median_bandwidths(cloud_x, cloud_y, options, draws), draws)
        ]
        value = sum(part.value for part in parts)
        gradients = (sum(p.grad_x.grad for p in parts), sum(p.grad_y.grad for p in parts)) if with_grad else ()
        terms, bandwidths = (jnp.concat([getattr(p, name) for p in parts]) for name in ("terms", "bandwidths"))
    else:
        result = regularizer(jax_native, cloud_x, cloud_y, options, draws, with_grad=with_grad)
        value, terms, bandwidths = result.value, result.terms, result.bandwidths
        gradients = (result.grad_x.grad, result.grad_y.grad) if with_grad else ()
    outputs = (value, *gradients, terms)
    if options.check_finite:
        finite = jnp.all(jnp.isfinite(X)) & jnp.all(jnp.isfinite(Y))
        outputs = tuple(jnp.where(finite, output, jnp.nan) for output in outputs)
    return (*outputs, bandwidths)


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def regularizer_on_indices(X, Y, indices, options: RegularizerOptions):
    """PPM-Reg of ``X`` and ``Y`` on given subsamples: ``(value, terms, bandwidths)``.

    ``indices`` holds, per entry of ``options.dims``, the ``(s, 2q + 2)`` integer row
    indices of ``X``'s and of ``Y``'s subsamples (:func:`draw`), each of mass ``1/s``.
    Differentiable in ``X`` and ``Y`` through the explicit gradients; only the value
    carries a gradient (the callers stop the others).
    """
    value, terms, bandwidths = _compute(X, Y, indices, options, with_grad=False)
    return value, terms, bandwidths


def _forward(X, Y, indices, options):
    value, grad_x, grad_y, terms, bandwidths = _compute(X, Y, indices, options, with_grad=True)
    return (value, terms, bandwidths), (grad_x, grad_y)


def _backward(options, gradients, cotangents):
    grad_x, grad_y = gradients
    return cotangents[0] * grad_x, cotangents[0] * grad_y, None


regularizer_on_indices.defvjp(_forward, _backward)


@partial(jax.jit, static_argnums=(3,))
def ppm_reg(X, Y, key, options: RegularizerOptions) -> tuple:
    """``(value, terms, bandwidths)`` of PPM-Reg with subsamples drawn from the typed PRNG ``key``.

    Compiled once per shape, dtype and options, so that an eager call runs one cached
    executable (inside a caller's ``jit`` it is inlined).
    """
    return regularizer_on_indices(X, Y, draw(key, X.shape[0], Y.shape[0], options), options)

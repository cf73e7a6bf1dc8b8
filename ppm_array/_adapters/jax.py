"""The JAX adapter's implementation (the user's documentation is :mod:`ppm_array.jax`): the ``custom_vjp``
function, its JAX-native path and its host-callback path."""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .._boundary.namespace import array_namespace
from .._boundary.options import RegularizerOptions
from .._regularizer.evaluate import evaluate
from .._regularizer.results import PPMRegTerms, require_finite_results
from . import jax_native as _jax_native

__all__ = ["ppm_reg"]

_COMPUTED = (np.float32, np.float64)


def _check_static(X, Y, keywords: dict) -> RegularizerOptions:
    """Everything that can be checked while tracing: shapes, dtypes and options."""
    options = RegularizerOptions.from_keywords("ppm_array.jax.ppm_reg()", keywords, exclude=("rng",))
    for name, array in (("X", X), ("Y", Y)):
        if array.ndim != 2 or 0 in array.shape:
            raise ValueError(f"{name} must be 2-D with shape (N, d), N >= 1 and d >= 1; got shape {tuple(array.shape)}")
        if not jnp.issubdtype(array.dtype, jnp.floating):
            raise TypeError(f"{name} must have a real floating dtype; got {array.dtype}")
    if X.dtype != Y.dtype:
        raise TypeError(f"X and Y must have the same dtype; got {X.dtype} and {Y.dtype}")
    options.check_sizes({"X": X.shape[0], "Y": Y.shape[0]})
    if _is_native(options, X.dtype) and options.method == "fft" and not _jax_native.has_fourier(options.tol):
        raise ValueError(
            "method='fft' on the JAX-native path (backend='auto' with float32 or float64) needs jax-finufft "
            "(pip install jax-finufft) and float64 (jax.config.update('jax_enable_x64', True)); use "
            "method='direct' or 'auto', or backend='numba' for the host path with FINUFFT"
        )
    return options


def _is_native(options: RegularizerOptions, dtype) -> bool:
    """Whether the JAX-native path computes: ``backend="auto"`` and a dtype it computes in."""
    return options.backend == "auto" and dtype in _COMPUTED


def _typed_key(key):
    """``key`` as a typed PRNG key: a typed key (``jax.random.key``) as it is, a legacy one
    (``jax.random.PRNGKey``, ``uint32`` data) wrapped."""
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
        return key
    if dtype is not None and dtype == jnp.uint32 and getattr(key, "ndim", 0) >= 1:
        return jax.random.wrap_key_data(key)
    raise TypeError(
        f"key must be a JAX PRNG key, e.g. jax.random.key(0) (or jax.random.PRNGKey(0)); got "
        f"{type(key).__name__}{'' if dtype is None else f' of dtype {dtype}'}"
    )


def _host(X, Y, key_data, options: RegularizerOptions, with_grad: bool):
    """``value, [grad_X, grad_Y,] terms, bandwidths`` as NumPy arrays in the dtype of ``X``.

    float16 and bfloat16 are computed in float32 and cast back; a result that overflows
    there is refused (with ``check_finite``) with the core's error.
    """
    X, Y = np.asarray(X), np.asarray(Y)
    dtype = X.dtype
    if dtype not in _COMPUTED:
        X, Y = X.astype(np.float32), Y.astype(np.float32)
    rng = np.random.default_rng(np.asarray(key_data, dtype=np.uint32).ravel())
    *results, terms = evaluate(X, Y, dataclasses.replace(options, return_terms=True), rng, with_grad=with_grad)
    with np.errstate(over="ignore"):  # overflow to inf is refused below
        results = tuple(np.asarray(r).astype(dtype) for r in (*results, terms.mmd, terms.bandwidth))
    if dtype not in _COMPUTED and options.check_finite:
        require_finite_results(results, dtype, options.weight_power, array_namespace(results[0]))
    return results


def _host_batch(X, Y, key_data, options: RegularizerOptions, with_grad: bool):
    """:func:`_host`, or under ``jax.vmap`` (a leading batch axis on every argument, of length 1 where one is
    not mapped) the batched call of the core: one call for the batch, every item on the subsamples of the
    one key. Items with keys of their own (a mapped key) are computed one by one, each with its key."""
    if np.ndim(X) == 2:
        return _host(X, Y, key_data, options, with_grad)
    n_items = max(np.shape(a)[0] for a in (X, Y, key_data))
    X, Y = (np.broadcast_to(a, (n_items,) + np.shape(a)[1:]) for a in (X, Y))
    if np.shape(key_data)[0] == 1:
        return _host(X, Y, key_data[0], options, with_grad)
    items = [_host(X[b], Y[b], key_data[b], options, with_grad) for b in range(n_items)]
    return tuple(np.stack(column) for column in zip(*items))


def _callback(X, Y, key_data, options, with_grad: bool):
    per_dimension = jax.ShapeDtypeStruct((len(options.dims),), X.dtype)
    gradients = (jax.ShapeDtypeStruct(X.shape, X.dtype), jax.ShapeDtypeStruct(Y.shape, Y.dtype)) if with_grad else ()
    shapes = (jax.ShapeDtypeStruct((), X.dtype), *gradients, per_dimension, per_dimension)
    # Under jax.vmap the callback is called once, with a leading batch axis on every argument (of length 1 on
    # those that are not mapped), and answers with the batched call (_host_batch).
    return jax.pure_callback(
        partial(_host_batch, options=options, with_grad=with_grad), shapes, X, Y, key_data, vmap_method="expand_dims"
    )


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def _ppm_reg(X, Y, key_data, options):
    """``(value, terms, bandwidths)``; only ``value`` is differentiated (``ppm_reg`` stops the others)."""
    return _callback(X, Y, key_data, options, with_grad=False)


def _forward(X, Y, key_data, options):
    value, grad_x, grad_y, terms, bandwidths = _callback(X, Y, key_data, options, with_grad=True)
    return (value, terms, bandwidths), (grad_x, grad_y, key_data)


def _backward(options, residuals, cotangents):
    grad_x, grad_y, key_data = residuals
    cotangent = cotangents[0]
    return cotangent * grad_x, cotangent * grad_y, np.zeros(key_data.shape, dtype=jax.dtypes.float0)


_ppm_reg.defvjp(_forward, _backward)


def _batched(X, Y, key, options: dict):
    """A batch of clouds, ``X`` of shape ``(B, N, d)`` with ``Y`` of shape ``(B, M, d)`` or one shared ``(M, d)``:
    ``jax.vmap`` of the call on one cloud, so every item takes the subsamples ``key`` draws (item ``b`` equals
    the call on ``X[b]``)."""
    if X.ndim != 3 or Y.ndim not in (2, 3) or (Y.ndim == 3 and Y.shape[0] != X.shape[0]):
        raise ValueError(
            "a batch of clouds is X of shape (B, N, d) with Y of shape (B, M, d) or one shared (M, d); got X of "
            f"shape {tuple(X.shape)} and Y of shape {tuple(Y.shape)}"
        )
    return jax.vmap(lambda x, y: ppm_reg(x, y, key, **options), in_axes=(0, 0 if Y.ndim == 3 else None))(X, Y)


def _refuse_non_finite(X, Y) -> None:
    """NaN or inf in ``X`` or ``Y`` refused where their values are known (eager calls, ``jax.grad`` without
    ``jit``: one host read each), as on every other path; under ``jit`` they make the results NaN."""
    for name, array in (("X", X), ("Y", Y)):
        try:
            finite = bool(jnp.all(jnp.isfinite(array)))
        except jax.errors.ConcretizationTypeError:  # traced by jit: no value to read
            return
        if not finite:
            raise ValueError(f"{name} contains NaN or infinite values")


def ppm_reg(X, Y, key, **options):
    """PPM-Reg of two JAX arrays, differentiable with ``jax.grad`` and traceable by ``jax.jit``.

    Parameters
    ----------
    X, Y : jax arrays, shapes (N_X, d_X) and (N_Y, d_Y), one floating dtype
        float32 or float64; float16 and bfloat16 are computed in float32.
    key : JAX PRNG key (``jax.random.key`` or ``jax.random.PRNGKey``)
        Selects the subsamples: the same key, the same subsamples.
    **options
        ``bandwidth`` (required) and the other options of :func:`ppm_array.ppm_reg`
        except ``rng``. With ``return_terms=True`` the result is ``(value, terms)``,
        the terms carrying no gradient.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, ppm_array.jax as paj
    >>> X = jax.random.normal(jax.random.key(0), (64, 2))
    >>> Y = jax.random.normal(jax.random.key(1), (64, 2))
    >>> grad = jax.grad(paj.ppm_reg)(X, Y, jax.random.key(2), bandwidth=0.2)
    >>> grad.shape
    (64, 2)
    """
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    if X.ndim == 3 or Y.ndim == 3:
        return _batched(X, Y, key, options)
    checked = _check_static(X, Y, options)
    key = _typed_key(key)
    if _is_native(checked, X.dtype):
        if checked.check_finite:
            _refuse_non_finite(X, Y)
        value, terms, bandwidths = _jax_native.ppm_reg(X, Y, key, checked)
    else:
        value, terms, bandwidths = _ppm_reg(X, Y, jax.random.key_data(key), checked)
    if not checked.return_terms:
        return value
    return value, PPMRegTerms(*(jax.lax.stop_gradient(a) for a in (terms, bandwidths)))

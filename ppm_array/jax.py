"""JAX adapter: PPM-Reg as a ``jax.custom_vjp`` function, usable under ``grad`` and ``jit``.

The value and explicit gradients come from the NumPy path of
:func:`ppm_array.ppm_reg_value_and_grad` (Numba CPU kernels) through
``jax.pure_callback``: inputs are copied to the host and results back. On a GPU
this means a device-to-host round trip per call; the computation itself runs on
the CPU. (For GPU-resident work, CuPy and the Numba-CUDA backend avoid it.)

Shapes, dtypes and options are checked while tracing, with the core's errors;
NaN or inf in the values can only be detected in the callback, where the core's
``ValueError`` surfaces as a ``JaxRuntimeError`` with the same message.

Randomness is explicit: a JAX PRNG key selects the subsamples. Under ``jit`` the
subsamples stay fixed for a fixed key; pass a new key (``jax.random.split``) at
every step to draw new ones.

Importing this module imports jax; ``import ppm_array`` does not.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .regularizer import RegularizerOptions
from .regularizer import ppm_reg_value_and_grad as _core_value_and_grad

__all__ = ["ppm_reg"]

_OPTIONS = ("bandwidth", "dims", "weights", "n_subsamples", "replace", "weight_power", "estimator", "squared", "backend")


def _check_static(X, Y, options: dict) -> None:
    """Everything that can be checked while tracing: shapes, dtypes and options.

    Values (NaN or inf in X or Y) can only be checked inside the host callback;
    there the core's ``ValueError`` surfaces as a ``JaxRuntimeError`` carrying its message.
    """
    unknown = set(options) - set(_OPTIONS)
    if unknown:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(unknown))} (randomness comes from key)")
    if "bandwidth" not in options:
        raise TypeError("ppm_reg() missing required keyword argument: 'bandwidth'")
    RegularizerOptions.check(**options)
    for name, array in (("X", X), ("Y", Y)):
        if array.ndim != 2 or 0 in array.shape:
            raise ValueError(f"{name} must be 2-D with shape (N, d), N >= 1 and d >= 1; got shape {tuple(array.shape)}")
        if not jnp.issubdtype(array.dtype, jnp.floating):
            raise TypeError(f"{name} must have a real floating dtype; got {array.dtype}")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must have the same number of features; got {X.shape[1]} and {Y.shape[1]}")
    if X.dtype != Y.dtype:
        raise TypeError(f"X and Y must have the same dtype; got {X.dtype} and {Y.dtype}")


def _freeze(options: dict) -> tuple:
    """Options as a hashable tuple (they are static under ``jit``)."""
    frozen = []
    for name, value in sorted(options.items()):
        frozen.append((name, tuple(value) if name in ("dims", "weights") and value is not None else value))
    return tuple(frozen)


def _host_value_and_grad(X, Y, key_data, options):
    rng = np.random.default_rng(np.asarray(key_data, dtype=np.uint32).ravel())
    value, grad_x, grad_y = _core_value_and_grad(np.asarray(X), np.asarray(Y), rng=rng, **dict(options))
    return np.asarray(value), grad_x, grad_y


def _callback(X, Y, key_data, options):
    shapes = (jax.ShapeDtypeStruct((), X.dtype), jax.ShapeDtypeStruct(X.shape, X.dtype),
              jax.ShapeDtypeStruct(Y.shape, Y.dtype))
    return jax.pure_callback(partial(_host_value_and_grad, options=options), shapes, X, Y, key_data,
                             vmap_method="sequential")


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def _ppm_reg(X, Y, key_data, options):
    return _callback(X, Y, key_data, options)[0]


def _forward(X, Y, key_data, options):
    value, grad_x, grad_y = _callback(X, Y, key_data, options)
    return value, (grad_x, grad_y, key_data)


def _backward(options, residuals, cotangent):
    grad_x, grad_y, key_data = residuals
    return cotangent * grad_x, cotangent * grad_y, np.zeros(key_data.shape, dtype=jax.dtypes.float0)


_ppm_reg.defvjp(_forward, _backward)


def ppm_reg(X, Y, key, **options):
    """PPM-Reg of two JAX arrays, differentiable with ``jax.grad`` and traceable by ``jax.jit``.

    Parameters
    ----------
    X, Y : jax arrays, shapes (N_X, d) and (N_Y, d), float32 or float64
    key : JAX PRNG key (``jax.random.key`` or ``jax.random.PRNGKey``)
        Selects the subsamples: the same key, the same subsamples.
    **options
        ``bandwidth`` (required) and the other options of :func:`ppm_array.ppm_reg`
        except ``rng``.

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
    _check_static(X, Y, options)
    key_data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    return _ppm_reg(X, Y, key_data, _freeze(options))

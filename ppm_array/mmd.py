"""Kernel MMD between two principal persistence measures (paper Eq. 9, 12, 13)."""

from __future__ import annotations

from typing import NamedTuple

from . import _validation as v
from ._namespace import cast
from .backends import select_backend
from .persistence import PersistenceSample, _check_sample

__all__ = ["MMDOptions", "mmd", "mmd_value_and_grad"]


class MMDOptions(NamedTuple):
    """Validated kernel and estimator options shared by the MMD and PPM-Reg."""

    bandwidth: float
    weight_power: float
    unbiased: bool
    squared: bool

    @classmethod
    def check(cls, bandwidth, weight_power, estimator, squared) -> "MMDOptions":
        return cls(
            v.check_bandwidth(bandwidth),
            v.check_weight_power(weight_power),
            v.check_estimator(estimator) == "u",
            v.check_bool(squared, "squared"),
        )


def _check_pair(P, Q):
    P = _check_sample(P, "P")
    Q = _check_sample(Q, "Q")
    xp = v.array_namespace(P.birth)
    if v.array_namespace(Q.birth) is not xp:
        raise TypeError("P and Q must hold arrays of the same library")
    if v.device(P.birth) != v.device(Q.birth):
        raise ValueError("P and Q must be on the same device")
    if P.birth.dtype != Q.birth.dtype:
        raise TypeError(f"P and Q must have the same dtype; got {P.birth.dtype} and {Q.birth.dtype}")
    if P.q != Q.q:
        raise ValueError(f"P and Q must have the same homology dimension; got q={P.q} and q={Q.q}")
    return P, Q, xp


def _working(sample: PersistenceSample, xp):
    """``(birth, lifetime, mass)`` in float32 or float64."""
    arrays = (sample.birth, sample.lifetime, sample.mass)
    if sample.birth.dtype in (xp.float32, xp.float64):
        return arrays
    return tuple(xp.astype(a, xp.float32) for a in arrays)


def _check_unbiased(sample: PersistenceSample, name: str) -> None:
    if sample.birth.shape[0] < 2:
        raise ValueError(f"estimator='u' needs at least 2 points in {name}; got {sample.birth.shape[0]}")


def mmd_squared_and_grad(backend, P, Q, options: MMDOptions, with_grad: bool, xp, *, grad_at_collapsed=True):
    """MMD (squared or not, per ``options``) and, if asked, its gradients.

    ``P`` and ``Q`` are ``(birth, lifetime, mass)`` triples in a working dtype.
    ``grad_at_collapsed`` as in the backend contract (:mod:`ppm_array.backends.array_api`).
    """
    value, grads = backend.mmd_squared(
        P, Q, bandwidth=options.bandwidth, weight_power=options.weight_power,
        unbiased=options.unbiased, with_grad=with_grad, grad_at_collapsed=grad_at_collapsed, xp=xp,
    )
    if options.squared:
        return value, grads
    root = xp.sqrt(xp.clip(value, 0, None))
    if grads is None:
        return root, None
    # d sqrt(M) = dM / (2 sqrt(M)); the gradient is defined as 0 where M <= 0.
    scale = xp.where(root > 0, 0.5 / xp.where(root > 0, root, xp.ones_like(root)), xp.zeros_like(root))
    return root, tuple((g_birth * scale, g_lifetime * scale) for g_birth, g_lifetime in grads)


def _prepare(P, Q, bandwidth, weight_power, estimator, squared, backend):
    P, Q, xp = _check_pair(P, Q)
    options = MMDOptions.check(bandwidth, weight_power, estimator, squared)
    if options.unbiased:
        _check_unbiased(P, "P")
        _check_unbiased(Q, "Q")
    return P, Q, xp, options, select_backend(v.check_backend(backend), P.birth)


def mmd(P, Q, *, bandwidth, weight_power=1.0, estimator="v", squared=True, backend="auto"):
    """Kernel MMD between two persistence samples.

    With ``k(z1, z2) = w(l1) w(l2) exp(-|z1 - z2|^2 / (2 h^2))``, ``z = (birth,
    lifetime)``, ``w(l) = l^p`` and masses ``alpha``, ``beta``::

        MMD^2 = sum_ij a_i a_j k(z_i, z_j) - 2 sum_ij a_i b_j k(z_i, y_j) + sum_ij b_i b_j k(y_i, y_j)

    Parameters
    ----------
    P, Q : PersistenceSample
        Same namespace, device, dtype and ``q``.
    bandwidth : float
        ``h > 0``. The paper's ``sigma`` is ``h**2``; the published code's
        ``width`` is ``2 * h**2``.
    weight_power : float, default 1
        ``p >= 1``.
    estimator : {"v", "u"}, default "v"
        ``"v"``: the formula above (the paper's). ``"u"``: the within-sums drop
        their ``i = j`` terms and are divided by ``1 - sum_i a_i^2`` (that is,
        by ``s (s - 1)`` instead of ``s^2`` for equal masses); unbiased.
    squared : bool, default True
        ``True`` returns ``MMD^2``; ``False`` returns ``sqrt(max(MMD^2, 0))``.
    backend : {"auto", "array_api", "numba"}

    Returns
    -------
    value : 0-d array in the namespace, device and dtype of ``P``.

    Examples
    --------
    >>> import numpy as np, ppm_array as pa
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> P = pa.principal_persistence(X, 1, n_subsamples=100, rng=1)
    >>> float(pa.mmd(P, P, bandwidth=0.5))
    0.0
    """
    P, Q, xp, options, backend = _prepare(P, Q, bandwidth, weight_power, estimator, squared, backend)
    value, _ = mmd_squared_and_grad(backend, _working(P, xp), _working(Q, xp), options, False, xp)
    return xp.asarray(cast(value, P.birth.dtype, xp))


def mmd_value_and_grad(P, Q, *, bandwidth, weight_power=1.0, estimator="v", squared=True, backend="auto"):
    """:func:`mmd` and its gradients with respect to the points of ``P`` and ``Q``.

    The masses are constants. The gradient with respect to a lifetime of 0 is
    the one-sided derivative (nonzero for ``p = 1``).

    Returns
    -------
    value : 0-d array
    (d_birth_P, d_lifetime_P) : arrays, shape (s_P,)
    (d_birth_Q, d_lifetime_Q) : arrays, shape (s_Q,)

    Examples
    --------
    >>> import numpy as np, ppm_array as pa
    >>> X, Y = np.random.default_rng(0).normal(size=(2, 40, 2))
    >>> P = pa.principal_persistence(X, 0, n_subsamples=64, rng=1)
    >>> Q = pa.principal_persistence(Y, 0, n_subsamples=64, rng=2)
    >>> value, (db_P, dl_P), (db_Q, dl_Q) = pa.mmd_value_and_grad(P, Q, bandwidth=0.5)
    >>> dl_P.shape, dl_Q.shape
    ((64,), (64,))
    """
    P, Q, xp, options, backend = _prepare(P, Q, bandwidth, weight_power, estimator, squared, backend)
    value, (grads_p, grads_q) = mmd_squared_and_grad(backend, _working(P, xp), _working(Q, xp), options, True, xp)
    dtype = P.birth.dtype
    grads_p, grads_q = (tuple(cast(g, dtype, xp) for g in grads) for grads in (grads_p, grads_q))
    return xp.asarray(cast(value, dtype, xp)), grads_p, grads_q

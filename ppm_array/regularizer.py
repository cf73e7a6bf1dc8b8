"""PPM-Reg (paper Eq. 14): weighted sum over homology dimensions of MMDs of PPMs."""

from __future__ import annotations

from typing import NamedTuple

from . import _validation as v
from ._namespace import cast
from .backends import select_backend
from .mmd import MMDOptions, mmd_squared_and_grad
from .persistence import _persistence_sample, _vjp
from .subsampling import _draw

__all__ = ["RegularizerOptions", "ppm_reg", "ppm_reg_value_and_grad"]


class RegularizerOptions(NamedTuple):
    """The validated options of PPM-Reg, everything but the clouds and the randomness."""

    dims: tuple
    weights: tuple
    n_subsamples: int
    replace: bool
    mmd: MMDOptions
    backend: str

    @classmethod
    def check(cls, *, bandwidth, dims=(0, 1), weights=None, n_subsamples=1024, replace=True, weight_power=1.0,
              estimator="v", squared=True, backend="auto") -> "RegularizerOptions":
        dims, weights = v.check_dims_and_weights(dims, weights)
        mmd_options = MMDOptions.check(bandwidth, weight_power, estimator, squared)
        n_subsamples = v.check_n_subsamples(n_subsamples, max(dims))
        if mmd_options.unbiased and n_subsamples < 2:
            raise ValueError(f"estimator='u' needs n_subsamples >= 2; got {n_subsamples}")
        return cls(dims, weights, n_subsamples, v.check_bool(replace, "replace"), mmd_options, v.check_backend(backend))


def _regularizer(X, Y, *, rng, with_grad, **options):
    cloud_x, cloud_y = v.points(X, "X"), v.points(Y, "Y")
    v.check_same_namespace(cloud_x, cloud_y, ("X", "Y"))
    checked = RegularizerOptions.check(**options)
    generator = v.check_rng(rng)
    backend = select_backend(checked.backend, cloud_x.array)
    xp, device = cloud_x.xp, cloud_x.device
    dtype = cloud_x.array.dtype
    value = xp.zeros((), dtype=dtype, device=device)
    upstream = ([], [])  # per cloud: (sample, weighted d_birth, weighted d_lifetime) for each q
    for q, weight in zip(checked.dims, checked.weights):
        samples = []
        for cloud in (cloud_x, cloud_y):
            host = _draw(generator, cloud.array.shape[0], 2 * q + 2, checked.n_subsamples, checked.replace)
            samples.append(_persistence_sample(backend, cloud, q, xp.asarray(host, device=device)))
        P, Q = samples
        term, grads = mmd_squared_and_grad(
            backend, (P.birth, P.lifetime, P.mass), (Q.birth, Q.lifetime, Q.mass), checked.mmd, with_grad, xp,
            grad_at_collapsed=False,
        )
        value = value + weight * term
        if with_grad:
            for pending, sample, (d_birth, d_lifetime) in zip(upstream, samples, grads):
                pending.append((sample, weight * d_birth, weight * d_lifetime))
    value = xp.asarray(cast(value, cloud_x.dtype, xp))
    if not with_grad:
        return value
    grad_x, grad_y = (cast(_joint_vjp(backend, cloud, pending, xp), cloud.dtype, xp)
                      for cloud, pending in zip((cloud_x, cloud_y), upstream))
    return value, grad_x, grad_y


def _joint_vjp(backend, cloud, pending, xp):
    """One VJP over the subsamples of every dimension: it is linear in the upstream
    gradients, so the dimensions' edges are concatenated and ``grad_X`` is built once."""
    samples, d_births, d_lifetimes = zip(*pending)
    joint = samples[0]._replace(
        birth_edge=xp.concat([s.birth_edge for s in samples], axis=0),
        death_edge=xp.concat([s.death_edge for s in samples], axis=0),
        lifetime=xp.concat([s.lifetime for s in samples]),
    )
    return _vjp(backend, cloud, joint, xp.concat(d_births), xp.concat(d_lifetimes))


def ppm_reg(X, Y, *, bandwidth, dims=(0, 1), weights=None, n_subsamples=1024, rng=None, replace=True,
            weight_power=1.0, estimator="v", squared=True, backend="auto"):
    """PPM-Reg: ``T(X, Y) = sum_{q in dims} lambda_q MMD^2(PPM_q(X), PPM_q(Y))``.

    For each ``q`` in ``dims``, ``n_subsamples`` subsamples of ``2q + 2`` points
    are drawn from ``X`` and, independently, from ``Y`` (all from the one ``rng``),
    and the MMD of :func:`mmd` compares the two PPMs.

    Parameters
    ----------
    X : array, shape (N_X, d)
    Y : array, shape (N_Y, d)
        Same namespace, device, dtype and ``d`` as ``X``.
    bandwidth : float
        Kernel bandwidth ``h`` (paper ``sigma = h**2``; published code
        ``width = 2 h**2``).
    dims : sequence of int, default (0, 1)
        Homology dimensions.
    weights : sequence of float, optional
        ``lambda_q`` per entry of ``dims`` (default all 1; the paper's shape
        matching uses ``(1, 6000)``).
    n_subsamples : int, default 1024
        ``s``, per dimension and per cloud.
    rng : None, int or numpy.random.Generator
    replace : bool, default True
    weight_power, estimator, squared :
        As in :func:`mmd`.
    backend : {"auto", "array_api", "numba"}

    Returns
    -------
    value : 0-d array in the namespace, device and dtype of ``X``.

    Examples
    --------
    >>> import numpy as np, ppm_array as pa
    >>> X, Y = np.random.default_rng(0).normal(size=(2, 100, 2))
    >>> float(pa.ppm_reg(X, X, bandwidth=0.2, rng=0)) == float(pa.ppm_reg(X, X, bandwidth=0.2, rng=0))
    True
    """
    return _regularizer(X, Y, bandwidth=bandwidth, dims=dims, weights=weights, n_subsamples=n_subsamples,
                        rng=rng, replace=replace, weight_power=weight_power, estimator=estimator,
                        squared=squared, backend=backend, with_grad=False)


def ppm_reg_value_and_grad(X, Y, *, bandwidth, dims=(0, 1), weights=None, n_subsamples=1024, rng=None,
                           replace=True, weight_power=1.0, estimator="v", squared=True, backend="auto"):
    """:func:`ppm_reg` and its gradients with respect to ``X`` and ``Y``.

    The same ``rng`` draws the same subsamples as :func:`ppm_reg`, so the value
    is identical.

    Returns
    -------
    value : 0-d array
    grad_X : array, shape (N_X, d)
    grad_Y : array, shape (N_Y, d)
        In the namespace, device and dtype of the inputs.

    Examples
    --------
    >>> import numpy as np, ppm_array as pa
    >>> X, Y = np.random.default_rng(0).normal(size=(2, 100, 2))
    >>> value, grad_X, grad_Y = pa.ppm_reg_value_and_grad(X, Y, bandwidth=0.2, rng=0)
    >>> grad_X.shape, bool(value > 0)
    ((100, 2), True)
    """
    return _regularizer(X, Y, bandwidth=bandwidth, dims=dims, weights=weights, n_subsamples=n_subsamples,
                        rng=rng, replace=replace, weight_power=weight_power, estimator=estimator,
                        squared=squared, backend=backend, with_grad=True)

"""PPM-Reg (paper Eq. 14): weighted sum over homology dimensions of MMDs of PPMs."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from . import _core
from . import _validation as v
from ._backends import cuda_graphs, on_host_kernels, select_backend
from ._namespace import cast, to_numpy
from ._options import RegularizerOptions

__all__ = ["PPMRegTerms", "evaluate", "ppm_reg", "ppm_reg_value_and_grad", "require_finite_results"]


class PPMRegTerms(NamedTuple):
    """PPM-Reg's terms, one entry per entry of ``dims``, returned with ``return_terms=True``.

    Attributes
    ----------
    mmd : array, shape (len(dims),)
        ``MMD^2(PPM_q(X), PPM_q(Y))`` (or the MMD with ``squared=False``), before the
        weights: the value is ``sum(weights * mmd)``.
    bandwidth : array, shape (len(dims),)
        The bandwidth each term used: the ``bandwidth`` given, or the median rule's choice.
    """

    mmd: Any
    bandwidth: Any


def evaluate(X, Y, options: RegularizerOptions, rng, *, with_grad: bool, pool=None):
    """PPM-Reg of two clouds with validated ``options``: the entry point of the public functions and the adapters.

    Returns the value, or ``(value, grad_X, grad_Y)`` with ``with_grad``, in the
    library, device and dtype of the inputs; with ``options.return_terms`` a
    :class:`PPMRegTerms` follows. With a ``pool`` (:mod:`ppm_array._pool`; the
    adapters' distributed mode) ``X`` and ``Y`` are this rank's shards, the value is
    that of the PPMs pooled over the ranks, and the gradients are its derivatives
    with respect to the shards.
    """
    cloud_x, cloud_y = v.points(X, "X", check_finite=False), v.points(Y, "Y", check_finite=False)
    v.check_same_library(cloud_x, cloud_y, ("X", "Y"))
    options.check_sizes({"X": cloud_x.array.shape[0], "Y": cloud_y.array.shape[0]})
    generator = v.check_rng(rng)
    backend = select_backend(options.backend, cloud_x.array)
    draws = _core.draw_regularizer(generator, cloud_x.array.shape[0], cloud_y.array.shape[0], options,
                                   1 if pool is None else pool.world_size)
    with backend.on_device(cloud_x.array):
        if pool is None and cuda_graphs.applies(backend, options, draws, cloud_x.xp):
            body = functools.partial(_device_body, backend, options, with_grad)
            outputs = cuda_graphs.run(body, (options, with_grad), cloud_x, cloud_y, draws)
        else:
            outputs = _evaluate(backend, cloud_x, cloud_y, options, draws, with_grad, pool)
        results = outputs[:-1] if options.check_finite else outputs
        if options.check_finite:
            _refuse(to_numpy(outputs[-1]), options.mmd.weight_power, cloud_x.result_dtype)
    value, *gradients = results[:3] if with_grad else results[:1]
    if options.return_terms:
        return (value, *gradients, PPMRegTerms(*results[-2:]))
    return (value, *gradients) if with_grad else value


def _device_body(backend, options: RegularizerOptions, with_grad: bool, cloud_x, cloud_y, device_draws, *,
                 check_inputs: bool = True, pool=None) -> tuple:
    """The device work of a call from uploaded draws: the results (value, [grad_X, grad_Y,] terms,
    bandwidths) in the caller's dtype and, with ``check_finite``, the refusal flags of :func:`refusal_flags`
    last (the inputs' among them with ``check_inputs``). Moves nothing between host and device, so it can be
    captured as a CUDA graph (:mod:`ppm_array._backends.cuda_graphs`); with a ``pool``, the PPMs are pooled
    over its ranks."""
    xp = cloud_x.xp
    # A result beyond the dtype's range overflows to inf (refused by the flags), which NumPy would warn about.
    with np.errstate(over="ignore"):
        result = _core.regularizer(backend, cloud_x, cloud_y, options, device_draws, with_grad=with_grad, pool=pool)
        results, refusals = results_in_caller_dtype(result, cloud_x, cloud_y, with_grad, options, xp,
                                                    check_inputs=check_inputs)
    return results if refusals is None else (*results, refusals)


def _evaluate(backend, cloud_x, cloud_y, options: RegularizerOptions, draws, with_grad: bool, pool):
    """The computation of :func:`evaluate` on validated clouds and host ``draws``, as :func:`_device_body`
    returns it, without the graph.

    The inputs are checked before anything is computed (a host read each); the
    CUDA-graph path (:mod:`ppm_array._backends.cuda_graphs`) checks them with the
    results instead, in one read.
    """
    if options.check_finite:
        v.require_finite(cloud_x, "X", backend)
        v.require_finite(cloud_y, "Y", backend)
    return _device_body(backend, options, with_grad, cloud_x, cloud_y, _core.upload(draws, cloud_x),
                        check_inputs=False, pool=pool)


def results_in_caller_dtype(result: _core.Regularized, cloud_x, cloud_y, with_grad: bool,
                            options: RegularizerOptions, xp, *, check_inputs: bool):
    """``(results, refusals)`` of :func:`_evaluate` from the core's result."""
    dtype = cloud_x.result_dtype
    gradients = (result.grad_x, result.grad_y) if with_grad else ()
    results = (xp.asarray(cast(result.value, dtype, xp)),
               *(cast(g.grad, cloud.result_dtype, xp) for g, cloud in zip(gradients, (cloud_x, cloud_y))),
               cast(result.terms, dtype, xp), cast(result.bandwidths, dtype, xp))
    refusals = None
    if options.check_finite:
        refusals = refusal_flags(cloud_x, cloud_y, results[0], gradients, xp, check_inputs=check_inputs)
    return results, refusals


def refusal_flags(cloud_x, cloud_y, value, gradients, xp, *, check_inputs: bool):
    """A device bool array ``[X not finite, Y not finite, result out of range]`` (the first two False when
    the inputs were checked already): read once by :func:`_refuse`.

    Finite inputs give finite results unless a result itself exceeds the dtype's
    range. The gradients are checked through their ``O(s)`` bound, without reading them.
    """
    dtype = cloud_x.result_dtype
    false = xp.zeros((), dtype=xp.bool, device=cloud_x.device)
    inputs = [xp.logical_not(xp.all(xp.isfinite(c.array))) if check_inputs else false for c in (cloud_x, cloud_y)]
    too_large = xp.logical_not(xp.isfinite(value))
    for g in gradients:
        too_large = too_large | xp.logical_not(g.fits_on_device(dtype, xp))
    return xp.stack([*inputs, too_large])


def _refuse(flags, weight_power: float, dtype) -> None:
    """Raise the refusal the host copy of :func:`refusal_flags` names, if any (the inputs first)."""
    x_bad, y_bad, too_large = (bool(f) for f in flags)
    for name, bad in (("X", x_bad), ("Y", y_bad)):
        if bad:
            raise ValueError(f"{name} contains NaN or infinite values")
    if too_large:
        raise _too_large(dtype, weight_power)


def _too_large(dtype, weight_power: float) -> ValueError:
    return ValueError(
        f"X and Y are too large for results in {dtype}: PPM-Reg grows like lifetime^(2 weight_power) "
        f"(weight_power={weight_power:g}); rescale X, Y and the bandwidth together, or use float64"
    )


def require_finite_results(results, dtype, weight_power: float, xp) -> None:
    """Results computed in float32 for float16 or bfloat16 clouds and cast back to ``dtype`` by an adapter:
    refuse any that overflowed there, with the error of :func:`evaluate` (one reduction each; host reads)."""
    if not all(bool(xp.all(xp.isfinite(r))) for r in results):
        raise _too_large(dtype, weight_power)


@on_host_kernels
def ppm_reg(X, Y, *, bandwidth, dims=(0, 1), weights=None, n_subsamples=1024, rng=None, replace=True,
            weight_power=1.0, estimator="v", squared=True, method="auto", tol=1e-10, backend="auto",
            check_finite=True, return_terms=False):
    """PPM-Reg: ``T(X, Y) = sum_{q in dims} lambda_q MMD^2(PPM_q(X), PPM_q(Y))``.

    For each ``q`` in ``dims``, ``n_subsamples`` subsamples of ``2q + 2`` points
    are drawn from ``X`` and, independently, from ``Y`` (all from the one ``rng``),
    and the MMD of :func:`mmd` compares the two PPMs.

    Parameters
    ----------
    X : array, shape (N_X, d_X)
    Y : array, shape (N_Y, d_Y)
        Same namespace, device and dtype as ``X``. ``N`` and ``d`` may differ: a
        PPM depends only on distances within one cloud.
    bandwidth : float or "median"
        Kernel bandwidth ``h`` (paper ``sigma = h**2``; published code
        ``width = 2 h**2``); a Python number or a 0-d array or tensor. ``"median"``
        chooses ``h`` for each dimension from the data (see :func:`mmd`).
    dims : sequence of int, default (0, 1)
        Homology dimensions.
    weights : sequence of float, optional
        ``lambda_q`` per entry of ``dims`` (default all 1; the paper's shape
        matching uses ``(1, 6000)``).
    n_subsamples : int or sequence of int, default 1024
        ``s`` per cloud: one number for every dimension, or one per entry of
        ``dims`` (features of ``q >= 1`` are rarer, so larger ``s`` pays there).
    rng : None, int or numpy.random.Generator
    replace : bool, default True
    weight_power, estimator, squared, method, tol :
        As in :func:`mmd`.
    backend : {"auto", "array_api", "numba"}
    check_finite : bool, default True
        Refuse NaN or infinite values in ``X`` and ``Y``, and results that
        overflow the dtype (``ValueError``). One reduction over each input and
        each result; on a GPU each is a host synchronisation.
    return_terms : bool, default False
        Also return the per-dimension terms and bandwidths (:class:`PPMRegTerms`),
        for logging without a second call.

    Returns
    -------
    value : 0-d array in the namespace, device and dtype of ``X``.
    terms : PPMRegTerms
        Only with ``return_terms=True``: ``(value, terms)``.

    Examples
    --------
    >>> import numpy as np, ppm_array as pa
    >>> X, Y = np.random.default_rng(0).normal(size=(2, 100, 2))
    >>> float(pa.ppm_reg(X, X, bandwidth=0.2, rng=0)) == float(pa.ppm_reg(X, X, bandwidth=0.2, rng=0))
    True
    """
    options = RegularizerOptions.check(bandwidth=bandwidth, dims=dims, weights=weights, n_subsamples=n_subsamples,
                                       replace=replace, weight_power=weight_power, estimator=estimator,
                                       squared=squared, method=method, tol=tol, backend=backend,
                                       check_finite=check_finite, return_terms=return_terms)
    return evaluate(X, Y, options, rng, with_grad=False)


@on_host_kernels
def ppm_reg_value_and_grad(X, Y, *, bandwidth, dims=(0, 1), weights=None, n_subsamples=1024, rng=None,
                           replace=True, weight_power=1.0, estimator="v", squared=True, method="auto", tol=1e-10,
                           backend="auto", check_finite=True, return_terms=False):
    """:func:`ppm_reg` and its gradients with respect to ``X`` and ``Y``.

    The same ``rng`` draws the same subsamples as :func:`ppm_reg`, so the value
    is identical.

    Returns
    -------
    value : 0-d array
    grad_X : array, shape (N_X, d_X)
    grad_Y : array, shape (N_Y, d_Y)
        In the namespace, device and dtype of the inputs.
    terms : PPMRegTerms
        Only with ``return_terms=True``: ``(value, grad_X, grad_Y, terms)``.

    Examples
    --------
    >>> import numpy as np, ppm_array as pa
    >>> X, Y = np.random.default_rng(0).normal(size=(2, 100, 2))
    >>> value, grad_X, grad_Y = pa.ppm_reg_value_and_grad(X, Y, bandwidth=0.2, rng=0)
    >>> grad_X.shape, bool(value > 0)
    ((100, 2), True)
    """
    options = RegularizerOptions.check(bandwidth=bandwidth, dims=dims, weights=weights, n_subsamples=n_subsamples,
                                       replace=replace, weight_power=weight_power, estimator=estimator,
                                       squared=squared, method=method, tol=tol, backend=backend,
                                       check_finite=check_finite, return_terms=return_terms)
    return evaluate(X, Y, options, rng, with_grad=True)

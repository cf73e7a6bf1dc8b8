"""PPM-Reg (paper Eq. 14): weighted sum over homology dimensions of MMDs of PPMs. The public functions."""

from __future__ import annotations

from .._backends.host_views import on_host_kernels
from .._boundary.options import RegularizerOptions
from .evaluate import evaluate
from .results import PPMRegTerms

__all__ = ["PPMRegTerms", "ppm_reg", "ppm_reg_value_and_grad"]


@on_host_kernels
def ppm_reg(
    X,
    Y,
    *,
    bandwidth,
    dims=(0, 1),
    weights=None,
    n_subsamples=1024,
    rng=None,
    replace=True,
    weight_power=1.0,
    estimator="v",
    squared=True,
    method="auto",
    tol=1e-10,
    backend="auto",
    check_finite=True,
    return_terms=False,
):
    """PPM-Reg: ``T(X, Y) = sum_{q in dims} lambda_q MMD^2(PPM_q(X), PPM_q(Y))``.

    For each ``q`` in ``dims``, ``n_subsamples`` subsamples of ``2q + 2`` points
    are drawn from ``X`` and, independently, from ``Y`` (all from the one ``rng``),
    and the MMD of :func:`mmd` compares the two PPMs.

    Parameters
    ----------
    X : array, shape (N_X, d_X), or (B, N_X, d_X) for a batch of clouds
    Y : array, shape (N_Y, d_Y), or (B, N_Y, d_Y) with a batched ``X``
        Same namespace, device and dtype as ``X``. ``N`` and ``d`` may differ: a
        PPM depends only on distances within one cloud. A batched ``X`` with a 2-D
        ``Y`` compares every item with that one ``Y``. Every item of a batch takes
        the same subsamples: item ``b`` is the call on ``(X[b], Y[b])`` with the
        same ``rng`` (``docs/api.md``, "Batches of clouds").
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
    value : 0-d array in the namespace, device and dtype of ``X`` (shape ``(B,)`` for a batch).
    terms : PPMRegTerms
        Only with ``return_terms=True``: ``(value, terms)``.

    Examples
    --------
    >>> import numpy as np, ppm_array as pa
    >>> X, Y = np.random.default_rng(0).normal(size=(2, 100, 2))
    >>> float(pa.ppm_reg(X, X, bandwidth=0.2, rng=0)) == float(pa.ppm_reg(X, X, bandwidth=0.2, rng=0))
    True
    """
    options = RegularizerOptions.check(
        bandwidth=bandwidth,
        dims=dims,
        weights=weights,
        n_subsamples=n_subsamples,
        replace=replace,
        weight_power=weight_power,
        estimator=estimator,
        squared=squared,
        method=method,
        tol=tol,
        backend=backend,
        check_finite=check_finite,
        return_terms=return_terms,
    )
    return evaluate(X, Y, options, rng, with_grad=False)


@on_host_kernels
def ppm_reg_value_and_grad(
    X,
    Y,
    *,
    bandwidth,
    dims=(0, 1),
    weights=None,
    n_subsamples=1024,
    rng=None,
    replace=True,
    weight_power=1.0,
    estimator="v",
    squared=True,
    method="auto",
    tol=1e-10,
    backend="auto",
    check_finite=True,
    return_terms=False,
):
    """:func:`ppm_reg` and its gradients with respect to ``X`` and ``Y``.

    The same ``rng`` draws the same subsamples as :func:`ppm_reg`, so the value
    is identical.

    Returns
    -------
    value : 0-d array (shape ``(B,)`` for a batch)
    grad_X : array, shape of ``X``
    grad_Y : array, shape of ``Y``
        In the namespace, device and dtype of the inputs. For a ``Y`` shared by a
        batch, the gradient of ``value.sum()``: every item's, summed.
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
    options = RegularizerOptions.check(
        bandwidth=bandwidth,
        dims=dims,
        weights=weights,
        n_subsamples=n_subsamples,
        replace=replace,
        weight_power=weight_power,
        estimator=estimator,
        squared=squared,
        method=method,
        tol=tol,
        backend=backend,
        check_finite=check_finite,
        return_terms=return_terms,
    )
    return evaluate(X, Y, options, rng, with_grad=True)

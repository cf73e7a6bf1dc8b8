"""Kernel MMD between two principal persistence measures (paper Eq. 9, 12, 13)."""

from __future__ import annotations

import numpy as np

from .._backends import select_backend
from .._backends.host_views import on_host_kernels
from .._boundary import validation as v
from .._boundary.namespace import array_namespace, cast, device
from .._boundary.options import MMDOptions
from .._persistence.checks import check_sample
from .mmd import kernel_mmd

__all__ = ["mmd", "mmd_value_and_grad"]


def _prepare(P, Q, estimator, backend, check_finite, keywords):
    """Validate both samples and the options: working samples (float32 or float64), the caller's dtype."""
    check_finite = v.check_bool(check_finite, "check_finite")
    P = check_sample(P, "P", check_values=check_finite)
    xp = array_namespace(P.birth)
    Q = check_sample(Q, "Q", xp=xp, device=device(P.birth), check_values=check_finite)
    if P.birth.dtype != Q.birth.dtype:
        raise TypeError(f"P and Q must have the same dtype; got {P.birth.dtype} and {Q.birth.dtype}")
    if P.q != Q.q:
        raise ValueError(f"P and Q must have the same homology dimension; got q={P.q} and q={Q.q}")
    options = MMDOptions.check(estimator=estimator, **keywords)
    if options.unbiased:
        for name, sample in (("P", P), ("Q", Q)):
            if sample.birth.shape[0] < 2:
                raise ValueError(f"estimator='u' needs at least 2 points in {name}; got {sample.birth.shape[0]}")
    result_dtype = P.birth.dtype
    working = result_dtype if result_dtype in (xp.float32, xp.float64) else xp.float32
    P, Q = (
        S._replace(
            birth=cast(S.birth, working, xp), lifetime=cast(S.lifetime, working, xp), mass=cast(S.mass, working, xp)
        )
        for S in (P, Q)
    )
    return P, Q, xp, options, select_backend(v.check_backend(backend), P.birth), result_dtype


def _finite_result(value, xp):
    if not bool(xp.all(xp.isfinite(value))):
        raise ValueError(
            "P and Q give an MMD that overflows their dtype; rescale the points and the bandwidth "
            "(the MMD of c z with bandwidth c h is c^(2 weight_power) times that of z with h)"
        )


@on_host_kernels
def mmd(
    P,
    Q,
    *,
    bandwidth,
    weight_power=1.0,
    estimator="v",
    squared=True,
    method="auto",
    tol=1e-10,
    backend="auto",
    check_finite=True,
):
    """Kernel MMD between two persistence samples.

    With ``k(z1, z2) = w(l1) w(l2) exp(-|z1 - z2|^2 / (2 h^2))``, ``z = (birth,
    lifetime)``, ``w(l) = l^p`` and masses ``alpha``, ``beta``::

        MMD^2 = sum_ij a_i a_j k(z_i, z_j) - 2 sum_ij a_i b_j k(z_i, y_j) + sum_ij b_i b_j k(y_i, y_j)

    Parameters
    ----------
    P, Q : PersistenceSample
        Same namespace, device, dtype and ``q``.
    bandwidth : float or "median"
        ``h > 0`` (a Python number or a 0-d array or tensor). The paper's ``sigma``
        is ``h**2``; the published code's ``width`` is ``2 * h**2``. ``"median"``
        is the median heuristic: ``h`` is the median of ``|z_i - z_j|`` over the
        pairs of points with a feature of both samples pooled (the first 128 of
        each); no gradient flows through it (see ``docs/choosing_parameters.md``).
    weight_power : float, default 1
        ``p`` in ``[1, 16]`` (the paper: 1); beyond 16 every lifetime but the
        largest weighs less than float32's rounding of it.
    estimator : {"v", "u"}, default "v"
        ``"v"``: the formula above (the paper's). ``"u"``: the within-sums drop
        their ``i = j`` terms and are divided by ``1 - sum_i a_i^2`` (that is,
        by ``s (s - 1)`` instead of ``s^2`` for equal masses); unbiased.
    squared : bool, default True
        ``True`` returns ``MMD^2``; ``False`` returns ``sqrt(max(MMD^2, 0))``.
    method : {"auto", "direct", "fft"}, default "auto"
        ``"direct"`` sums the kernel over every pair of points (``O(s^2)``, exact
        to rounding). ``"fft"`` goes through the Gaussian's Fourier transform on a
        frequency grid sized by ``tol``, the bandwidth and the points' range
        (``O(s log s)``; ``docs/math.md``), with non-uniform FFTs from FINUFFT (NumPy,
        the ``fft`` extra), cuFINUFFT (CuPy) or, without them, an explicit sum over
        the grid. ``"auto"`` takes the Fourier method from 2000 points (both samples
        together, where it was measured to be faster: ``docs/scaling.md``) when a
        NUFFT library is installed, and the direct sum below that or when the grid
        would be too large; ``"fft"`` refuses such a grid with a ``ValueError``.
    tol : float in [1e-12, 1), default 1e-10
        The Fourier method's error: the value within ``tol * S^2``, ``S = sum a_i
        w(l_i) + sum b_j w(l'_j)`` (the size at which the direct sum rounds too),
        and the gradients within ``tol`` times their size (``docs/math.md``): a
        relative error of ``tol`` where the terms do not cancel. Ignored by ``"direct"``.
    backend : {"auto", "array_api", "numba"}
    check_finite : bool, default True
        Refuse non-finite points and negative masses or lifetimes, and a value
        that overflows the dtype (a few reductions; host synchronisations on a GPU).

    Returns
    -------
    value : 0-d array in the namespace, device and dtype of ``P``.

    Examples
    --------
    >>> import numpy as np, ppm_array as pa
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> P = pa.principal_persistence(X, 1, n_subsamples=100, rng=1)
    >>> abs(float(pa.mmd(P, P, bandwidth=0.5))) < 1e-15   # 0 up to rounding
    True
    """
    P, Q, xp, options, backend, dtype = _prepare(
        P,
        Q,
        estimator,
        backend,
        check_finite,
        dict(bandwidth=bandwidth, weight_power=weight_power, squared=squared, method=method, tol=tol),
    )
    with np.errstate(over="ignore"):  # an overflowing value is refused below
        value = kernel_mmd(backend, P, Q, options, with_grad=False, grad_at_collapsed=True, xp=xp).value
        value = xp.asarray(cast(value, dtype, xp))
    if check_finite:
        _finite_result(value, xp)
    return value


@on_host_kernels
def mmd_value_and_grad(
    P,
    Q,
    *,
    bandwidth,
    weight_power=1.0,
    estimator="v",
    squared=True,
    method="auto",
    tol=1e-10,
    backend="auto",
    check_finite=True,
):
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
    P, Q, xp, options, backend, dtype = _prepare(
        P,
        Q,
        estimator,
        backend,
        check_finite,
        dict(bandwidth=bandwidth, weight_power=weight_power, squared=squared, method=method, tol=tol),
    )
    with np.errstate(over="ignore"):  # an overflowing result is refused below
        value, grads, _ = kernel_mmd(backend, P, Q, options, with_grad=True, grad_at_collapsed=True, xp=xp)
        value = xp.asarray(cast(value, dtype, xp))
        grads_p, grads_q = (tuple(cast(g, dtype, xp) for g in pair) for pair in grads)
    if check_finite:
        _finite_result(xp.stack([value, *(xp.max(xp.abs(g)) for g in grads_p + grads_q)]), xp)
    return value, grads_p, grads_q

"""Main losses of the shape-matching experiment, with explicit gradients.

Shape matching (paper Section 6.2) adds PPM-Reg to a main loss: the energy
distance ("Cramér") or an RBF-kernel MMD between the clouds. Both cost
``O(N_X N_Y d)``; they serve the experiments, not the library's public API.
"""

from __future__ import annotations

from .._boundary import validation as v
from .._boundary.namespace import cast
from .._boundary.namespace import device as device_of

__all__ = ["cramer_paired_value_and_grad", "energy_distance_value_and_grad", "rbf_mmd_value_and_grad"]


def _in_caller_dtypes(value, grad_x, grad_y, cloud_x, cloud_y):
    xp = cloud_x.xp
    return (
        xp.asarray(cast(value, cloud_x.result_dtype, xp)),
        cast(grad_x, cloud_x.result_dtype, xp),
        cast(grad_y, cloud_y.result_dtype, xp),
    )


def _clouds(X, Y):
    """Two validated clouds of one library, device, dtype and feature dimension."""
    cloud_x, cloud_y = v.points(X, "X"), v.points(Y, "Y")
    v.check_same_library(cloud_x, cloud_y, ("X", "Y"))
    if cloud_x.array.shape[1] != cloud_y.array.shape[1]:
        raise ValueError(
            f"X and Y must have the same number of features; got {cloud_x.array.shape[1]} and {cloud_y.array.shape[1]}"
        )
    return cloud_x, cloud_y


def _mean_distance(A, B, xp):
    """``mean_ij |a_i - b_j|`` and its gradients with respect to ``A`` and ``B`` (0 where points coincide)."""
    diff = A[:, None, :] - B[None, :, :]
    norm = xp.sqrt(xp.sum(diff * diff, axis=-1))
    scale = 1.0 / (A.shape[0] * B.shape[0])
    unit = diff / xp.where(norm > 0, norm, xp.ones_like(norm))[..., None]
    return xp.sum(norm) * scale, xp.sum(unit, axis=1) * scale, -xp.sum(unit, axis=0) * scale


def _halves(n_points: int, generator, xp, device):
    order = generator.permutation(n_points)
    half = n_points // 2
    return xp.asarray(order[:half], device=device), xp.asarray(order[half:], device=device)


def _unsplit(first, second, grad_first, grad_second, xp):
    """Put the gradients of the two halves back in the rows they came from."""
    inverse = xp.argsort(xp.concat([first, second]))
    return xp.take(xp.concat([grad_first, grad_second], axis=0), inverse, axis=0)


def _paired_distance(A, B, xp):
    """``|a_i - b_i|`` row by row, and the unit vectors ``(a_i - b_i) / |a_i - b_i|`` (0 where they coincide)."""
    diff = A - B
    norm = xp.sqrt(xp.sum(diff * diff, axis=-1))
    return norm, diff / xp.where(norm > 0, norm, xp.ones_like(norm))[:, None]


def cramer_paired_value_and_grad(X, Y, *, rng=None):
    """The published shape-matching script's Cramér loss, on rows paired at random, and its gradients.

    ``X`` (trained) and ``Y`` (reference) are each permuted at random; with ``h =
    min(N_X // 2, N_Y)`` rows, ``X0, X1`` are the first two blocks of ``h`` rows of ``X``
    and ``Y0`` the first of ``Y``::

        C = mean_i ( |Y0_i - X0_i| - |X0_i - X1_i| + |Y0_i - X1_i| )

    whose expectation ``2 E|X - Y| - E|X - X'|`` is the energy distance up to the
    constant ``E|Y - Y'|``. It pairs ``h`` rows where
    :func:`energy_distance_value_and_grad` averages over all pairs of two halves:
    the same expectation, a larger variance, and ``O(N)`` cost.

    Returns
    -------
    value : 0-d array
    grad_X, grad_Y : arrays of the shapes of ``X`` and ``Y``

    Examples
    --------
    >>> import numpy as np
    >>> X, Y = np.random.default_rng(0).normal(size=(2, 100, 2))
    >>> value, grad_X, grad_Y = cramer_paired_value_and_grad(X, Y + 3, rng=0)
    >>> bool(value > 2), grad_X.shape
    (True, (100, 2))
    """
    cloud_x, cloud_y = _clouds(X, Y)
    if cloud_x.array.shape[0] < 2:
        raise ValueError(f"X needs at least 2 points to be paired; got {cloud_x.array.shape[0]}")
    generator = v.check_rng(rng)
    xp, device = cloud_x.xp, cloud_x.device
    X, Y = cloud_x.array, cloud_y.array
    h = min(X.shape[0] // 2, Y.shape[0])
    order_x = xp.asarray(generator.permutation(X.shape[0]), device=device)
    order_y = xp.asarray(generator.permutation(Y.shape[0]), device=device)
    X0, X1, Y0 = (xp.take(A, rows, axis=0) for A, rows in ((X, order_x[:h]), (X, order_x[h : 2 * h]), (Y, order_y[:h])))
    d_y0_x0, u_y0_x0 = _paired_distance(Y0, X0, xp)
    d_x0_x1, u_x0_x1 = _paired_distance(X0, X1, xp)
    d_y0_x1, u_y0_x1 = _paired_distance(Y0, X1, xp)
    value = xp.sum(d_y0_x0 - d_x0_x1 + d_y0_x1) / h
    grad_x = _unpermute(order_x, xp.concat([-u_y0_x0 - u_x0_x1, u_x0_x1 - u_y0_x1], axis=0) / h, xp)
    grad_y = _unpermute(order_y, (u_y0_x0 + u_y0_x1) / h, xp)
    return _in_caller_dtypes(value, grad_x, grad_y, cloud_x, cloud_y)


def _unpermute(order, leading, xp):
    """Gradients in the original row order: ``leading`` holds those of the rows ``order[:len(leading)]``, the
    other rows get 0."""
    rest = xp.zeros(
        (order.shape[0] - leading.shape[0], leading.shape[1]), dtype=leading.dtype, device=device_of(leading)
    )
    return xp.take(xp.concat([leading, rest], axis=0), xp.argsort(order), axis=0)


def energy_distance_value_and_grad(X, Y, *, rng=None):
    """Energy distance between two clouds over random halves, and its gradients.

    ``X`` and ``Y`` are each split at random into halves ``X1, X2`` and ``Y1, Y2``::

        E = mean|X1 - Y1| + mean|X2 - Y2| - mean|X1 - X2| - mean|Y1 - Y2|

    an unbiased estimate of the energy distance ``2 E|X - Y| - E|X - X'| - E|Y - Y'|``
    (the Cramér distance of Cramér GANs), as in the paper's shape matching.

    Parameters
    ----------
    X : array, shape (N_X, d), N_X >= 2
    Y : array, shape (N_Y, d), N_Y >= 2
    rng : None, int or numpy.random.Generator
        Draws the halves.

    Returns
    -------
    value : 0-d array
    grad_X, grad_Y : arrays of the shapes of ``X`` and ``Y``

    Examples
    --------
    >>> import numpy as np
    >>> X, Y = np.random.default_rng(0).normal(size=(2, 100, 2))
    >>> value, grad_X, grad_Y = energy_distance_value_and_grad(X, Y + 3, rng=0)
    >>> bool(value > 2), grad_X.shape
    (True, (100, 2))
    """
    cloud_x, cloud_y = _clouds(X, Y)
    for name, cloud in (("X", cloud_x), ("Y", cloud_y)):
        if cloud.array.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 points to be split in halves; got {cloud.array.shape[0]}")
    generator = v.check_rng(rng)
    xp, device = cloud_x.xp, cloud_x.device
    X, Y = cloud_x.array, cloud_y.array
    x1, x2 = _halves(X.shape[0], generator, xp, device)
    y1, y2 = _halves(Y.shape[0], generator, xp, device)
    X1, X2, Y1, Y2 = (xp.take(A, rows, axis=0) for A, rows in ((X, x1), (X, x2), (Y, y1), (Y, y2)))
    v11, g_x1, g_y1 = _mean_distance(X1, Y1, xp)
    v22, g_x2, g_y2 = _mean_distance(X2, Y2, xp)
    vxx, h_x1, h_x2 = _mean_distance(X1, X2, xp)
    vyy, h_y1, h_y2 = _mean_distance(Y1, Y2, xp)
    value = v11 + v22 - vxx - vyy
    grad_x = _unsplit(x1, x2, g_x1 - h_x1, g_x2 - h_x2, xp)
    grad_y = _unsplit(y1, y2, g_y1 - h_y1, g_y2 - h_y2, xp)
    return _in_caller_dtypes(value, grad_x, grad_y, cloud_x, cloud_y)


def _kernel_mean(A, B, width, xp):
    """``mean_ij exp(-|a_i - b_j|^2 / width)`` and its gradient with respect to ``A`` and ``B``."""
    diff = A[:, None, :] - B[None, :, :]
    kernel = xp.exp(-xp.sum(diff * diff, axis=-1) / width)
    scale = 1.0 / (A.shape[0] * B.shape[0])
    push = (-2.0 / width) * kernel[..., None] * diff * scale
    return xp.sum(kernel) * scale, xp.sum(push, axis=1), -xp.sum(push, axis=0)


def rbf_mmd_value_and_grad(X, Y, *, width=0.1):
    """Squared RBF-kernel MMD (V-statistic) between two clouds, and its gradients.

    ``k(x, y) = exp(-|x - y|^2 / width)`` (the published code's convention; the
    paper's shape matching uses ``width = 0.1``)::

        MMD^2 = mean k(X, X) + mean k(Y, Y) - 2 mean k(X, Y)

    Returns
    -------
    value : 0-d array
    grad_X, grad_Y : arrays of the shapes of ``X`` and ``Y``

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> value, grad_X, _ = rbf_mmd_value_and_grad(X, X)
    >>> float(value), float(np.abs(grad_X).max())
    (0.0, 0.0)
    """
    cloud_x, cloud_y = _clouds(X, Y)
    width = v.check_positive_real(width, "width")
    xp = cloud_x.xp
    X, Y = cloud_x.array, cloud_y.array
    kxx, gxx_a, gxx_b = _kernel_mean(X, X, width, xp)
    kyy, gyy_a, gyy_b = _kernel_mean(Y, Y, width, xp)
    kxy, gxy_x, gxy_y = _kernel_mean(X, Y, width, xp)
    value = kxx + kyy - 2 * kxy
    grad_x = gxx_a + gxx_b - 2 * gxy_x
    grad_y = gyy_a + gyy_b - 2 * gxy_y
    return _in_caller_dtypes(value, grad_x, grad_y, cloud_x, cloud_y)

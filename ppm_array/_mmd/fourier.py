"""Kernel moments through the Gaussian's Fourier transform: ``O(s log s)`` instead of ``O(s^2)`` pairs.

The kernel of the MMD is a Gaussian on the persistence points (``D = 1`` when every
birth is 0, as for ``q = 0``; ``D = 2`` otherwise), and a Gaussian's Fourier transform
is a Gaussian::

    exp(-|x|^2 / (2 h^2)) = (h^2 / (2 pi))^(D/2) * integral exp(-h^2 |w|^2 / 2) exp(i w . x) dw.

So the potential of a weighted point set, ``U(z) = sum_j c_j k(z - z_j)``, is an
integral against its characteristic function ``phi(w) = sum_j c_j exp(i w . z_j)``.
On a uniform grid ``w_k = k dw`` the rectangle rule sums that integral exactly up
to aliasing: the result is the potential of the kernel made periodic with period
``L = 2 pi / dw`` (Poisson summation). For data of range ``R`` per axis the grid has

- a period ``L = R + h tau``, so that every periodic copy of the kernel is at least
  ``h tau`` away from every point;
- frequencies up to ``|w| = tau / h`` (``M = 2 ceil(tau L / (2 pi h)) + 2`` modes per
  axis, whatever the number of points).

Relative to the size ``sum_j |c_j|`` of ``U`` (and ``sum_j |c_j| / h`` of its
gradient), the nearest copies on both sides of each of the ``D <= 2`` axes change
``U`` by at most ``2 D exp(-tau^2 / 2)`` and its gradient by ``2 D tau exp(-tau^2 / 2)``;
the frequencies left out by at most ``D exp(-tau^2 / 2)`` each (Gaussian tails). So
``tau`` is the smallest with ``2 (2 tau + 1) exp(-tau^2 / 2) <= tol / 2``, and the
NUFFTs run at a precision of ``tol / 20``: the potentials and their gradients are
within ``tol`` of their size, and the MMD within ``tol (sum_P |v| + sum_Q |v|)^2``
(``docs/math.md``).
``phi`` on the grid is a type-1 non-uniform FFT of the points, and ``U`` and its
gradient at the points a type-2 one (the gradient's coefficients are those of ``U``
times ``i w``). Each of the two truncations, and the NUFFT's own precision, contributes
at most about ``tol`` times ``sum_i |c_i| sum_j |c_j|`` to any potential: the error is
relative to the size of the weights, the size at which the direct sum also rounds.

:func:`pair_moments` returns the moments of :mod:`ppm_array._mmd.kernel` (``m0 = U``
without the point's own term, ``mb`` and ``ml`` from the gradient: ``-h^2 dU/db`` and
``-h^2 dU/dl``), so everything downstream is shared with the direct method. The
transforms come from the backend (:func:`ppm_array._backends._nufft`): FINUFFT for
NumPy, cuFINUFFT for CuPy, an explicit sum over the grid in Array-API calls otherwise.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._backends.compaction import expand, weighted
from .._backends.contract import KernelPoints, Moments
from .._boundary import namespace
from .._boundary.namespace import device as device_of

__all__ = ["Grid", "MAX_MODES", "decay_radius", "design_grid", "pair_moments", "squared_bandwidth"]

# Grids beyond this many modes (256 MiB of complex128 coefficients) are refused.
MAX_MODES = 2**24


class Grid(NamedTuple):
    """A frequency grid: ``modes[a]`` frequencies ``k * spacing[a]`` (``k = -M/2 .. M/2 - 1``) per axis, and
    the centre that the points are shifted by before the transforms."""

    modes: tuple
    spacing: tuple
    centre: tuple
    bandwidth: float


def decay_radius(tol: float) -> float:
    """The smallest ``tau`` with ``2 (2 tau + 1) exp(-tau^2 / 2) <= tol / 2`` (see the module docstring)."""
    tau = math.sqrt(2.0 * math.log(1.0 / tol))
    for _ in range(8):  # a contraction: tau changes by less than 1e-6 after a few steps
        tau = math.sqrt(2.0 * math.log(4.0 * (2.0 * tau + 1.0) / tol))
    return tau


def design_grid(low: tuple, high: tuple, bandwidth: float, tol: float) -> Grid:
    """The grid for points in the box ``[low, high]`` (one entry per axis), kernel bandwidth ``h`` and ``tol``.

    Raises ``ValueError`` when the grid would exceed :data:`MAX_MODES` (a range
    far beyond the bandwidth): use ``method="direct"`` there.
    """
    tau = decay_radius(tol)
    modes, spacing, centre = [], [], []
    for lo, hi in zip(low, high):
        period = (hi - lo) + bandwidth * tau
        modes.append(2 * math.ceil(tau * period / (2.0 * math.pi * bandwidth)) + 2)
        spacing.append(2.0 * math.pi / period)
        centre.append(0.5 * (lo + hi))
    if math.prod(modes) > MAX_MODES:
        raise ValueError(
            f"method='fft' needs a grid of {' x '.join(map(str, modes))} frequencies for points spread over "
            f"{max(h - l for l, h in zip(low, high)):.3g} with bandwidth {bandwidth:.3g} and tol {tol:g}, more than "
            f"{MAX_MODES}; use method='direct' (or 'auto', which falls back to it)"
        )
    return Grid(tuple(modes), tuple(spacing), tuple(centre), bandwidth)


def _frequencies(grid: Grid, xp, device):
    """Per axis, the frequencies ``k * spacing`` of the modes (float64), shaped to broadcast over the grid."""
    axes = []
    for axis, (m, dw) in enumerate(zip(grid.modes, grid.spacing)):
        w = xp.astype(xp.arange(-(m // 2), m - m // 2, device=device), xp.float64) * dw
        shape = [1] * len(grid.modes)
        shape[axis] = m
        axes.append(xp.reshape(w, tuple(shape)))
    return axes


def _coefficient_weights(grid: Grid, frequencies, xp):
    """``C prod(dw) exp(-h^2 |w|^2 / 2)`` on the grid, 0 on the unpaired mode ``-M/2`` of each axis so that
    the coefficients of a real potential are exactly Hermitian."""
    h = grid.bandwidth
    dimension = len(grid.modes)
    constant = (h * h / (2.0 * math.pi)) ** (dimension / 2) * math.prod(grid.spacing)
    squared = sum(w * w for w in frequencies)
    weights = constant * xp.exp(-0.5 * h * h * squared)
    for w in frequencies:
        weights = xp.where(w == xp.min(w), xp.zeros_like(weights), weights)
    return weights


def _angles(points, grid: Grid, xp):
    """The points' coordinates as angles ``(z - centre) * spacing`` in ``[-pi, pi]``, one array per axis."""
    return tuple((coordinate - c) * dw for coordinate, c, dw in zip(points, grid.centre, grid.spacing))


def _potentials(transforms, characteristic, weights, frequencies, targets, grid: Grid, xp):
    """``U`` and its gradient (one array per axis) at ``targets`` from a set's characteristic function."""
    coefficients = xp.astype(weights, xp.complex128) * xp.conj(characteristic)
    derivatives = [1j * xp.astype(w, xp.complex128) * coefficients for w in frequencies]  # d/dz_a: times i w_a
    # U and each dU/dz_a are real: two of them share one complex transform, U + i dU/dz_0.
    packed = [coefficients + 1j * derivatives[0]]
    if len(frequencies) == 2:
        packed.append(derivatives[1])
    if targets[0].shape[0] == 0:
        nothing = xp.zeros((0,), dtype=xp.float64, device=device_of(targets[0]))
        return nothing, [nothing] * len(frequencies)
    values = transforms.type2(_angles(targets, grid, xp), xp.stack(packed))
    potential, gradient = xp.real(values[0, :]), [xp.imag(values[0, :])]
    if len(frequencies) == 2:
        gradient.append(xp.real(values[1, :]))
    return potential, gradient


def _moments(potential, gradient, h2: float, planar: bool, self_weight, xp) -> Moments:
    m0 = potential if self_weight is None else potential - self_weight
    if planar:
        return Moments(m0, -h2 * gradient[0], -h2 * gradient[1])
    return Moments(m0, xp.zeros_like(m0), -h2 * gradient[0])


def _weighted_in_float64(S, xp):
    """The points with a weight (:func:`~ppm_array._backends.compaction.weighted`), in float64."""
    rows, points = weighted(S, xp)
    return rows, KernelPoints(*(xp.astype(a, xp.float64) for a in points))


def _extent(sets, xp, pool):
    """Whether any birth is nonzero, and the box ``(low, high)`` of the points' coordinates (birth and lifetime,
    or lifetime alone), over ``sets`` and, with a pool, over every rank; ``(planar, None, None)`` without points.

    One vector ``(planar, -min, max per axis)`` is reduced by its maximum: the same grid on every rank.
    """
    extent = [float(any(bool(xp.any(points.birth != 0)) for points in sets))]
    for axis in ("birth", "lifetime"):
        values = [getattr(points, axis) for points in sets if points.v.shape[0]]
        extent += [
            max((-float(xp.min(v)) for v in values), default=-math.inf),
            max((float(xp.max(v)) for v in values), default=-math.inf),
        ]
    if pool is not None:
        reduced = pool.max(xp.asarray(extent, dtype=xp.float64, device=device_of(sets[0].v)))
        extent = [float(e) for e in reduced]
    planar, low_birth, high_birth, low_lifetime, high_lifetime = extent
    if high_lifetime == -math.inf:
        return bool(planar), None, None
    if planar:
        return True, (-low_birth, -low_lifetime), (high_birth, high_lifetime)
    return False, (-low_lifetime,), (high_lifetime,)


def _characteristic(transforms, angles, strengths, grid: Grid, xp, pool):
    """``phi`` of one set on the grid: the points' own (a type-1 NUFFT), summed over the ranks of a pool."""
    if strengths.shape[0]:
        phi = transforms.type1(angles, strengths, grid.modes)
    else:
        phi = xp.zeros(grid.modes, dtype=xp.complex128, device=device_of(strengths))
    if pool is None:
        return phi
    parts = pool.sum(xp.stack([xp.real(phi), xp.imag(phi)]))  # the pool reduces real arrays
    return xp.astype(parts[0, ...], xp.complex128) + 1j * xp.astype(parts[1, ...], xp.complex128)


def squared_bandwidth(inv_two_h2, low: tuple, high: tuple, xp):
    """``h^2 = 1 / (2 inv_two_h2)``, at most ``2^60`` times the squared diagonal of the points' box (1 for a
    box of one point). Beyond that the kernel is 1 over the box to float64 rounding, so the cap changes
    nothing, and a bandwidth far above the data's magnitude (``inv_two_h2`` 0 or subnormal) still gives a grid.

    In ``xp``'s arithmetic, without a branch on the values: the host method passes NumPy scalars, the
    fixed-shape method (:mod:`.fourier_fixed`) traced arrays."""
    diagonal = sum((hi - lo) ** 2 for lo, hi in zip(low, high))
    cap = xp.where(diagonal > 0, 2.0**60 * diagonal, 1.0)
    return xp.where(inv_two_h2 * cap <= 0.5, cap, 1.0 / (2.0 * xp.maximum(inv_two_h2, 1e-300)))


def pair_moments(A, B, *, same_set: bool, inv_two_h2, tol: float, transforms, xp, fallback=None, pool=None):
    """The contract of a backend's ``pair_moments`` (:mod:`ppm_array._backends`), by the Fourier method.

    Moments in float64; points with ``v == 0`` are left out of the transforms (their
    moments are 0, as the contract allows). Reads the points' range and the
    bandwidth back to the host, and selects the points with a weight (a
    data-dependent shape): host synchronisations on a GPU. Where the grid would
    exceed :data:`MAX_MODES`, ``fallback`` (another ``pair_moments``) computes
    the moments instead; without one, ``ValueError``.

    With a ``pool`` (:mod:`ppm_array._mmd.pooled`) the partner sets are pooled over its
    ranks: the grid is designed for every rank's points, and each set's
    characteristic function (``M^D`` complex numbers, whatever ``s`` and ``N``) is
    summed over the ranks before the potentials at the rank's own points.
    """

    def instead(reason: ValueError):
        if fallback is None:
            raise reason
        return fallback(A, B, same_set=same_set, inv_two_h2=inv_two_h2, xp=xp)

    device = device_of(A.v)
    if not namespace.has_float64(xp, device):
        return instead(
            ValueError(
                f"method='fft' computes in float64, which the device {device} does not support; "
                "use method='direct' (or 'auto', which falls back to it)"
            )
        )
    full_sets = (A,) if same_set else (A, B)
    compact = [_weighted_in_float64(S, xp) for S in full_sets]
    sets = [points for _, points in compact]
    planar, low, high = _extent(sets, xp, pool)
    if low is None:  # no point with a weight anywhere: every moment is 0
        empty = [xp.zeros((S.v.shape[0],), dtype=xp.float64, device=device_of(S.v)) for S in full_sets]
        moments = [Moments(e, e, e) for e in empty]
        return (moments[0], moments[0]) if same_set else tuple(moments)
    with np.errstate(over="ignore", invalid="ignore"):  # as Python floats: inf (or nan) past the range, no warning
        h2 = float(squared_bandwidth(np.float64(inv_two_h2), low, high, np))
    try:
        grid = design_grid(low, high, math.sqrt(h2), tol)
    except ValueError as error:
        return instead(error)
    coordinates = [((points.birth, points.lifetime) if planar else (points.lifetime,)) for points in sets]
    frequencies = _frequencies(grid, xp, device)
    weights = _coefficient_weights(grid, frequencies, xp)
    characteristics = [
        _characteristic(transforms, _angles(c, grid, xp), points.v, grid, xp, pool)
        for c, points in zip(coordinates, sets)
    ]
    if same_set:
        potential, gradient = _potentials(
            transforms, characteristics[0], weights, frequencies, coordinates[0], grid, xp
        )
        within = expand(compact[0][0], _moments(potential, gradient, h2, planar, sets[0].v, xp), A.v.shape[0], xp)
        return within, within
    results = []
    for source, target in ((1, 0), (0, 1)):  # A against B's characteristic function, then B against A's
        potential, gradient = _potentials(
            transforms, characteristics[source], weights, frequencies, coordinates[target], grid, xp
        )
        results.append(
            expand(
                compact[target][0],
                _moments(potential, gradient, h2, planar, None, xp),
                full_sets[target].v.shape[0],
                xp,
            )
        )
    return tuple(results)

"""MMD value and gradients from per-point kernel moments: the assembly every backend shares.

A backend streams over pairs of persistence points and returns, for each point
``i`` of a set ``A`` against a partner set ``B``::

    m0_i = sum_j v_j E_ij
    mb_i = sum_j v_j E_ij (b_i - b_j)
    ml_i = sum_j v_j E_ij (l_i - l_j)

with ``v_j = mass_j w(l_j)`` and ``E_ij = exp(-|z_i - z_j|^2 / (2 h^2))``. Within-set
moments exclude ``j = i``. This module defines the weights and turns the moments
into ``MMD^2`` and its gradients, in Array-API calls.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .._backends.contract import KernelPoints, Moments
from .._boundary.namespace import cast

__all__ = ["PointSet", "assemble", "point_set"]


class PointSet(NamedTuple):
    """One PPM's points with their kernel weights: ``v = mass * w(lifetime)``, ``dw = w'(lifetime)``."""

    birth: Any
    lifetime: Any
    mass: Any
    v: Any
    dw: Any

    @property
    def kernel_points(self) -> KernelPoints:
        return KernelPoints(self.birth, self.lifetime, self.v)


def point_set(birth, lifetime, mass, weight_power: float) -> PointSet:
    """The weights ``w(l) = l^p`` and ``w'(l) = p l^(p-1)`` (``w'(0) = 1`` for ``p = 1``, the right derivative)."""
    return PointSet(birth, lifetime, mass, mass * lifetime**weight_power, weight_power * lifetime ** (weight_power - 1))


def _gradient(points: PointSet, within: Moments, cross, within_factor, unbiased: bool, inv_h2):
    net = within if cross is None else Moments(*(within_factor * w - c for w, c in zip(within, cross)))
    # The V-statistic's within-sums include i = j (weight v, and a within-factor of 1); the U-statistic's do not.
    m0 = net.m0 if unbiased else net.m0 + points.v
    # inv_h2 multiplies last: it may be the largest finite number (a bandwidth far below the data's magnitude), and a
    # zero moment must then give 0, not inf * 0.
    grad_birth = -2.0 * (points.v * net.mb * inv_h2)
    # The points may be in a narrower dtype than the moments: each product with a moment promotes one of them.
    grad_lifetime = 2.0 * (m0 * points.dw * points.mass - points.v * net.ml * inv_h2)
    return grad_birth, grad_lifetime


def assemble(
    P: PointSet,
    Q: PointSet,
    within_p: Moments,
    within_q: Moments,
    cross_p,
    cross_q,
    *,
    inv_h2,
    unbiased: bool,
    with_grad: bool,
    xp,
    mass_square_sums=None,
):
    """``(MMD^2, grads)`` from the four moment sets; ``grads`` is ``((d_birth_P, d_lifetime_P), (..Q..))`` or None.

    ``cross_p`` are the moments of ``P``'s points against ``Q`` and ``cross_q`` of
    ``Q``'s points against ``P``; both None when they are already subtracted from the
    within-moments (the V-statistic's signed union). With ``unbiased`` the
    within-sums drop ``i = j`` and are divided by ``1 - sum a_i^2``, the sum over all
    points of the measure: ``mass_square_sums`` (one per set) when ``P`` and ``Q``
    hold only the points with a weight, by default the sums over their masses.

    The points may be in a narrower dtype than the moments (float32 points, float64 moments): the results are
    in the moments' dtype. Every array may have a leading batch axis (the points of item ``b`` in row ``b``):
    sums run over the last axis, and ``inv_h2`` broadcasts against the points (shape ``(B, 1)`` for one per
    item).
    """
    # The U-statistic's within-sums are divided by 1 - sum a_i^2 (the V-statistic's by 1).
    within_factor_p = within_factor_q = 1.0
    if unbiased:
        if mass_square_sums is None:
            masses = (cast(S.mass, within_p.m0.dtype, xp) for S in (P, Q))
            mass_square_sums = [xp.sum(mass * mass, axis=-1) for mass in masses]
        within_factor_p, within_factor_q = (1.0 / (1.0 - total) for total in mass_square_sums)
    # The V-statistic's within-sums include i = j (the U-statistic's do not).
    value = within_factor_p * xp.sum(P.v * (within_p.m0 if unbiased else within_p.m0 + P.v), axis=-1) + (
        within_factor_q * xp.sum(Q.v * (within_q.m0 if unbiased else within_q.m0 + Q.v), axis=-1)
    )
    if cross_p is not None:
        value = value - 2.0 * xp.sum(P.v * cross_p.m0, axis=-1)
    if not with_grad:
        return value, None
    grads_p = _gradient(P, within_p, cross_p, within_factor_p, unbiased, inv_h2)
    grads_q = _gradient(Q, within_q, cross_q, within_factor_q, unbiased, inv_h2)
    return value, (grads_p, grads_q)

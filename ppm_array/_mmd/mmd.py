"""The kernel MMD between two persistence samples and its gradients (paper Eq. 9, 12, 13), on validated
arguments: bandwidth, rescaling, weights, the moments of the chosen method, assembly, square root."""

from __future__ import annotations

from typing import Any, NamedTuple

from .._backends.contract import Backend, KernelPoints, Moments
from .._backends.segment_sum import segment_sum
from .._boundary.namespace import cast
from .._boundary.namespace import device as device_of
from .._persistence.sample import PersistenceSample
from .bandwidth import median_bandwidths
from .kernel import PointSet, assemble, point_set
from .method import pair_moments_method
from .rescaling import power_factors, power_of_two_unit, times

__all__ = ["MMDResult", "kernel_mmd"]


def _collapsed_row_sums(
    pair_moments, points: KernelPoints, partner: KernelPoints, moments: Moments, inv_two_h2, xp
) -> Moments:
    """``m0`` of the points with lifetime 0, which compiled backends skip.

    Needed only for the one-sided lifetime gradient at ``l = 0`` when ``p = 1``
    (``w'(0) = 1``). The selection has a data-dependent shape (one host
    synchronisation on a GPU); PPM-Reg never asks for it.
    """
    collapsed = xp.nonzero(points.lifetime == 0)[0]
    if collapsed.shape[0] == 0:
        return moments
    rows = KernelPoints(
        xp.take(points.birth, collapsed),
        xp.take(points.lifetime, collapsed),
        xp.ones((collapsed.shape[0],), dtype=points.v.dtype, device=device_of(points.v)),
    )
    row_moments, _ = pair_moments(rows, partner, same_set=False, inv_two_h2=inv_two_h2, xp=xp)
    filled = segment_sum(collapsed, row_moments.m0[:, None], points.lifetime.shape[0], xp=xp)[:, 0]
    m0 = xp.where(points.lifetime == 0, xp.astype(filled, moments.m0.dtype), moments.m0)
    return moments._replace(m0=m0)


def _moment_sets(pair_moments, P: PointSet, Q: PointSet, *, unbiased: bool, fill_collapsed: bool, inv_two_h2, xp):
    """The moments the assembly needs: within ``P``, within ``Q``, ``P`` against ``Q``, ``Q`` against ``P``
    (the last two None when they are folded into the first two).

    The V-statistic is ``|sum_P v phi(z) - sum_Q v phi(y)|^2``: one within-sum over the union of ``P`` and
    ``Q`` with ``Q``'s weights negated. A point's moments against that signed union are its within-moments
    minus its cross-moments (negated for ``Q``), and that difference is all the assembly uses when the
    within-sums are not rescaled: one backend call instead of three, and each point's difference is formed
    inside its own sum. The U-statistic rescales the within-sums, so they are computed apart.
    """
    kp, kq = P.kernel_points, Q.kernel_points
    if not unbiased:
        union = KernelPoints(*(xp.concat([a, b], axis=-1) for a, b in zip(kp, kq._replace(v=-kq.v))))
        combined, _ = pair_moments(union, union, same_set=True, inv_two_h2=inv_two_h2, xp=xp)
        if fill_collapsed:
            combined = _collapsed_row_sums(pair_moments, union, union, combined, inv_two_h2, xp)
        n_p = kp.v.shape[-1]
        return Moments(*(m[..., :n_p] for m in combined)), Moments(*(-m[..., n_p:] for m in combined)), None, None
    within_p, _ = pair_moments(kp, kp, same_set=True, inv_two_h2=inv_two_h2, xp=xp)
    within_q, _ = pair_moments(kq, kq, same_set=True, inv_two_h2=inv_two_h2, xp=xp)
    cross_p, cross_q = pair_moments(kp, kq, same_set=False, inv_two_h2=inv_two_h2, xp=xp)
    if fill_collapsed:
        within_p = _collapsed_row_sums(pair_moments, kp, kp, within_p, inv_two_h2, xp)
        within_q = _collapsed_row_sums(pair_moments, kq, kq, within_q, inv_two_h2, xp)
        cross_p = _collapsed_row_sums(pair_moments, kp, kq, cross_p, inv_two_h2, xp)
        cross_q = _collapsed_row_sums(pair_moments, kq, kp, cross_q, inv_two_h2, xp)
    return within_p, within_q, cross_p, cross_q


class MMDResult(NamedTuple):
    """The MMD (or its root), its gradients with respect to both samples' points (or None), and the
    bandwidth it used (the option's number, or the median rule's 0-d array)."""

    value: Any
    grads: Any
    bandwidth: Any


def kernel_mmd(
    backend: Backend,
    P: PersistenceSample,
    Q: PersistenceSample,
    options: Any,
    *,
    with_grad: bool,
    grad_at_collapsed: bool,
    xp: Any,
    mass_square_sums: Any = None,
    pool: Any = None,
) -> MMDResult:
    """MMD (``options.squared`` or its root) of two samples and, with ``with_grad``, its gradients.

    ``grads = ((d_birth_P, d_lifetime_P), (d_birth_Q, d_lifetime_Q))``, in the dtype
    the backend's moments come in. With ``grad_at_collapsed=False`` the lifetime
    gradient at points of lifetime 0 is left to the backend (0 where compiled
    backends skip those points, the one-sided derivative where the reference
    backend does not): PPM-Reg's VJP discards it. ``mass_square_sums`` are the sums of
    squared masses of the measures when ``P`` and ``Q`` hold only some of their
    points (:func:`monte_carlo_persistence`): floats, which the unbiased estimator needs.

    With a ``pool`` (:mod:`.pooled`), ``P`` and ``Q`` are this rank's shares
    of PPMs pooled over its ranks: the value is the pooled MMD, the same on every
    rank, and the gradients are its derivatives with respect to this rank's points.

    A batch of MMDs (PPM-Reg of a batch of clouds): the points of item ``b`` are row ``b`` of ``(B, s)``
    arrays, and the value, the bandwidth and every factor have shape ``(B,)``, one per item; each item is the
    MMD of its row alone (not with a pool, nor with ``grad_at_collapsed``).
    """
    p = options.weight_power
    bandwidth = median_bandwidths(P, Q, xp, pool) if options.bandwidth == "median" else options.bandwidth
    unit = power_of_two_unit(P, Q, xp, pool)
    unit_per_point = per_point(unit, xp)
    set_p, set_q = (point_set(S.birth / unit_per_point, S.lifetime / unit_per_point, S.mass, p) for S in (P, Q))
    # (unit / h)^2 overflows only for a bandwidth far below the data's magnitude: the kernel is then a
    # delta, and the largest finite number keeps 0 * inv_h2 = 0 where an infinity would give NaN. (A
    # multiplication, as unit is a power of two: the same number, and no division by a bandwidth that is 0
    # in the dtype, such as 1e-300 in float32. Not xp.clip: array-api-compat's clip selects with a boolean
    # mask, a host synchronisation on a GPU.)
    ratio = unit * (1.0 / bandwidth)
    squared = ratio * ratio
    inv_h2 = xp.minimum(squared, xp.full_like(squared, xp.finfo(squared.dtype).max))
    inv_two_h2 = inv_h2 / 2.0
    within_p, within_q, cross_p, cross_q = _moment_sets(
        pair_moments_method(backend, options, [set_p, set_q], xp, pool),
        set_p,
        set_q,
        unbiased=options.unbiased,
        fill_collapsed=with_grad and grad_at_collapsed and p == 1.0,
        inv_two_h2=inv_two_h2,
        xp=xp,
    )
    # The points stay in their dtype: the assembly multiplies them into the moments, which promotes them (exactly).
    dtype = within_p.m0.dtype
    unit = cast(unit, dtype, xp)
    value, grads = assemble(
        set_p,
        set_q,
        within_p,
        within_q,
        cross_p,
        cross_q,
        inv_h2=per_point(cast(inv_h2, dtype, xp), xp),
        unbiased=options.unbiased,
        with_grad=with_grad,
        xp=xp,
        mass_square_sums=mass_square_sums,
    )
    if pool is not None:  # a sum over points: this rank's share, summed over the ranks
        value = pool.sum(xp.reshape(value, (1,)))[0]
    degree = 2.0 * p
    if not options.squared:
        value, grads = _square_root(value, grads, xp)
        degree = p
    # The value has degree ``degree`` in the coordinates, the gradients one less (at least 0: both powers of the
    # unit have one sign, and the value's intermediate lies between it and the result).
    factors = power_factors(unit, degree - 1, dtype, xp)
    value = times(value, factors) * unit
    if grads is not None:
        factors = tuple(per_point(factor, xp) for factor in factors)
        grads = tuple((times(g_birth, factors), times(g_lifetime, factors)) for g_birth, g_lifetime in grads)
    return MMDResult(value, grads, bandwidth)


def _square_root(value, grads, xp):
    """``sqrt(max(M, 0))`` and ``dM / (2 sqrt(M))``, defined as 0 where ``M <= 0``."""
    root = xp.sqrt(xp.where(value > 0, value, xp.zeros_like(value)))
    if grads is None:
        return root, None
    factor = per_point(xp.where(root > 0, 0.5 / xp.where(root > 0, root, xp.ones_like(root)), xp.zeros_like(root)), xp)
    return root, tuple((g_birth * factor, g_lifetime * factor) for g_birth, g_lifetime in grads)


def per_point(per_item: Any, xp: Any) -> Any:
    """A 0-d array as it is; one value per item of a batch, shape ``(B,)``, as ``(B, 1)``: broadcast against the
    items' points."""
    return xp.reshape(per_item, per_item.shape + (1,)) if per_item.ndim else per_item

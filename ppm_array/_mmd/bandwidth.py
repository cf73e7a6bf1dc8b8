"""The median rule for the kernel's bandwidth."""

from __future__ import annotations

from typing import Any

from .._boundary.namespace import device as device_of
from .._boundary.namespace import largest
from .._persistence.sample import PersistenceSample
from . import pooled

__all__ = ["MEDIAN_POINTS", "median_bandwidth", "median_bandwidths"]

# The median rule looks at this many points with a feature from each sample (the first ones: a Monte Carlo
# PPM's points are i.i.d. draws, so they are a random subset of its points).
MEDIAN_POINTS = 128


def median_bandwidth(P: PersistenceSample, Q: PersistenceSample, xp: Any, pool: Any = None) -> Any:
    """The median heuristic, as a 0-d array: ``h = median |z_i - z_j|`` over the pairs of the pooled points
    with a feature (``lifetime > 0``), the first ``MEDIAN_POINTS`` of each sample; where fewer than two
    such points differ, the largest birth plus the largest lifetime of either sample (1 if all are 0).

    Computed from the values alone (no gradient flows through ``h``). The selection of
    the points with a feature has a data-dependent shape: one host synchronisation on a GPU.
    With a pool, the first points of every rank's samples are pooled.
    """
    heads = []
    for S in (P, Q):
        alive = xp.nonzero(S.lifetime > 0)[0][:MEDIAN_POINTS]
        heads.append(xp.stack([xp.take(S.birth, alive), xp.take(S.lifetime, alive)], axis=1))
    points = xp.concat(heads, axis=0)
    top = xp.max(xp.stack([largest(xp.abs(S.birth), xp) + largest(S.lifetime, xp) for S in (P, Q)]))
    if pool is not None:  # every rank's first points, in rank order: the same bandwidth on every rank
        points = xp.concat(pooled.gather_rows(pool, points, xp), axis=0)
        top = pool.max(xp.reshape(top, (1,)))[0]
    fallback = xp.where(top > 0, top, xp.ones_like(top))
    n = points.shape[0]
    if n < 2:
        return fallback
    difference = points[:, None, :] - points[None, :, :]
    distance = xp.sqrt(xp.sum(difference * difference, axis=-1))
    order = xp.arange(n, device=device_of(points))
    upper = xp.where(order[:, None] < order[None, :], distance, xp.full_like(distance, float("inf")))
    ranked = xp.sort(xp.reshape(upper, (-1,)))
    count = n * (n - 1) // 2
    median = (ranked[(count - 1) // 2] + ranked[count // 2]) / 2.0
    return xp.where(median > 0, median, fallback)


def median_bandwidths(P: PersistenceSample, Q: PersistenceSample, xp: Any, pool: Any = None) -> Any:
    """:func:`median_bandwidth`, and for the samples of a batch (``(B, s)`` arrays) one per item, shape ``(B,)``:
    each item's own rule, on its own points."""
    if P.birth.ndim == 1:
        return median_bandwidth(P, Q, xp, pool)
    return xp.stack([median_bandwidth(item(P, b), item(Q, b), xp) for b in range(P.birth.shape[0])])


def item(S: PersistenceSample, b: int) -> PersistenceSample:
    """Item ``b`` of the samples of a batch."""
    return S._replace(
        birth=S.birth[b, ...],
        lifetime=S.lifetime[b, ...],
        mass=S.mass[b, ...],
        birth_edge=S.birth_edge[b, ...],
        death_edge=S.death_edge[b, ...],
    )

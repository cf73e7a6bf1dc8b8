"""PPM-Reg over the ranks of a data-parallel job: pooled PPMs, computed where their points are.

Rank ``r`` of ``W`` holds its own PPMs ``P_r`` and ``Q_r`` (``s`` points each, mass
``1 / (W s)``); the MMD compares the pooled PPMs, the unions over ranks. Every
point's moments are taken against the pooled partner set, so the value (a sum of
per-point terms) is the sum over ranks of each rank's share, and each rank's
gradients are those of the global value with respect to its own points.

A *pool* is the communication an adapter supplies (``ppm_array.torch`` with a
``torch.distributed`` group)::

    pool.world_size, pool.rank
    pool.sum(array), pool.max(array)   # elementwise over ranks; the same shape on every rank
    pool.gather(array)                 # shape (world_size, *array.shape); the same shape on every rank

Collectives are called in the same order on every rank: every decision that
selects one is taken on pooled numbers, never on a rank's own. Every array handed to
the pool is in the data's namespace and on its device (NCCL takes CUDA tensors only);
those that carry the data's values are in its dtype, counts are int64.
"""

from __future__ import annotations

from .._backends.contract import KernelPoints, Moments
from .._boundary.namespace import device as device_of

__all__ = ["direct_pair_moments", "gather_rows", "total"]


def total(pool, count: int, xp, device) -> int:
    """The sum over ranks of an integer, reduced on ``device`` (the data's: NCCL reduces CUDA tensors only;
    one host read)."""
    return int(pool.sum(xp.asarray([count], dtype=xp.int64, device=device))[0])


def gather_rows(pool, rows, xp) -> list:
    """Every rank's ``(n_r, k)`` array ``rows``, in rank order: the counts, then the rows padded to the largest."""
    counts = pool.gather(xp.asarray([rows.shape[0]], dtype=xp.int64, device=device_of(rows)))
    counts = [int(c) for c in counts[:, 0]]
    padded = xp.zeros((max(counts), rows.shape[1]), dtype=rows.dtype, device=device_of(rows))
    if rows.shape[0]:
        padded = xp.concat([rows, padded[rows.shape[0] :, :]], axis=0)
    gathered = pool.gather(padded)
    return [gathered[rank, :count, :] for rank, count in enumerate(counts)]


def _rows(points: KernelPoints, xp):
    return xp.stack([points.birth, points.lifetime, points.v], axis=1)


def _points(rows) -> KernelPoints:
    return KernelPoints(rows[:, 0], rows[:, 1], rows[:, 2])


def _add(a: Moments, b: Moments) -> Moments:
    return Moments(*(x + y for x, y in zip(a, b)))


def direct_pair_moments(pool, pair_moments):
    """A backend's ``pair_moments`` against the pooled partner sets: their points are gathered (three floats
    each: birth, lifetime and weight), and each rank computes the moments of its own points."""

    def pooled(A, B, *, same_set, inv_two_h2, xp):
        if same_set:
            ranks = gather_rows(pool, _rows(A, xp), xp)
            others = [rows for rank, rows in enumerate(ranks) if rank != pool.rank]
            own, _ = pair_moments(A, A, same_set=True, inv_two_h2=inv_two_h2, xp=xp)
            partners = xp.concat(others, axis=0)
            if partners.shape[0]:
                cross, _ = pair_moments(A, _points(partners), same_set=False, inv_two_h2=inv_two_h2, xp=xp)
                own = _add(own, cross)
            return own, own
        pooled_b = xp.concat(gather_rows(pool, _rows(B, xp), xp), axis=0)
        pooled_a = xp.concat(gather_rows(pool, _rows(A, xp), xp), axis=0)
        moments_a, _ = pair_moments(A, _points(pooled_b), same_set=False, inv_two_h2=inv_two_h2, xp=xp)
        moments_b, _ = pair_moments(B, _points(pooled_a), same_set=False, inv_two_h2=inv_two_h2, xp=xp)
        return moments_a, moments_b

    return pooled

"""PPM-Reg's subsamples: every draw of a call, on the host, from the one generator; then moved to the device."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._persistence.sampling import draw_indices

__all__ = ["DeviceDraw", "Draw", "distinct_pairs", "draw", "draw_regularizer", "upload"]


def distinct_pairs(indices: np.ndarray, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct unordered pairs among the rows of ``(s, 2)`` indices, and how often each was drawn.

    Pairs are listed by their smaller, then larger index (a pair ``(a, a)`` stays). One
    counting pass over ``n_points^2`` slots: meant for ``n_points^2 <= s``.
    """
    low, high = np.minimum(indices[:, 0], indices[:, 1]), np.maximum(indices[:, 0], indices[:, 1])
    counts = np.bincount(low * n_points + high, minlength=n_points * n_points)
    drawn = np.flatnonzero(counts)
    return np.stack(np.divmod(drawn, n_points), axis=1), counts[drawn]


def _merges_pairs(q: int, n_points: int, n_subsamples: int, mmd_options) -> bool:
    """Whether PPM-Reg merges repeated pairs of a ``q = 0`` draw into one point with their total mass.

    The measure, and so the V-statistic and its gradients, stays the same (to rounding);
    from ``n_points^2 <= s`` a draw repeats many pairs, and up to ``n_points^2 / 2``
    points replace ``s``. Not for the unbiased estimator, whose diagonal counts draws,
    nor the median rule, which reads a Monte Carlo PPM's first points as a random subset.
    """
    return (
        q == 0
        and n_points * n_points <= n_subsamples
        and not mmd_options.unbiased
        and mmd_options.bandwidth != "median"
    )


class Draw(NamedTuple):
    """The subsamples of one cloud for one homology dimension, drawn on the host.

    ``indices`` are ``(s', 2q + 2)`` int64 rows; ``mass`` the merged pairs' masses
    (float64, one per row) or None for ``1 / n_total`` each; ``mass_square_sum`` the
    sum of squared masses of the whole measure (a float).
    """

    indices: np.ndarray
    mass: Any
    mass_square_sum: float


def draw(generator, n_points: int, q: int, n_subsamples: int, options, world_size: int = 1) -> Draw:
    """PPM-Reg's Monte Carlo draw for ``PPM_q`` of a cloud of ``n_points``, from ``generator``. In a pool of
    ``world_size`` ranks each point has mass ``1 / (world_size * n_subsamples)``: the share of one rank in the
    pooled PPM."""
    indices = draw_indices(generator, n_points, q, n_subsamples, options.replace)
    n_total = world_size * n_subsamples
    if _merges_pairs(q, n_points, n_subsamples, options):
        indices, counts = distinct_pairs(indices, n_points)
        shares = counts / n_total
        return Draw(indices, shares, float(np.sum(shares * shares)))
    # Pooled over the ranks: n_total points of mass 1 / n_total.
    return Draw(indices, None, 1.0 / n_total)


def draw_regularizer(generator, n_x: int, n_y: int, options, world_size: int = 1) -> tuple:
    """Every draw of one PPM-Reg call, in the order the generator is used: for each ``q`` in ``options.dims``,
    ``X``'s draw then ``Y``'s. A tuple of ``(draw_x, draw_y)`` pairs."""
    return tuple(
        (draw(generator, n_x, q, s, options, world_size), draw(generator, n_y, q, s, options, world_size))
        for q, s in zip(options.dims, options.n_subsamples)
    )


class DeviceDraw(NamedTuple):
    """A :class:`Draw` on the clouds' device: ``indices`` int64 and ``mass`` (None, or the clouds' dtype)."""

    indices: Any
    mass: Any
    mass_square_sum: float


def upload(draws, cloud) -> tuple:
    """The draws of :func:`draw_regularizer` on ``cloud``'s device."""
    xp, device, dtype = cloud.xp, cloud.device, cloud.array.dtype

    def one(d: Draw) -> DeviceDraw:
        mass = None if d.mass is None else xp.asarray(d.mass, dtype=dtype, device=device)
        return DeviceDraw(xp.asarray(d.indices, device=device), mass, d.mass_square_sum)

    return tuple((one(dx), one(dy)) for dx, dy in draws)

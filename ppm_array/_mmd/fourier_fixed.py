"""The Fourier method in shapes fixed before the data are seen: the JAX-native path, under ``jit``.

:mod:`.fourier` sizes its grid from the data (``M = 2 ceil(tau L / (2 pi h)) + 2`` modes
per axis for points spread over ``R``, period ``L = R + h tau``) and transforms only the
points with a weight. A compiled computation must know its shapes first, so here:

- the grid has the backend's fixed number of modes per axis (``modes``): on two axes
  (birth and lifetime), or on the lifetime alone where every birth with a weight is the
  same (``q = 0``), chosen on the data as the host method chooses;
- its period, spacing and centre are the ones :mod:`.fourier` would choose, computed
  from the data as arrays. More modes than the data need only add frequencies beyond
  ``tau / h``, where the Gaussian's transform is below the bound, so the error bound of
  :mod:`.fourier` holds unchanged;
- points without a weight stay in, with strength 0, placed at the grid's centre, and
  get moments 0 (which the backend contract allows);
- where the data need more modes than the grid has (points spread over more than
  ``(modes - 2) pi / tau - tau`` bandwidths: 46 for 128 modes at the default ``tol``),
  the backend's ``branch`` takes the direct sums instead: the same moments, at their cost;
- with ``least_points`` (``method="auto"``), so it does where the sets hold fewer points with
  a weight than that (a set paired with itself counted twice, as its pairs are those of two
  sets of its size): the direct sums skip the points without a weight, the transforms cannot,
  and which are fewer is known only from the data.

The moments are computed in float64 and returned in the dtype of ``A``'s weights, as
the direct sums return them.
"""

from __future__ import annotations

import math

from .._backends.contract import KernelPoints, Moments
from .fourier import (
    Grid,
    _angles,
    _characteristic,
    _coefficient_weights,
    _frequencies,
    _moments,
    _potentials,
    decay_radius,
    squared_bandwidth,
)

__all__ = ["pair_moments"]

_AXES = ("birth", "lifetime")


def _box(sets: list, alive: list, xp) -> tuple:
    """``(low, high)`` per axis over the points with a weight (0 and 0 when there are none)."""
    low, high = [], []
    for axis in _AXES:
        lows = [xp.min(xp.where(a, getattr(S, axis), math.inf)) for S, a in zip(sets, alive)]
        highs = [xp.max(xp.where(a, getattr(S, axis), -math.inf)) for S, a in zip(sets, alive)]
        lo, hi = lows[0], highs[0]
        for other_low, other_high in zip(lows[1:], highs[1:]):
            lo, hi = xp.minimum(lo, other_low), xp.maximum(hi, other_high)
        anything = hi >= lo
        low.append(xp.where(anything, lo, 0.0))
        high.append(xp.where(anything, hi, 0.0))
    return tuple(low), tuple(high)


def pair_moments(
    A: KernelPoints,
    B: KernelPoints,
    *,
    same_set: bool,
    inv_two_h2,
    tol: float,
    transforms,
    modes: int,
    branch,
    fallback,
    xp,
    least_points: int = 0,
) -> tuple:
    """The contract of a backend's ``pair_moments`` by the Fourier method on a grid of ``modes`` x ``modes``
    frequencies, or by ``fallback`` (the direct sums) where that grid is too coarse for the data or the sets
    hold fewer than ``least_points`` points with a weight; ``branch`` (the backend's) chooses on the data."""
    tau = decay_radius(tol)
    full_sets = (A,) if same_set else (A, B)
    sets = [KernelPoints(*(xp.astype(a, xp.float64) for a in S)) for S in full_sets]
    alive = [S.v != 0 for S in sets]
    low, high = _box(sets, alive, xp)
    h2 = squared_bandwidth(xp.astype(xp.asarray(inv_two_h2), xp.float64), low, high, xp)
    h = xp.sqrt(h2)
    periods = [(hi - lo) + h * tau for lo, hi in zip(low, high)]
    fits = [2 * xp.ceil(tau * period / (2.0 * math.pi * h)) + 2 <= modes for period in periods]
    weighted_points = sum(xp.sum(xp.astype(a, xp.int64)) for a in alive) * (2 if same_set else 1)
    enough = weighted_points >= least_points
    planar = high[0] > low[0]  # some births differ (else every birth is 0 and one axis, lifetime, is enough)
    dtype = A.v.dtype

    # Every array a side uses comes in through the operands: under vmap, the backend's branch may run them
    # item by item, and an array captured from outside would be the whole batch.
    def on_grid(axes: tuple):
        def by_fourier(operands):
            _, sets, alive, low, high, periods, h2, h, _ = operands
            grid = Grid(
                (modes,) * len(axes),
                tuple(2.0 * math.pi / periods[a] for a in axes),
                tuple(0.5 * (low[a] + high[a]) for a in axes),
                h,
            )
            frequencies = _frequencies(grid, xp, None)
            weights = _coefficient_weights(grid, frequencies, xp)
            # Points without a weight sit at the centre (angle 0): inside the transforms' range, with strength 0.
            coordinates = [
                tuple(xp.where(a, getattr(S, _AXES[axis]), c) for axis, c in zip(axes, grid.centre))
                for S, a in zip(sets, alive)
            ]
            characteristics = [
                _characteristic(transforms, _angles(c, grid, xp), S.v, grid, xp, None)
                for c, S in zip(coordinates, sets)
            ]
            targets = ((0, 0),) if same_set else ((1, 0), (0, 1))  # (whose characteristic function, whose points)
            results = []
            for source, target in targets:
                potential, gradient = _potentials(
                    transforms, characteristics[source], weights, frequencies, coordinates[target], grid, xp
                )
                self_weight = sets[target].v if same_set else None
                moments = _moments(potential, gradient, h2, len(axes) == 2, self_weight, xp)
                results.append(Moments(*(xp.astype(xp.where(alive[target], m, 0.0), dtype) for m in moments)))
            return (results[0], results[0]) if same_set else tuple(results)

        return by_fourier

    def by_direct(operands):
        (A, B, inv_two_h2), *_ = operands
        moments = fallback(A, B, same_set=same_set, inv_two_h2=inv_two_h2, xp=xp)
        return tuple(Moments(*(xp.astype(m, dtype) for m in side)) for side in moments)

    def on_one_axis_or_direct(operands):
        return branch(operands[-1], on_grid((1,)), by_direct, operands)

    operands = ((A, B, xp.asarray(inv_two_h2)), sets, alive, low, high, periods, h2, h, enough & ~planar & fits[1])
    return branch(enough & planar & fits[0] & fits[1], on_grid((0, 1)), on_one_axis_or_direct, operands)

"""Independent truths the library is tested against: gudhi and slow loops."""

from __future__ import annotations

import math

import numpy as np


def gudhi_principal_persistence(points: np.ndarray, q: int) -> tuple[float, float]:
    """``(birth, lifetime)`` of ``PH_q`` of a ``(2q+2)``-point cloud by gudhi's Rips complex.

    ``(0, 0)``-lifetime means no finite interval of positive length.
    """
    import gudhi

    rips = gudhi.RipsComplex(points=points, max_edge_length=math.inf)
    tree = rips.create_simplex_tree(max_dimension=q + 1)
    tree.compute_persistence()
    intervals = [(b, d) for b, d in tree.persistence_intervals_in_dimension(q) if math.isfinite(d) and d > b]
    if not intervals:
        return math.nan, 0.0
    assert len(intervals) == 1, intervals
    birth, death = intervals[0]
    return birth, death - birth


def slow_kernel(z1, z2, bandwidth: float, weight_power: float) -> float:
    (b1, l1), (b2, l2) = z1, z2
    return l1**weight_power * l2**weight_power * math.exp(-((b1 - b2) ** 2 + (l1 - l2) ** 2) / (2 * bandwidth**2))


def slow_mmd_squared(P, Q, bandwidth: float, weight_power: float = 1.0, unbiased: bool = False) -> float:
    """MMD^2 by double loops over ``(birth, lifetime, mass)`` lists."""

    def within(A):
        total = 0.0
        for i, (bi, li, ai) in enumerate(A):
            for j, (bj, lj, aj) in enumerate(A):
                if unbiased and i == j:
                    continue
                total += ai * aj * slow_kernel((bi, li), (bj, lj), bandwidth, weight_power)
        if unbiased:
            total /= 1.0 - sum(a * a for _, _, a in A)
        return total

    cross = sum(
        ai * bj * slow_kernel((bi, li), (bq, lq), bandwidth, weight_power) for bi, li, ai in P for bq, lq, bj in Q
    )
    return within(P) + within(Q) - 2 * cross


def central_difference(function, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Float64 central finite differences of a scalar ``function`` at ``x``."""
    grad = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += eps
        minus[index] -= eps
        grad[index] = (float(function(plus)) - float(function(minus))) / (2 * eps)
    return grad

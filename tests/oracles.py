"""Independent truths the library is tested against: gudhi and slow loops."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

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


def published_algorithm():
    """``benchmarks/published_baseline.py``: the authors' PPM.py step for step, differentiated by PyTorch."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "published_baseline.py"
    spec = importlib.util.spec_from_file_location("published_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def published_ppm_reg(X: np.ndarray, Y: np.ndarray, *, bandwidth: float, dims, weights, n_subsamples: int, rng: int,
                      weight_power: float = 1.0):
    """``(value, grad_X, grad_Y)`` of PPM-Reg by the published algorithm in float64 on the subsamples that
    ``ppm_array.ppm_reg`` draws from seed ``rng`` (for each dimension, X's and then Y's)."""
    import torch

    import ppm_array as pa

    published = published_algorithm()
    generator = np.random.default_rng(rng)
    indices_x, indices_y = [], []
    for q in dims:
        indices_x.append(torch.asarray(pa.subsample_indices(X.shape[0], q, n_subsamples, rng=generator)))
        indices_y.append(torch.asarray(pa.subsample_indices(Y.shape[0], q, n_subsamples, rng=generator)))
    X, Y = torch.asarray(X, dtype=torch.float64), torch.asarray(Y, dtype=torch.float64)
    width = 2 * bandwidth**2
    value, grad_x = published.published_value_and_grad(X, Y, indices_x, indices_y, dims, weights, width, weight_power)
    # The MMD is symmetric in its two PPMs: Y's gradient is X's with the clouds swapped.
    _, grad_y = published.published_value_and_grad(Y, X, indices_y, indices_x, dims, weights, width, weight_power)
    return float(value), grad_x.numpy(), grad_y.numpy()

"""The published PPM-Reg algorithm (Wong, Lee & Yan's PPM.py) in plain PyTorch autograd: the speed baseline.

It follows the authors' algorithm step for step, not their code: a full ``N x N``
``cdist`` of the cloud, each subsample's ``m x m`` distance matrix gathered from
it, the top two distances per row, ``t_b < t_d`` as a boolean mask that keeps only
subsamples with a feature, dense kernel matrices ``exp(-cdist^2 / width)`` times
``lifetime`` products, each sum divided by ``s^2`` and weighted, and
``loss.backward()``. It takes the subsample indices as arguments, so that it can
be given the very same ones as ppm_array and its value and gradients compared.
``bench_step.py --published-code PATH`` times the authors' PPM.py itself beside
it, in the same run.
"""

from __future__ import annotations

import importlib.util

import torch


def _diagram(distances: torch.Tensor, indices: torch.Tensor, q: int) -> torch.Tensor:
    """``(birth, lifetime)`` rows of the subsamples with a feature (every subsample for ``q = 0``)."""
    sub = distances[indices[:, :, None], indices[:, None, :]]  # (s, m, m)
    if q == 0:
        lifetime = sub[:, 0, 1]
        return torch.stack([torch.zeros_like(lifetime), lifetime], dim=1)
    m = sub.shape[1]
    off_diagonal = sub.flatten(start_dim=1)[:, 1:].view(-1, m - 1, m + 1)[:, :, :-1].reshape(-1, m, m - 1)
    top2 = torch.topk(off_diagonal, 2).values
    birth = top2[:, :, 1].max(dim=1).values
    death = top2[:, :, 0].min(dim=1).values
    alive = birth < death
    return torch.stack([birth[alive], death[alive] - birth[alive]], dim=1)


def _kernel_sum(A: torch.Tensor, B: torch.Tensor, width: float, weight_power: float) -> torch.Tensor:
    kernel = torch.exp(-torch.cdist(A, B) ** 2 / width)
    return (kernel * A[:, 1:2] ** weight_power * B[:, 1] ** weight_power).sum()


def published_ppm_reg(X, Y, indices_x, indices_y, dims, weights, width: float, weight_power: float = 1.0):
    """PPM-Reg's value (V-statistic) by the published algorithm, differentiable by autograd."""
    distances_x, distances_y = torch.cdist(X, X), torch.cdist(Y, Y)
    total = X.new_zeros(())
    for q, weight, idx_x, idx_y in zip(dims, weights, indices_x, indices_y):
        dx, dy = _diagram(distances_x, idx_x, q), _diagram(distances_y, idx_y, q)
        mmd = (_kernel_sum(dx, dx, width, weight_power) + _kernel_sum(dy, dy, width, weight_power)
               - 2 * _kernel_sum(dx, dy, width, weight_power))
        total = total + weight * mmd / idx_x.shape[0] ** 2
    return total


def published_value_and_grad(X, Y, indices_x, indices_y, dims, weights, width, weight_power=1.0):
    """One step as the shape-matching script runs it: value, and the gradient of the trained cloud X."""
    X = X.detach().requires_grad_(True)
    value = published_ppm_reg(X, Y.detach(), indices_x, indices_y, dims, weights, width, weight_power)
    value.backward()
    return value.detach(), X.grad


def load_published(path):
    """The authors' PPM.py at ``path`` as a module (None for no path): what the benchmarks time beside ours."""
    if path is None:
        return None
    spec = importlib.util.spec_from_file_location("published_PPM", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

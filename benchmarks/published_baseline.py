"""The published PPM-Reg algorithm in plain PyTorch autograd: the speed baseline.

It follows the authors' approach, not their code: a full ``N x N`` ``cdist`` of
the cloud, each subsample's distance matrix gathered from it, top-2 per row,
boolean masks for subsamples without a feature, dense ``s x s`` kernel matrices,
and ``loss.backward()``. It is used only by the benchmarks, side by side with
ppm_array in the same process.
"""

from __future__ import annotations

import torch


def _principal_persistence(distances: torch.Tensor, indices: torch.Tensor, q: int):
    sub = distances[indices[:, :, None], indices[:, None, :]]  # (s, m, m)
    if q == 0:
        lifetime = sub[:, 0, 1]
        return torch.zeros_like(lifetime), lifetime
    top2 = torch.topk(sub, 2, dim=-1).values  # the diagonal 0 is never in the top 2 for m >= 4
    birth = top2[..., 1].max(dim=-1).values
    death = top2[..., 0].min(dim=-1).values
    alive = death > birth
    lifetime = torch.where(alive, death - birth, torch.zeros_like(birth))
    return birth, lifetime


def _kernel_sum(b1, l1, b2, l2, width: float):
    z1 = torch.stack([b1, l1], dim=1)
    z2 = torch.stack([b2, l2], dim=1)
    kernel = torch.exp(-torch.cdist(z1, z2) ** 2 / width) * (l1[:, None] * l2[None, :])
    return kernel.sum() / (b1.shape[0] * b2.shape[0])


def published_ppm_reg(X: torch.Tensor, Y: torch.Tensor, indices_x, indices_y, dims, weights, width: float):
    """Value of PPM-Reg (V-statistic, ``p = 1``) by the published algorithm."""
    distances_x = torch.cdist(X, X)
    distances_y = torch.cdist(Y, Y)
    total = X.new_zeros(())
    for q, weight, idx_x, idx_y in zip(dims, weights, indices_x, indices_y):
        bx, lx = _principal_persistence(distances_x, idx_x, q)
        by, ly = _principal_persistence(distances_y, idx_y, q)
        mmd = _kernel_sum(bx, lx, bx, lx, width) + _kernel_sum(by, ly, by, ly, width) - 2 * _kernel_sum(bx, lx, by, ly, width)
        total = total + weight * mmd
    return total


def published_value_and_grad(X, Y, indices_x, indices_y, dims, weights, width):
    """One step: value and gradients with respect to both clouds by autograd."""
    X = X.detach().requires_grad_(True)
    Y = Y.detach().requires_grad_(True)
    value = published_ppm_reg(X, Y, indices_x, indices_y, dims, weights, width)
    value.backward()
    return value.detach(), X.grad, Y.grad

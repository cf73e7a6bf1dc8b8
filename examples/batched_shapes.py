"""64 small noisy clouds pulled onto circles of 64 radii at once: a per-item loss in one batched call.

Each cloud starts as 0.3 N(0, I); its target is a noisy circle of its own radius (0.4 to
1.6). The loss of item b is the energy distance between cloud b and circle b plus
PPM-Reg between them; ppm_array.torch.ppm_reg takes the (64, 48, 2) batch of clouds
and the (64, 64, 2) batch of circles in one call (every item on the same subsamples)
and returns the 64 values. SGD with momentum trains all clouds together. Run:

    python examples/batched_shapes.py --steps 400 --out batched_shapes.png
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

import ppm_array.torch as pat


def circles(radii: torch.Tensor, n_points: int, noise: float, generator: torch.Generator) -> torch.Tensor:
    """One noisy circle per radius: shape ``(len(radii), n_points, 2)``."""
    angle = 2 * math.pi * torch.rand(len(radii), n_points, generator=generator, dtype=torch.float64)
    ring = torch.stack([angle.cos(), angle.sin()], dim=-1) * radii[:, None, None]
    return ring + noise * torch.randn(ring.shape, generator=generator, dtype=torch.float64)


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The energy distance of each pair of clouds of a batch, shape ``(B,)`` (autograd differentiates it)."""
    return (2 * torch.cdist(x, y).mean(dim=(1, 2)) - torch.cdist(x, x).mean(dim=(1, 2))
            - torch.cdist(y, y).mean(dim=(1, 2)))


def mean_radius_error(cloud: torch.Tensor, radii: torch.Tensor) -> float:
    """How far the points lie from their circle, relative to its radius, averaged over the batch."""
    centred = cloud - cloud.mean(dim=1, keepdim=True)
    return float(((centred.norm(dim=-1) - radii[:, None]).abs() / radii[:, None]).mean())


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--clouds", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write a figure of 8 clouds before and after (PNG)")
    args = parser.parse_args(argv)

    generator = torch.Generator().manual_seed(args.seed)
    radii = torch.linspace(0.4, 1.6, args.clouds, dtype=torch.float64)
    targets = circles(radii, 64, 0.02, generator)
    start = 0.3 * torch.randn(args.clouds, 48, 2, generator=generator, dtype=torch.float64)
    cloud = start.clone().requires_grad_()
    rng = np.random.default_rng(args.seed)  # fresh subsamples at every step
    optimizer = torch.optim.SGD([cloud], lr=0.05, momentum=0.9)
    before = mean_radius_error(start, radii)
    for step in range(args.steps):
        optimizer.zero_grad()
        topology = pat.ppm_reg(cloud, targets, bandwidth=0.2, dims=(0, 1), weights=(1.0, 50.0),
                               n_subsamples=(256, 1024), rng=rng)
        loss = energy_distance(cloud, targets) + topology
        loss.sum().backward()
        optimizer.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  mean loss {loss.mean().item():.4f}  mean ppm-reg {topology.mean().item():.5f}")
    after = mean_radius_error(cloud.detach(), radii)
    print(f"mean distance from the circle, relative to its radius: {before:.3f} before, {after:.3f} after")
    if args.out:
        _figure(start, cloud.detach(), targets, args.out)
    return {"before": before, "after": after}


def _figure(start: torch.Tensor, end: torch.Tensor, targets: torch.Tensor, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = np.linspace(0, len(start) - 1, 8).astype(int)
    figure, axes = plt.subplots(2, 8, figsize=(16, 4.4), sharex=True, sharey=True)
    for column, b in enumerate(shown):
        for row, (cloud, title) in enumerate(((start, "before"), (end, "after"))):
            axis = axes[row, column]
            axis.scatter(*targets[b].T, s=3, c="lightgray")
            axis.scatter(*cloud[b].T, s=5, c="tab:blue")
            axis.set_title(f"cloud {b}, {title}", fontsize=8)
            axis.set_aspect("equal")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


if __name__ == "__main__":
    main()

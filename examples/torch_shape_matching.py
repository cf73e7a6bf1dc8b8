"""Shape matching (paper Figure 2) as an ordinary PyTorch training loop.

A cloud initialised at 0.3 N(0, I) is trained with torch.optim.SGD towards a noisy
unit circle on the Cramér (energy) distance plus PPM-Reg, the regularizer entering
as a torch.nn.Module. Run:

    python examples/torch_shape_matching.py --steps 500
"""

from __future__ import annotations

import argparse
import math

import torch

import ppm_array.torch as pat


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Energy distance over random halves, as in the paper (autograd differentiates it)."""
    x = x[torch.randperm(len(x))]
    y = y[torch.randperm(len(y))]
    x1, x2 = x[: len(x) // 2], x[len(x) // 2:]
    y1, y2 = y[: len(y) // 2], y[len(y) // 2:]
    return (torch.cdist(x1, y1).mean() + torch.cdist(x2, y2).mean()
            - torch.cdist(x1, x2).mean() - torch.cdist(y1, y2).mean())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2420)
    parser.add_argument("--n-points", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    angle = 2 * math.pi * torch.rand(args.n_points, dtype=torch.float64)
    reference = torch.stack([angle.cos(), angle.sin()], dim=1) + 0.01 * torch.randn(args.n_points, 2, dtype=torch.float64)
    cloud = (0.3 * torch.randn(args.n_points, 2, dtype=torch.float64)).requires_grad_()

    regularizer = pat.PPMReg(bandwidth=math.sqrt(0.05), dims=(0, 1), weights=(1.0, 6000.0), n_subsamples=2000,
                             seed=args.seed)
    optimizer = torch.optim.SGD([cloud], lr=0.05, momentum=0.9)
    for step in range(args.steps):
        optimizer.zero_grad()
        main_loss = 1.6 * energy_distance(cloud, reference)
        topology = regularizer(cloud, reference)
        (main_loss + topology).backward()
        optimizer.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  cramer {main_loss.item():.4f}  ppm-reg {topology.item():.5f}")
    radius = cloud.detach().norm(dim=1)
    print(f"final radius: mean {float(radius.mean()):.3f}, std {float(radius.std()):.3f} (target 1, 0.01)")


if __name__ == "__main__":
    main()

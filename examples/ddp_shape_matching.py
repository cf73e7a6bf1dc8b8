"""Shape matching under DistributedDataParallel: a small generator learns to put its points on a circle.

Every rank draws its own batch of noise and its own shard of the reference circle;
the main loss (an energy distance) is per rank, as usual under DDP, and PPM-Reg
compares the persistence measures pooled over all ranks (``PPMReg(group=...)``), so
the topology term sees every rank's points at the cost of a few kilobytes per step.
On the CPU::

    torchrun --standalone --nproc-per-node 2 examples/ddp_shape_matching.py
    torchrun --standalone --nproc-per-node 4 examples/ddp_shape_matching.py --steps 400

With GPUs, one per process, the same script uses NCCL and CUDA tensors.
"""

from __future__ import annotations

import argparse
import math
import os

import torch
import torch.distributed as dist

import ppm_array.torch as pat


def energy_distance(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """``2 E|x - y| - E|x - x'| - E|y - y'|``: zero exactly when the two distributions agree."""
    return 2 * torch.cdist(X, Y).mean() - torch.cdist(X, X).mean() - torch.cdist(Y, Y).mean()


def circle(n: int, generator: torch.Generator, device) -> torch.Tensor:
    angle = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    points = torch.stack([angle.cos(), angle.sin()], dim=1) + 0.01 * torch.randn(n, 2, generator=generator,
                                                                                dtype=torch.float64)
    return points.to(device)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=256, help="points per rank and step")
    parser.add_argument("--ppm-weight", type=float, default=1.0)
    args = parser.parse_args(argv)

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    if not cuda:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))

    torch.manual_seed(0)  # the same initial model on every rank
    model = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(),
                                torch.nn.Linear(64, 2)).to(device=device, dtype=torch.float64)
    model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    regularizer = pat.PPMReg(bandwidth=math.sqrt(0.05), weights=(1.0, 6000.0), n_subsamples=(1024, 8192), seed=0,
                             group=dist.group.WORLD)
    generator = torch.Generator().manual_seed(1000 + rank)  # each rank its own batches

    for step in range(1, args.steps + 1):
        noise = torch.randn(args.batch, 2, generator=generator, dtype=torch.float64).to(device)
        points, reference = model(noise), circle(args.batch, generator, device)
        main_loss = energy_distance(points, reference)
        topology = regularizer(points, reference)
        optimiser.zero_grad()
        (main_loss + args.ppm_weight * topology).backward()
        optimiser.step()
        if rank == 0 and (step % 50 == 0 or step == args.steps):
            print(f"step {step}: energy distance {main_loss.item():.4f}, PPM-Reg {topology.item():.4f}", flush=True)

    with torch.no_grad():
        radius = model(torch.randn(2048, 2, generator=generator, dtype=torch.float64).to(device)).norm(dim=1)
    if rank == 0:
        print(f"{world_size} processes: generated points at radius {float(radius.mean()):.3f} "
              f"+- {float(radius.std()):.3f} (the circle: 1)", flush=True)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

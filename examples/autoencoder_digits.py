"""An autoencoder whose 2-d latent space is given the topology of a circle with PPM-Reg.

scikit-learn's digits (1,797 images of 8 x 8, shipped with scikit-learn) are encoded
into two dimensions. Besides the reconstruction error, every batch's codes are
pulled towards a reference circle by ``ppm_array.torch.PPMReg``: the PPM of the codes
(dimensions 0 and 1) against the PPM of a random sample of the unit circle. At the
end the script measures the topology it reached: the Vietoris-Rips diagram of
dimension 1 of the codes of every third digit (giotto-ph), and the ratio of its
largest lifetime to the second largest (a circle has one dominant feature).

The settings, and why (see docs/choosing_parameters.md):

- ``weights=(1, 10000)``: the dimension-1 term of two point clouds is about 1e-4 of the
  dimension-0 term, so it needs about 1e4 to count at all;
- ``n_subsamples=(1024, 8192)``: only about 2% of 4-point subsamples carry a
  dimension-1 feature, so dimension 1 gets more subsamples;
- ``bandwidth="median"``: the latent scale moves during training; the median rule
  follows it;
- ``weight=10`` for the whole term against a reconstruction error of order 1.

Run::

    python examples/autoencoder_digits.py                 # 3 seeds and the plain autoencoder, about 3 minutes
    python examples/autoencoder_digits.py --epochs 3 --seeds 1 --no-plain   # a quick look
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from gph import ripser_parallel
from sklearn.datasets import load_digits

import ppm_array.torch as pat

BATCH = 256


def digits() -> torch.Tensor:
    data = load_digits().data.astype(np.float32)
    return torch.tensor((data - data.mean(0)) / (data.std(0) + 1e-6))


def dominance(codes: np.ndarray) -> tuple[float, float, float]:
    """The dimension-1 diagram's largest and second-largest lifetimes, and their ratio."""
    diagram = ripser_parallel(codes, maxdim=1, n_threads=2)["dgms"][1]
    lifetimes = np.sort(diagram[:, 1] - diagram[:, 0])[::-1]
    first, second = (list(lifetimes[:2]) + [0.0, 0.0])[:2]
    return first, second, first / second if second > 0 else math.inf


def train(data: torch.Tensor, *, epochs: int, seed: int, weight: float) -> dict:
    """Train one autoencoder (``weight = 0``: without PPM-Reg); return what it reached."""
    torch.manual_seed(seed)
    encoder = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
    decoder = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64))
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=2e-3)
    # Built once, outside the loop: its generator draws new subsamples at every step.
    regularizer = pat.PPMReg(bandwidth="median", dims=(0, 1), weights=(1.0, 10000.0), n_subsamples=(1024, 8192),
                             seed=seed, return_terms=True)
    terms = None
    for _ in range(epochs):
        order = torch.randperm(len(data))
        for start in range(0, len(data) - BATCH + 1, BATCH):
            batch = data[order[start:start + BATCH]]
            codes = encoder(batch)
            loss = ((decoder(codes) - batch) ** 2).mean()
            if weight:
                angle = 2 * math.pi * torch.rand(BATCH)
                circle = torch.stack([angle.cos(), angle.sin()], dim=1)
                topology, terms = regularizer(codes, circle)
                loss = loss + weight * topology
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        codes = encoder(data)
        reconstruction = float(((decoder(codes) - data) ** 2).mean())
    first, second, ratio = dominance(codes.numpy()[::3])
    radius = np.linalg.norm(codes.numpy(), axis=1)
    return dict(seed=seed, weight=weight, reconstruction=reconstruction, first=first, second=second, ratio=ratio,
                radius=f"{radius.mean():.2f} +- {radius.std():.2f}",
                terms=None if terms is None else tuple(float(t) for t in terms.mmd))


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--weight", type=float, default=10.0, help="weight of the PPM-Reg term")
    parser.add_argument("--no-plain", action="store_true", help="skip the autoencoder without PPM-Reg")
    args = parser.parse_args(argv)
    data = digits()
    results = []
    weights = ([] if args.no_plain else [0.0]) + [args.weight]
    print("| PPM-Reg weight | seed | reconstruction MSE | H1 lifetimes: largest, second | ratio | code radius |")
    print("|---:|---:|---:|---:|---:|---|")
    for weight in weights:
        for seed in range(args.seeds):
            result = train(data, epochs=args.epochs, seed=seed, weight=weight)
            results.append(result)
            print(f"| {weight:g} | {seed} | {result['reconstruction']:.3f} | {result['first']:.3f}, "
                  f"{result['second']:.3f} | {result['ratio']:.2f} | {result['radius']} |", flush=True)
    return results


if __name__ == "__main__":
    main()

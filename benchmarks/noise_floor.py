"""How noisy PPM-Reg's estimate is, against the number of subsamples, and how large each term is.

A regularizer's value below its noise floor carries no signal. This script measures,
for the paper's bandwidth h = sqrt(0.05) and the unit circle of the shape-matching
experiment (512 points, noise 0.01):

- the same cloud against itself with fresh subsamples (the estimator's own noise:
  the true value is 0), with the V-statistic (the default, biased upwards by about
  1/s) and the unbiased U-statistic;
- two independent circles (estimator and data noise together);
- a ``0.3 N(0, I)`` cloud against the circle (a signal: the shape-matching start);

each as the mean and standard deviation over 20 draws of the two dimensions' terms
(unweighted, ``return_terms=True``) for s from 256 to 16384. Usage::

    python benchmarks/noise_floor.py        # about 2 minutes
"""

from __future__ import annotations

import math

import numpy as np

import ppm_array as pa

H = math.sqrt(0.05)
DRAWS = 20


def circle(n: int, rng) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(angle), np.sin(angle)], 1) + 0.01 * rng.normal(size=(n, 2))


def terms(pairs, s: int, estimator: str) -> np.ndarray:
    """``(DRAWS, 2)`` unweighted terms of dimensions 0 and 1, one row per (X, Y, seed) pair."""
    return np.array([pa.ppm_reg(X, Y, bandwidth=H, n_subsamples=s, rng=seed, estimator=estimator,
                                return_terms=True)[1].mmd
                     for X, Y, seed in pairs])


def main():
    rng = np.random.default_rng(0)
    fixed = circle(512, rng)
    same = [(fixed, fixed, k) for k in range(DRAWS)]
    settings = {
        ("same cloud, fresh subsamples", "v"): same,
        ("same cloud, fresh subsamples", "u"): same,
        ("two independent circles", "v"): [(circle(512, rng), circle(512, rng), k) for k in range(DRAWS)],
        ("0.3 N(0, I) against the circle", "v"): [(0.3 * rng.normal(size=(512, 2)), fixed, k) for k in range(DRAWS)],
    }
    print(f"## PPM-Reg's terms against s (h = sqrt(0.05), N = 512, mean +- std over {DRAWS} draws)\n")
    print("| pair | estimator | s | dimension 0 term | dimension 1 term |")
    print("|---|---|---:|---:|---:|")
    for (name, estimator), pairs in settings.items():
        for s in (256, 1024, 4096, 16384):
            values = terms(pairs, s, estimator)
            cells = " | ".join(f"{m:.3g} +- {d:.2g}" for m, d in zip(values.mean(axis=0), values.std(axis=0, ddof=1)))
            print(f"| {name} | {estimator} | {s} | {cells} |")
    print()


if __name__ == "__main__":
    main()

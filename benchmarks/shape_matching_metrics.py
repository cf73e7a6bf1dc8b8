"""Why the metrics of shape matching disagree: each metric split into its dimensions, on the same trajectories.

Trains both arms of circle + Cramér (``ppm-array shape-match``'s defaults) for
``--seeds`` seeds, then evaluates every recorded cloud with the two ground costs in
play, per homology dimension: the published script's (order 1, L-infinity,
torch-topological's conventions; ``metrics.published_distance``) and order 2 with a
Euclidean or an L-infinity ground distance (gudhi). Prints, per dimension, the
arms' late means and their ratio (regularized / plain), mean +- std over the seeds,
and the dimension's share of the published metric. The diagrams are those each run
recorded while training (computed once per cloud). Usage::

    python benchmarks/shape_matching_metrics.py --seeds 3    # about 4 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import numpy as np
from gudhi.wasserstein import wasserstein_distance
from tqdm import tqdm

from ppm_array.experiments._format import mean_std
from ppm_array.experiments.metrics import published_distance
from ppm_array.experiments.shape_matching import ShapeMatchingConfig, late_mean, reference_for, run_arm

DISTANCES = {
    "order 1, L-inf (published)": published_distance,
    "order 2, Euclidean (w2-sum)": lambda a, b: float(wasserstein_distance(a, b, order=2, internal_p=2)),
    "order 2, L-inf (paper)": lambda a, b: float(wasserstein_distance(a, b, order=2, internal_p=np.inf)),
}


def per_dimension(run, reference) -> dict:
    """``(distance name, dimension)`` -> the late mean of that distance over the run's recorded diagrams."""
    return {(name, dim): late_mean(run, [distance(d[dim], reference[dim]) for d in run.diagrams])
            for name, distance in DISTANCES.items() for dim in (0, 1)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = []
    config = ShapeMatchingConfig()
    with tqdm(total=2 * config.steps * args.seeds, desc="circle + Cramér", unit="step", file=sys.stderr) as bar:
        for seed in range(args.seeds):
            seeded = replace(config, seed=seed)
            shape, reference = reference_for(seeded)
            plain, regularized = (run_arm(seeded, shape, with_ppm, reference, bar.update) for with_ppm in (False, True))
            rows.append((per_dimension(plain, reference), per_dimension(regularized, reference)))
    print(f"circle + Cramér (paired), {args.seeds} seeds: late means (from step 400) per dimension, mean +- std\n")
    print("| distance | dim | plain arm | PPM-Reg arm | ratio | share of the plain arm's sum |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in DISTANCES:
        for dim in (0, 1):
            plain = np.array([row[0][name, dim] for row in rows])
            regularized = np.array([row[1][name, dim] for row in rows])
            share = plain / sum(np.array([row[0][name, d] for row in rows]) for d in (0, 1))
            print(f"| {name} | {dim} | {mean_std(plain, 3)} | {mean_std(regularized, 3)} | {mean_std(regularized / plain, 3)} "
                  f"| {share.mean():.2f} |")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

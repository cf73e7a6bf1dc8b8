"""The shape-matching table of docs/shape_matching.md: every shape and main loss over several seeds, and where
the published script's 0.37 and shape-match's former 0.71 come from.

For each shape (circle, two circles, boxplus, sphere) and main loss (Cramér with the
published paired estimator, RBF-MMD), both arms of ``--seeds`` seeds are trained once
with ``ppm-array shape-match``'s defaults (the paper's settings); the late-mean ratio
(regularized / plain, mean of the evaluations from step 400) is then computed under
all three metrics from the clouds each run recorded, so the metrics see the very same
trajectories. Circle + Cramér is also run with the random-halves estimator that
shape-match used before, to separate the estimator's part from the metric's.
Usage::

    python benchmarks/shape_matching_table.py              # 5 seeds, 85 minutes on 2 cores (most of it evaluating)
    python benchmarks/shape_matching_table.py --seeds 2    # quicker
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from dataclasses import replace

import numpy as np

from ppm_array.experiments import METRICS, SHAPES
from ppm_array.experiments._format import mean_std
from ppm_array.experiments.diagrams import critical_diagrams
from ppm_array.experiments.shape_matching import ShapeMatchingConfig, distances_under, late_mean, run_seed

SETTINGS = [(shape, loss, "paired") for shape in SHAPES for loss in ("cramer", "mmd")] + [("circle", "cramer", "halves")]


def ratios(job) -> tuple:
    """``(shape, loss, estimator, seed)`` -> the late-mean ratio under each metric."""
    import numba

    numba.set_num_threads(1)
    shape, loss, estimator, seed = job
    config = replace(ShapeMatchingConfig(), shape=shape, loss=loss, cramer=estimator, metric="paper", seed=seed)
    reference, (plain, regularized) = run_seed(config)
    diagrams = critical_diagrams(reference)
    result = {}
    for metric in METRICS:
        late = [late_mean(run, distances_under(run, diagrams, metric)) for run in (plain, regularized)]
        result[metric] = late[1] / late[0]
    return job, result


def cell(values) -> str:
    return f"{mean_std(values, 3)} ({int(np.sum(np.asarray(values) < 1))}/{len(values)})"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    jobs = [(*setting, seed) for setting in SETTINGS for seed in range(args.seeds)]
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        results = dict(pool.map(ratios, jobs))
    by_setting = {setting: {metric: [results[(*setting, seed)][metric] for seed in range(args.seeds)]
                            for metric in METRICS} for setting in SETTINGS}
    print(f"Late-mean ratio (PPM-Reg arm / plain arm; below 1: PPM-Reg helps), mean +- std over {args.seeds} "
          f"seeds (in brackets: seeds below 1)\n")
    print("| shape | main loss | Cramér estimator | " + " | ".join(f"metric: {m}" for m in METRICS) + " |")
    print("|---|---|---|" + "---:|" * len(METRICS))
    for setting, values in by_setting.items():
        shape, loss, estimator = setting
        print(f"| {shape} | {loss} | {estimator if loss == 'cramer' else ''} | "
              + " | ".join(cell(values[m]) for m in METRICS) + " |")
    print(f"\n{len(jobs)} seed runs in {time.perf_counter() - start:.0f} s with {args.processes} processes")


if __name__ == "__main__":
    main()

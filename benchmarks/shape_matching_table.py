"""The shape-matching table of docs/shape_matching.md: every shape and main loss over several seeds, and where
the published script's 0.37 and shape-match's former 0.71 come from.

For each shape (circle, two circles, boxplus, sphere) and main loss (Cramér with the
published paired estimator, RBF-MMD), both arms of ``--seeds`` seeds are trained once
with ``ppm-array shape-match``'s defaults (the paper's settings); the late-mean ratio
(regularized / plain, mean of the evaluations from step 400) is then computed under
all three metrics from the clouds each run recorded, so the metrics see the very same
trajectories. Circle + Cramér is also run with the random-halves estimator that
shape-match used before, to separate the estimator's part from the metric's.

Each job is one shape and seed: the reference cloud and its diagrams are computed once
and serve every main loss; each recorded cloud's diagrams are computed once, during
training, and every metric is evaluated from them (docs/shape_matching.md gives the
run time before and after). Usage::

    python benchmarks/shape_matching_table.py              # 5 seeds (docs/shape_matching.md: run time)
    python benchmarks/shape_matching_table.py --seeds 1    # quicker
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from dataclasses import replace

import numpy as np
from tqdm import tqdm

from ppm_array.experiments import METRICS, SHAPES
from ppm_array.experiments._format import mean_std
from ppm_array.experiments.shape_matching import ShapeMatchingConfig, distances_under, late_mean, reference_for, run_arm

SETTINGS = [(shape, loss, "paired") for shape in SHAPES for loss in ("cramer", "mmd")] + [("circle", "cramer", "halves")]


def ratios(job) -> dict:
    """``(shape, seed)`` -> ``{(shape, loss, estimator, seed): {metric: late-mean ratio}}`` for every setting of
    the shape; the reference's diagrams are computed once for all of them."""
    import numba

    numba.set_num_threads(1)
    shape, seed = job
    configs = [replace(ShapeMatchingConfig(), shape=shape, loss=loss, cramer=estimator, metric="paper", seed=seed)
               for setting_shape, loss, estimator in SETTINGS if setting_shape == shape]
    reference, diagrams = reference_for(configs[0])
    results = {}
    for config in configs:
        runs = [run_arm(config, reference, with_ppm, diagrams) for with_ppm in (False, True)]
        late = {metric: [late_mean(run, distances_under(run, diagrams, metric)) for run in runs] for metric in METRICS}
        results[(shape, config.loss, config.cramer, seed)] = {metric: high / low for metric, (low, high) in late.items()}
    return results


def cell(values) -> str:
    return f"{mean_std(values, 3)} ({int(np.sum(np.asarray(values) < 1))}/{len(values)})"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    jobs = [(shape, seed) for shape in SHAPES for seed in range(args.seeds)]
    start = time.perf_counter()
    results = {}
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool, \
            tqdm(total=len(SETTINGS) * args.seeds, desc="settings x seeds", file=sys.stderr) as bar:
        for done in pool.imap_unordered(ratios, jobs):
            results.update(done)
            bar.update(len(done))
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
    print(f"\n{len(results)} seed runs in {time.perf_counter() - start:.0f} s with {args.processes} processes")


if __name__ == "__main__":
    main()

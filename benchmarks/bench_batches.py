"""Batches of clouds (issue 23): one batched call against a Python loop over the items, side by side.

Every time is the median of ``--repeat`` rounds after one warm-up round, the batched call and the loop taken in
turn (``timing.median_times``); the machine is printed first. The loop is what a user would otherwise write:
one ``ppm_reg_value_and_grad`` per item, with the same ``rng`` seed (so the same subsamples as the batch).
Usage::

    python benchmarks/bench_batches.py            # about a minute
    python benchmarks/bench_batches.py --repeat 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ppm_array as pa  # noqa: E402
from timing import machine, median_times  # noqa: E402

# The setting (B = 512, N = 64, s = 64), and two larger ones.
SETTINGS = [(512, 64, 64), (64, 256, 1024), (8, 512, 4096)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args(argv).repeat
    print(f"Machine: {machine()}; {numba.get_num_threads()} Numba threads; numpy {np.__version__}, numba "
          f"{numba.__version__}. Value and both gradients, dims (0, 1), float64, median of {repeat} rounds.\n")
    print("| B | N | s | one batched call (ms) | loop over the items (ms) | loop / batched |")
    print("|---:|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for n_items, n_points, n_subsamples in SETTINGS:
        X = rng.normal(size=(n_items, n_points, 2))
        Y = rng.normal(size=(n_items, n_points, 2))
        options = dict(bandwidth=0.3, weights=(1.0, 50.0), n_subsamples=n_subsamples, rng=1)

        def batched():
            pa.ppm_reg_value_and_grad(X, Y, **options)

        def loop():
            for b in range(n_items):
                pa.ppm_reg_value_and_grad(X[b], Y[b], **options)

        one, many = median_times([batched, loop], repeat)
        print(f"| {n_items} | {n_points} | {n_subsamples} | {1e3 * one:.1f} | {1e3 * many:.1f} | {many / one:.1f} |")


if __name__ == "__main__":
    main()

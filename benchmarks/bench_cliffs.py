"""Performance cliffs of the CPU path (issue 22), each as a ratio measured side by side in one process.

Every time is the median of ``--repeat`` calls after one warm-up call, the calls of a row's functions taken
in turn (``timing.median_times``); the machine is printed first.
Usage::

    python benchmarks/bench_cliffs.py            # about a minute
    python benchmarks/bench_cliffs.py --repeat 50

Rows: torch CPU tensors through the core API against the same data as NumPy arrays (and against the
Array-API backend, which such tensors took before); the fixed cost of a 16-point call against the paper's
step, and the cost per cloud of a batch of 16-point clouds in one call; N = 10^6 against N = 512 (with the
memory-traffic floor); the step right after a large elementwise torch operation against the step alone;
``method="auto"`` against the faster of "direct" and "fft".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numba
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ppm_array as pa  # noqa: E402
from roofline import copy_time  # noqa: E402
from timing import machine, median_times  # noqa: E402

# Clouds of the batched row: per-sample losses computed in one call (issue 23), which pays the fixed cost once.
BATCH = 64
PAPER = dict(bandwidth=float(np.sqrt(0.05)), dims=(0, 1), weights=(1.0, 6000.0), n_subsamples=2048)


def clouds(n_points: int, dtype=np.float32, seed: int = 0):
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=(n_points, 2)).astype(dtype) for _ in range(2))


def step(X, Y, **options):
    keywords = {**PAPER, "method": "direct", **options}
    return lambda: pa.ppm_reg_value_and_grad(X, Y, rng=0, **keywords)


def small_call(X, Y):
    """The small call whose cost is the fixed cost: 16 subsamples per dimension, value and both gradients."""
    return lambda: pa.ppm_reg_value_and_grad(X, Y, bandwidth=0.2, n_subsamples=16, rng=0)


def row(label: str, numerator: float, denominator: float, goal: str) -> None:
    print(f"| {label} | {1e3 * numerator:.3f} | {1e3 * denominator:.3f} | {numerator / denominator:.3f} | {goal} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=25)
    repeat = parser.parse_args(argv).repeat
    torch.set_num_threads(numba.get_num_threads())
    print(f"Machine: {machine()}; {numba.get_num_threads()} threads for Numba and torch; numpy {np.__version__}, "
          f"numba {numba.__version__}, torch {torch.__version__}. Median of {repeat} calls after a warm-up.\n")
    print("| cliff | time (ms) | against (ms) | ratio | goal |")
    print("|---|---:|---:|---:|---|")
    X, Y = clouds(512)
    tX, tY = torch.from_numpy(X).requires_grad_(True), torch.from_numpy(Y)
    paper, tensors = median_times([step(X, Y), step(tX, tY)], repeat)
    row("torch CPU tensors (requires_grad X) / NumPy, paper step, float32", tensors, paper, "<= 1.1")
    paper, reference = median_times([step(X, Y), step(tX.detach(), tY, backend="array_api")], max(3, repeat // 5))
    row("torch CPU tensors on the Array-API backend (their path before) / NumPy", reference, paper, "(was the path)")
    small = clouds(16, np.float64)
    fixed, paper = median_times([small_call(*small), step(X, Y)], repeat)
    row("16-point call (fixed cost) / paper step", fixed, paper, "<= 0.1")
    batch = tuple(np.random.default_rng(1).normal(size=(2, BATCH, 16, 2)))
    batched, paper = median_times([small_call(*batch), step(X, Y)], repeat)
    row(f"a batch of {BATCH} 16-point clouds in one call, per cloud / paper step", batched / BATCH, paper,
        "(the fixed cost paid once)")
    large = clouds(10**6)
    big, paper = median_times([step(*large), step(X, Y)], repeat)
    row("N = 10^6 / N = 512, s = 2048", big, paper, "<= 2")
    row("(t(10^6) - t(512)) / memory-traffic floor at 10^6", big - paper, copy_time(*large),
        "(floor: `roofline.copy_time`)")
    A = torch.rand(2048, 2048)

    def torch_op():  # an elementwise op on torch's thread pool
        torch.exp(A)

    def after_torch():
        torch_op()
        step(X, Y)()

    together, op, paper = median_times([after_torch, torch_op, step(X, Y)], repeat)
    row("torch op, then the step / (the op alone + the step alone)", together, op + paper, "<= 1.5")
    auto, direct, fourier = median_times([step(X, Y, method=m) for m in ("auto", "direct", "fft")], repeat)
    row("method='auto' / faster of 'direct' and 'fft', paper step", auto, min(direct, fourier), "<= 1.25")


if __name__ == "__main__":
    main()

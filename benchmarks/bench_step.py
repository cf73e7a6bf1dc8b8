"""One PPM-Reg value+gradient step: ppm_array against the published algorithm.

Everything is measured side by side in one process, so ratios are meaningful on
a shared, noisy machine. Times are the minimum of ``--repeat`` runs after one
warm-up. Usage::

    python benchmarks/bench_step.py            # full grid, writes a markdown report to stdout
    python benchmarks/bench_step.py --quick    # a reduced grid in about a minute
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import numba
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ppm_array as pa  # noqa: E402
from ppm_array._backends import numba_cpu  # noqa: E402
from published_baseline import published_value_and_grad  # noqa: E402

BANDWIDTH = float(np.sqrt(0.05))
WEIGHTS = {(0, 1): (1.0, 6000.0), (0, 1, 2): (1.0, 6000.0, 6000.0)}


def clouds(n_points: int, d: int, seed: int = 0):
    """The paper's setting: training cloud 0.3 N(0, I), reference a noisy circle (in the first two axes)."""
    rng = np.random.default_rng(seed)
    X = 0.3 * rng.normal(size=(n_points, d))
    angle = rng.uniform(0, 2 * np.pi, n_points)
    Y = 0.01 * rng.normal(size=(n_points, d))
    Y[:, 0] += np.cos(angle)
    Y[:, 1] += np.sin(angle)
    return X, Y


def best_time(function, repeat: int) -> float:
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def ours(X, Y, s, dims, backend="numba"):
    return lambda: pa.ppm_reg_value_and_grad(X, Y, bandwidth=BANDWIDTH, dims=dims, weights=WEIGHTS[dims],
                                            n_subsamples=s, rng=0, backend=backend)


def baseline(X, Y, s, dims):
    generator = np.random.default_rng(0)
    indices_x, indices_y = [], []
    for q in dims:  # the same draw order as ppm_reg: X then Y for each dimension
        indices_x.append(torch.asarray(pa.subsample_indices(X.shape[0], q, s, rng=generator)))
        indices_y.append(torch.asarray(pa.subsample_indices(Y.shape[0], q, s, rng=generator)))
    Xt, Yt = torch.asarray(X), torch.asarray(Y)
    return lambda: published_value_and_grad(Xt, Yt, indices_x, indices_y, dims, WEIGHTS[dims], 2 * BANDWIDTH**2)


def headline(repeat):
    X, Y = clouds(512, 2)
    value_ours, grad_ours, _ = ours(X, Y, 2048, (0, 1))()
    value_base, grad_base, _ = baseline(X, Y, 2048, (0, 1))()
    agreement = float(np.abs(grad_base.numpy() - grad_ours).max() / np.abs(grad_ours).max())
    t_ours = best_time(ours(X, Y, 2048, (0, 1)), repeat)
    t_ref = best_time(ours(X, Y, 2048, (0, 1), "array_api"), max(1, repeat // 2))
    t_base = best_time(baseline(X, Y, 2048, (0, 1)), max(1, repeat // 2))
    print("## Headline: N=512, d=2, s=2048, dims (0, 1), weights (1, 6000), float64\n")
    print("| implementation | time per step (ms) | speed-up vs published |")
    print("|---|---:|---:|")
    print(f"| published algorithm (PyTorch autograd) | {1e3 * t_base:.1f} | 1.0x |")
    print(f"| ppm_array backend='array_api' (NumPy) | {1e3 * t_ref:.1f} | {t_base / t_ref:.1f}x |")
    print(f"| ppm_array backend='numba' | {1e3 * t_ours:.1f} | **{t_base / t_ours:.1f}x** |")
    print(f"\nValues {float(value_base):.12g} (published) and {float(value_ours):.12g} (ours); "
          f"max gradient difference {agreement:.1e} relative.\n")


def sweep_s(repeat, sizes, baseline_max):
    print("## Step time against s (N=512, d=2)\n")
    print("| s | dims | dtype | ppm_array (ms) | published (ms) | speed-up |")
    print("|---:|---|---|---:|---:|---:|")
    for dims, dtype in (((0, 1), np.float64), ((0, 1), np.float32), ((0, 1, 2), np.float64)):
        X, Y = (a.astype(dtype) for a in clouds(512, 2))
        for s in sizes:
            t = best_time(ours(X, Y, s, dims), repeat if s <= 8192 else 1)
            if s <= baseline_max:
                b = best_time(baseline(X, Y, s, dims), 1)
                extra = f"{1e3 * b:.1f} | {b / t:.1f}x"
            else:
                extra = "— | —"
            print(f"| {s} | {dims} | {np.dtype(dtype).name} | {1e3 * t:.1f} | {extra} |")
    print()


def sweep_n(repeat, sizes, baseline_max):
    print("## Step time against N (s=2048, dims (0, 1), float64)\n")
    print("| N | d | ppm_array (ms) | ratio to N=512 | published (ms) | speed-up |")
    print("|---:|---:|---:|---:|---:|---:|")
    for d in (2, 128):
        reference = None
        for n_points in sizes if d == 2 else [n for n in sizes if n * d <= 2 * 10**7]:
            X, Y = clouds(n_points, d)
            t = best_time(ours(X, Y, 2048, (0, 1)), repeat)
            if n_points == 512:
                reference = t
            ratio = f"{t / reference:.2f}" if reference else "—"
            if n_points <= baseline_max:
                b = best_time(baseline(X, Y, 2048, (0, 1)), 1)
                extra = f"{1e3 * b:.1f} | {b / t:.1f}x"
            else:
                extra = "— | —"
            print(f"| {n_points} | {d} | {1e3 * t:.1f} | {ratio} | {extra} |")
    print()


def peak_memory(s):
    X, Y = clouds(512, 2)
    step = ours(X, Y, s, (0, 1))
    step()
    tracemalloc.start()
    start = time.perf_counter()
    step()
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    dense = 3 * s * s * 8 / 2**20
    print(f"## Memory\n\nOne step at s={s}, N=512, dims (0, 1), float64: {elapsed * 1e3:.0f} ms, "
          f"peak traced allocation {peak / 2**20:.1f} MiB (one dense s x s float64 kernel matrix would be "
          f"{dense / 3:.0f} MiB; the published algorithm holds several).\n")


def throughput(repeat):
    """Kernel pairs per second of the fused MMD pass alone."""
    rng = np.random.default_rng(0)
    rows = []
    for s in (2048, 16384):
        birth, lifetime = rng.uniform(0, 1, (2, s)), rng.uniform(0.01, 1, (2, s))
        P = (birth[0], lifetime[0], np.full(s, 1 / s))
        Q = (birth[1], lifetime[1], np.full(s, 1 / s))
        t = best_time(lambda: numba_cpu.mmd_squared(P, Q, bandwidth=0.2, weight_power=1.0, unbiased=False,
                                                    with_grad=True, xp=np), repeat)
        pairs = s * (s - 1) / 2 * 2 + s * s  # two symmetric within-sums (each pair once) and one cross-sum
        rows.append((s, t, pairs / t))
    print("## Kernel throughput (fused MMD value and gradient, all points alive)\n")
    print("| s | time (ms) | kernel pairs / s |")
    print("|---:|---:|---:|")
    for s, t, rate in rows:
        print(f"| {s} | {1e3 * t:.1f} | {rate / 1e9:.2f} G |")
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced grid in about a minute")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(numba.get_num_threads())
    print(f"Machine: {platform.processor() or platform.machine()}, {numba.get_num_threads()} threads; "
          f"numpy {np.__version__}, numba {numba.__version__}, torch {torch.__version__}.\n")
    headline(args.repeat)
    if args.quick:
        sweep_s(args.repeat, (512, 2048, 8192), 2048)
        sweep_n(args.repeat, (512, 100_000), 512)
        peak_memory(8192)
    else:
        sweep_s(args.repeat, (512, 2048, 4096, 8192, 32768), 4096)
        sweep_n(args.repeat, (128, 512, 4096, 100_000, 1_000_000), 4096)
        peak_memory(32768)
        throughput(args.repeat)


if __name__ == "__main__":
    main()

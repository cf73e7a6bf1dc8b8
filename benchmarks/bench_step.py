"""One PPM-Reg value+gradient step: ppm_array against the published algorithm, and against the machine.

Everything is measured side by side in one process, so ratios are meaningful on
a shared, noisy machine. Times are the minimum of ``--repeat`` runs after one
warm-up (one run for the published code from s = 8192 on). Usage::

    python benchmarks/bench_step.py                 # full report (markdown) on stdout, about 10 minutes
    python benchmarks/bench_step.py --quick         # a reduced grid in about a minute
    python benchmarks/bench_step.py --published-code path/to/Scalable-Topological-Regularizers/PPM.py

With ``--published-code`` the authors' PPM.py itself (from a clone of
github.com/htwong-ai/Scalable-Topological-Regularizers, not shipped here) is timed
beside ``published_baseline.py``, this project's step-for-step rewrite of it.
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
from ppm_array._backends import numba_cpu  # noqa: E402
from ppm_array._backends.contract import KernelPoints  # noqa: E402
from published_baseline import load_published, published_value_and_grad  # noqa: E402
from roofline import copy_time, evaluation_loop, pair_loop  # noqa: E402
from timing import best_time, best_times, cold_time, machine  # noqa: E402

BANDWIDTH = float(np.sqrt(0.05))  # the paper's width 0.1
WIDTH = 2 * BANDWIDTH**2
DIMS, WEIGHTS = (0, 1), (1.0, 6000.0)


def clouds(n_points: int, d: int = 2, seed: int = 0):
    """The paper's setting: training cloud 0.3 N(0, I), reference a noisy unit circle (in the first two axes)."""
    rng = np.random.default_rng(seed)
    X = 0.3 * rng.normal(size=(n_points, d))
    angle = rng.uniform(0, 2 * np.pi, n_points)
    Y = 0.01 * rng.normal(size=(n_points, d))
    Y[:, 0] += np.cos(angle)
    Y[:, 1] += np.sin(angle)
    return X, Y


def ours(X, Y, s):
    """ppm_array's step with the exact sums (``method="auto"`` would take the Fourier method from about 2000
    points on: docs/scaling.md)."""
    return lambda: pa.ppm_reg_value_and_grad(X, Y, bandwidth=BANDWIDTH, dims=DIMS, weights=WEIGHTS, n_subsamples=s,
                                            rng=0, method="direct")


def rewrite(X, Y, s):
    """The published algorithm (our rewrite) on the very subsamples ppm_array draws with ``rng=0``."""
    generator = np.random.default_rng(0)
    indices_x, indices_y = [], []
    for q in DIMS:  # the draw order of ppm_reg: X then Y for each dimension
        indices_x.append(torch.asarray(pa.subsample_indices(X.shape[0], q, s, rng=generator)))
        indices_y.append(torch.asarray(pa.subsample_indices(Y.shape[0], q, s, rng=generator)))
    Xt, Yt = torch.asarray(X), torch.asarray(Y)
    return lambda: published_value_and_grad(Xt, Yt, indices_x, indices_y, DIMS, WEIGHTS, WIDTH)


def authors(module, X, Y, s):
    """One step of the authors' PPM.py as their shape-matching script runs it (X trained, Y the reference)."""
    Yt = torch.asarray(Y)
    mmd = module.MMD(WIDTH, weights=list(WEIGHTS), num_samples=[s, s])

    def step():
        Xt = torch.asarray(X).requires_grad_(True)
        reference = module.compute_ppm(Yt, 1, [s, s], use_zero=True)
        trained = module.compute_ppm(Xt, 1, [s, s], use_zero=True)
        mmd(reference, trained).backward()
        return Xt.grad

    return step


def throughput(n: int, repeat: int):
    print(f"## Kernel throughput against the machine (s = {n}, every point alive)\n")
    print("One-sided loop: the standalone loop of `benchmarks/roofline.py` (`evaluation_loop`: one evaluation per")
    print("ordered pair, the polynomial exp and one point's value and gradient sums, nothing stored in the inner loop).")
    print("Pair loop: the kernels' own tile loop in the simplest schedule (`pair_loop`: one exp per pair and the sums of")
    print("both of its points, no compaction, float64 flushes or conflict-free scheduling).")
    print("ppm_array: `pair_moments` of the Numba backend for the two within-sums and the cross-sum of an MMD,")
    print("pairs counted as s(s-1)/2 per within-sum and s^2 for the cross-sum. A pair does the work of two")
    print("one-sided evaluations but one exp: the moments of an MMD take 2 s^2 pairs or 4 s^2 evaluations, so")
    print("ppm_array is faster than the one-sided loop at the same result where its ratio to that loop exceeds 0.5.\n")
    print("| points | dtype | one-sided loop (G evaluations/s) | pair loop (G pairs/s) | ppm_array (G pairs/s) "
          "| ppm_array / one-sided | ppm_array / pair loop |")
    print("|---|---|---:|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for planar in (False, True):
        for dtype in (np.float64, np.float32):
            one_sided_loop, evaluations = evaluation_loop(n, dtype, planar)
            tile_loop, loop_pairs = pair_loop(n, dtype, planar)
            P, Q = (KernelPoints((rng.uniform(0, 1, n) if planar else np.zeros(n)).astype(dtype),
                                 rng.uniform(0.01, 1, n).astype(dtype), np.full(n, 1 / n, dtype)) for _ in range(2))
            c = np.asarray(10.0, dtype=dtype)

            def step():
                numba_cpu.pair_moments(P, P, same_set=True, inv_two_h2=c, xp=np)
                numba_cpu.pair_moments(Q, Q, same_set=True, inv_two_h2=c, xp=np)
                numba_cpu.pair_moments(P, Q, same_set=False, inv_two_h2=c, xp=np)

            times = best_times([one_sided_loop, tile_loop, step], repeat)  # in turn: a slow spell falls on all
            one_sided, pairs, rate = evaluations / times[0], loop_pairs / times[1], (n * (n - 1) + n * n) / times[2]
            label = "(birth, lifetime), q >= 1" if planar else "lifetime only, q = 0"
            print(f"| {label} | {np.dtype(dtype).name} | {one_sided / 1e9:.2f} | {pairs / 1e9:.2f} | {rate / 1e9:.2f} "
                  f"| {rate / one_sided:.2f} | {rate / pairs:.2f} |")
    print()


def against_published(sizes, repeat, module):
    X64, Y64 = clouds(512)
    value_ours, grad_ours, _ = ours(X64, Y64, 2048)()
    value_rewrite, grad_rewrite = rewrite(X64, Y64, 2048)()
    agreement = float(np.abs(grad_rewrite.numpy() - grad_ours).max() / np.abs(grad_ours).max())
    print("## One step against the published algorithm (N = 512, d = 2, dims (0, 1), weights (1, 6000), "
          "h = sqrt(0.05))\n")
    print("PPM.py: the authors' code itself. Rewrite: `published_baseline.py`, the same algorithm on the same")
    print("subsamples as ppm_array. The published code runs in float32, PyTorch's default; float32 is the headline.\n")
    print("| s | dtype | PPM.py (ms) | rewrite (ms) | ppm_array (ms) | speed-up vs PPM.py | speed-up vs rewrite |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for dtype in (np.float32, np.float64):
        X, Y = X64.astype(dtype), Y64.astype(dtype)
        for s in sizes:
            slow_repeat = repeat if s < 8192 else 1
            t_ours = best_time(ours(X, Y, s), repeat)
            t_rewrite = best_time(rewrite(X, Y, s), slow_repeat)
            t_authors = best_time(authors(module, X, Y, s), slow_repeat) if module else float("nan")
            authors_cells = f"{1e3 * t_authors:.1f}" if module else "—"
            ratio_authors = f"{t_authors / t_ours:.1f}x" if module else "—"
            print(f"| {s} | {np.dtype(dtype).name} | {authors_cells} | {1e3 * t_rewrite:.1f} | {1e3 * t_ours:.2f} "
                  f"| {ratio_authors} | {t_rewrite / t_ours:.1f}x |")
    print(f"\nAt s = 2048 in float64 the rewrite's value is {float(value_rewrite):.12g} and ours "
          f"{float(value_ours):.12g}; the largest difference of the gradients is {agreement:.1e} of the largest entry.\n")


def large_clouds(repeat):
    print("## Large clouds: what N costs (s = 2048, d = 2, dims (0, 1))\n")
    print("Floor: reading both clouds once and writing two new arrays of their shape once (`roofline.copy_time`),")
    print("measured in this run at N = 10^6. The N-dependent part of a step is t(N) - t(512). Every time here is the")
    print("fastest of 25 calls, each after evicting the caches (`roofline.cold_time`): at N = 10^6 the clouds and")
    print("gradients fill this machine's 32 MiB L3, and in training the rest of a step evicts them.\n")
    print("| dtype | t(512) (ms) | t(10^5) (ms) | t(10^6) (ms) | floor at 10^6 (ms) | (t(10^6) - t(512)) / floor |")
    print("|---|---:|---:|---:|---:|---:|")
    for dtype in (np.float64, np.float32):
        times = {}
        for n in (512, 10**5, 10**6):
            X, Y = (a.astype(dtype) for a in clouds(n))
            times[n] = cold_time(ours(X, Y, 2048), 25)
        floor = copy_time(X, Y)
        print(f"| {np.dtype(dtype).name} | {1e3 * times[512]:.2f} | {1e3 * times[10**5]:.2f} | {1e3 * times[10**6]:.2f} "
              f"| {1e3 * floor:.2f} | {(times[10**6] - times[512]) / floor:.2f} |")
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced grid in about a minute")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--published-code", type=Path, default=None,
                        help="path to the authors' PPM.py, to time it beside the rewrite")
    args = parser.parse_args(argv)
    torch.set_num_threads(numba.get_num_threads())
    print(f"Machine: {machine()}; {numba.get_num_threads()} threads for Numba and "
          f"torch; numpy {np.__version__}, numba {numba.__version__}, torch {torch.__version__}.\n")
    module = load_published(args.published_code)
    throughput(4096 if args.quick else 16384, args.repeat)
    against_published((512, 2048) if args.quick else (512, 2048, 8192), args.repeat, module)
    large_clouds(args.repeat)


if __name__ == "__main__":
    main()

"""PPM-Reg at large s: the direct sums against the Fourier method, and what a large s buys.

Everything runs side by side in one process (the memory probe in a fresh one), on
the paper's shape-matching setting: a 0.3 N(0, I) training cloud against a noisy
unit circle, N = 512 points each in 2-D, dims (0, 1), weights (1, 6000), h = sqrt(0.05).

1. Crossover: ``mmd_value_and_grad`` of two PPMs' points with a feature, by the
   direct sums and by the Fourier method, against their total number of points,
   for q = 0 (1-D points) and q = 1 (2-D): where ``method="auto"`` should switch.
2. Step time of ``ppm_reg_value_and_grad`` for s = 2^11 .. 2^20 per dimension with
   ``method="direct"``, ``"fft"`` and ``"auto"``; then s = 10^6 with ``"fft"``
   against s = 16384 with ``"direct"``.
3. The peak memory that the s = 10^6 ``"fft"`` step adds to the process (its
   resident-set high-water mark above what it held before the step).
4. The relative standard deviation across 8 seeds of the q = 1 term's gradient
   with respect to the training cloud, ``sqrt(mean_k |g_k - g|^2) / |g|`` (``g``
   the mean over seeds), against s: below 1 the gradient carries more signal than noise.

Usage::

    python benchmarks/bench_scaling.py            # markdown on stdout, about 6 minutes on 2 cores
    python benchmarks/bench_scaling.py --quick    # s up to 2^14, about a minute
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ppm_array as pa  # noqa: E402
from bench_step import BANDWIDTH, DIMS, WEIGHTS, clouds  # noqa: E402
from ppm_array._mmd.method import FOURIER_CROSSOVER  # noqa: E402
from timing import best_time  # noqa: E402

METHODS = ("direct", "fft", "auto")
SEEDS = 8
# Direct steps from this s on take seconds: one timed run each (after the warm-up).
SLOW_FROM = 2**15


def step(X, Y, s, method, **options):
    return lambda: pa.ppm_reg_value_and_grad(X, Y, bandwidth=BANDWIDTH, dims=DIMS, weights=WEIGHTS, n_subsamples=s,
                                            rng=0, method=method, **options)


def feature_points(cloud, q: int, n: int, seed: int):
    """``n`` points with a feature of ``PPM_q(cloud)`` (equal masses)."""
    sample = pa.principal_persistence(cloud, q, n_subsamples=40 * n if q else 2 * n, rng=seed)
    alive = np.flatnonzero(sample.lifetime > 0)[:n]
    take = {name: getattr(sample, name)[alive] for name in ("birth", "lifetime", "birth_edge", "death_edge")}
    return sample._replace(**take, mass=np.full(alive.size, 1.0 / alive.size, dtype=cloud.dtype))


def crossover(repeat: int, totals) -> None:
    X, Y = clouds(512)
    print("\n## 1. Crossover: one MMD with gradients, both PPMs' points together\n")
    print(f"`method=\"auto\"` switches to the Fourier method from {FOURIER_CROSSOVER[64]} points in float64 and "
          f"{FOURIER_CROSSOVER[32]} in float32.\n")
    print("| points | q = 0 direct (ms) | q = 0 fft (ms) | q = 1 direct (ms) | q = 1 fft (ms) "
          "| q = 0 float32 direct (ms) | q = 0 float32 fft (ms) | q = 1 float32 direct (ms) | q = 1 float32 fft (ms) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for total in totals:
        cells = []
        for q, dtype in ((0, np.float64), (1, np.float64), (0, np.float32), (1, np.float32)):
            P, Q = (feature_points(cloud.astype(dtype), q, total // 2, seed) for cloud, seed in ((X, 1), (Y, 2)))
            for method in ("direct", "fft"):
                seconds = best_time(lambda: pa.mmd_value_and_grad(P, Q, bandwidth=BANDWIDTH, method=method), repeat)
                cells.append(f"{1e3 * seconds:.2f}")
        print(f"| {total} | " + " | ".join(cells) + " |")


def step_times(repeat: int, exponents) -> None:
    X, Y = clouds(512)
    print("\n## 2. Step time (value and both gradients), s per dimension\n")
    print("| s | direct (ms) | fft (ms) | auto (ms) | auto / faster |")
    print("|---:|---:|---:|---:|---:|")
    for exponent in exponents:
        s = 2**exponent
        times = {method: best_time(step(X, Y, s, method), 1 if method == "direct" and s >= SLOW_FROM else repeat)
                 for method in METHODS}
        faster = min(times["direct"], times["fft"])
        print(f"| 2^{exponent} | {1e3 * times['direct']:.1f} | {1e3 * times['fft']:.1f} | {1e3 * times['auto']:.1f} "
              f"| {times['auto'] / faster:.2f} |")
    fourier = best_time(step(X, Y, 10**6, "fft"), repeat)
    direct = best_time(step(X, Y, 16384, "direct"), repeat)
    print(f"\ns = 10^6 with `method=\"fft\"`: {1e3 * fourier:.1f} ms; s = 16384 with `method=\"direct\"`: "
          f"{1e3 * direct:.1f} ms (ratio {fourier / direct:.2f}).")


MEMORY_PROBE = """
import resource, sys
import numpy as np
sys.path.insert(0, {here!r})
from bench_scaling import step
from bench_step import clouds
X, Y = clouds(512)
step(X, Y, 2048, "fft")()  # compiled and loaded
with open("/proc/self/statm") as f:
    before = int(f.read().split()[1]) * resource.getpagesize()
step(X, Y, 10**6, "fft")()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print((peak - before) / 2**20)
"""


def peak_memory() -> None:
    probe = MEMORY_PROBE.format(here=str(Path(__file__).resolve().parent))
    extra = float(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                                 text=True).stdout.split()[-1])
    print("\n## 3. Memory\n")
    print(f"Peak resident memory added by the s = 10^6 `method=\"fft\"` step: {extra:.0f} MiB.")


def gradient_noise(exponents) -> None:
    X, Y = clouds(512)
    print(f"\n## 4. Noise of the q = 1 gradient across {SEEDS} seeds\n")
    print("| s | relative std of grad_X | subsamples with a feature per point and step |")
    print("|---:|---:|---:|")
    for exponent in exponents:
        s = 2**exponent
        grads = np.stack([pa.ppm_reg_value_and_grad(X, Y, bandwidth=BANDWIDTH, dims=(1,), weights=(1.0,),
                                                    n_subsamples=s, rng=seed)[1] for seed in range(SEEDS)])
        mean = grads.mean(axis=0)
        spread = np.sqrt(np.mean(np.sum((grads - mean) ** 2, axis=(1, 2))))
        features = np.count_nonzero(pa.principal_persistence(X, 1, n_subsamples=s, rng=0).lifetime)
        print(f"| 2^{exponent} | {spread / np.linalg.norm(mean):.2f} | {4 * features / X.shape[0]:.1f} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="s up to 2^14, about a minute")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    top = 14 if args.quick else 20
    print(f"# Scaling in s ({platform.processor() or platform.machine()}, numpy {np.__version__})")
    crossover(args.repeat, (1000, 1500, 2000, 3000, 4000, 6000, 8000))
    step_times(args.repeat, range(11, top + 1))
    peak_memory()
    gradient_noise(range(9, top + 1))


if __name__ == "__main__":
    main()

"""One PPM-Reg value+gradient step on CuPy (Numba-CUDA) against NumPy (Numba CPU).

Run by ``make gpu-check`` on a machine with an NVIDIA GPU. Times are the minimum of
five runs after a warm-up, with the device synchronised before each clock read.
"""

from __future__ import annotations

import time

import cupy
import numpy as np

import ppm_array as pa

BANDWIDTH = float(np.sqrt(0.05))


def clouds(n_points, seed=0):
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, n_points)
    Y = np.stack([np.cos(angle), np.sin(angle)], axis=1) + 0.01 * rng.normal(size=(n_points, 2))
    return 0.3 * rng.normal(size=(n_points, 2)), Y


def best_time(step, synchronise, repeat=5):
    step()
    synchronise()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        synchronise()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    print(f"GPU: {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}")
    print("| s | dtype | GPU (ms) | CPU numba (ms) | GPU speed-up |")
    print("|---:|---|---:|---:|---:|")
    X, Y = clouds(512)
    for dtype in (np.float64, np.float32):
        Xg, Yg = cupy.asarray(X, dtype=dtype), cupy.asarray(Y, dtype=dtype)
        Xc, Yc = X.astype(dtype), Y.astype(dtype)
        for s in (2048, 8192, 32768, 131072):
            options = dict(bandwidth=BANDWIDTH, weights=(1, 6000), n_subsamples=s, rng=0)
            gpu = best_time(lambda: pa.ppm_reg_value_and_grad(Xg, Yg, **options), cupy.cuda.Device().synchronize)
            cpu = best_time(lambda: pa.ppm_reg_value_and_grad(Xc, Yc, **options), lambda: None, 1) if s <= 32768 else float("nan")
            print(f"| {s} | {np.dtype(dtype).name} | {1e3 * gpu:.2f} | {1e3 * cpu:.1f} | {cpu / gpu:.1f}x |")


if __name__ == "__main__":
    main()

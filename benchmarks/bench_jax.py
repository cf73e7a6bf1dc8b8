"""The JAX adapter's two paths against the NumPy (Numba) path, side by side in one process, and the native path's
peak memory at a large s (in a fresh process: the resident set before the step, and the kernel's
high-water mark after it).

Paper setting: N = 512, d = 2, dims (0, 1), weights (1, 6000), h = sqrt(0.05), s = 2048, method="direct",
float32; the time of ``jax.jit(jax.grad(...))`` (a fixed key) and of ``ppm_reg_value_and_grad``. Then the
Fourier method of the native path (jax-finufft, float64) against its direct sums and the NumPy path's two methods,
as s grows. Usage::

    python benchmarks/bench_jax.py          # about five minutes on 2 cores
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# The checkout this script belongs to, before any installed copy of ppm_array.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OPTIONS = dict(bandwidth=0.05**0.5, dims=(0, 1), weights=(1.0, 6000.0), n_subsamples=2048, method="direct")

MEMORY_PROBE = """
import resource, json, time, jax, jax.numpy as jnp, numpy as np, ppm_array.jax as paj
rng = np.random.default_rng(0)
X, Y = (jnp.asarray(a, dtype=jnp.float32) for a in (0.3 * rng.normal(size=(512, 2)), rng.normal(size=(512, 2))))
options = dict(bandwidth=0.05**0.5, dims=(0,), n_subsamples={s}, method="direct")
step = jax.jit(jax.grad(lambda x, y, k: paj.ppm_reg(x, y, k, **options)))
before = int(next(line for line in open("/proc/self/status") if line.startswith("VmRSS")).split()[1])
start = time.perf_counter()
step(X, Y, jax.random.key(0)).block_until_ready()
print(json.dumps({{"before_kib": before, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "seconds": time.perf_counter() - start}}))
"""


def clouds():
    rng = np.random.default_rng(0)
    angle = np.linspace(0, 2 * np.pi, 512, endpoint=False)
    return (0.3 * rng.normal(size=(512, 2))).astype(np.float32), np.stack([np.cos(angle), np.sin(angle)], 1).astype(
        np.float32)


def side_by_side(repeat: int = 30) -> dict:
    import jax
    import jax.numpy as jnp

    import ppm_array as pa
    import ppm_array.jax as paj

    X, Y = clouds()
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    key = jax.random.key(0)
    native = jax.jit(jax.grad(lambda x, y, k: paj.ppm_reg(x, y, k, **OPTIONS)))
    host = jax.jit(jax.grad(lambda x, y, k: paj.ppm_reg(x, y, k, backend="numba", **OPTIONS)))
    generator = np.random.default_rng(1)
    calls = {
        "NumPy path (Numba), ppm_reg_value_and_grad": lambda: pa.ppm_reg_value_and_grad(X, Y, rng=generator, **OPTIONS),
        "JAX native, jit(grad)": lambda: native(Xj, Yj, key).block_until_ready(),
        "JAX callback (backend='numba'), jit(grad)": lambda: host(Xj, Yj, key).block_until_ready(),
    }
    best = {}
    for name, call in calls.items():
        call()
        best[name] = float("inf")
    for _ in range(repeat):  # interleaved, so that a busy moment of the machine hits every call alike
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


FOURIER_SIZES = (1024, 2048, 8192, 32768)


def fourier_side_by_side() -> dict:
    """Per s: the fastest of a few interleaved calls of each method, float64 (the Fourier method's precision)."""
    import jax
    import jax.numpy as jnp

    import ppm_array as pa
    import ppm_array.jax as paj

    jax.config.update("jax_enable_x64", True)
    X, Y = (a.astype(np.float64) for a in clouds())
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    key = jax.random.key(0)
    table = {}
    for s in FOURIER_SIZES:
        options = dict(OPTIONS, n_subsamples=s)
        calls = {}
        for method in ("direct", "fft"):
            step = jax.jit(jax.grad(lambda x, y, k, m=method: paj.ppm_reg(x, y, k, **dict(options, method=m))))
            calls[f"JAX native, {method}"] = lambda step=step: step(Xj, Yj, key).block_until_ready()
        for method in ("direct", "fft"):
            calls[f"NumPy path, {method}"] = lambda m=method: pa.ppm_reg_value_and_grad(
                X, Y, rng=1, **dict(options, method=m))
        best = {}
        for name, call in calls.items():
            call()
            best[name] = float("inf")
        for _ in range(3 if s > 8192 else 10):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                best[name] = min(best[name], time.perf_counter() - start)
        table[s] = best
    return table


def peak_memory(s: int) -> dict:
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE.format(s=s)], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    return json.loads(result.stdout)


def main():
    import ppm_array

    print(f"ppm_array from {Path(ppm_array.__file__).parent}\n")
    best = side_by_side()
    reference = best["NumPy path (Numba), ppm_reg_value_and_grad"]
    print("## JAX: one step at the paper setting (float32, s = 2048 per dimension; fastest of 30, interleaved)\n")
    print("| call | ms | against the NumPy path |")
    print("|---|---:|---:|")
    for name, seconds in best.items():
        print(f"| {name} | {1e3 * seconds:.2f} | {seconds / reference:.2f}x |")
    print("\n## JAX native: peak memory of one jit(grad) step, dims (0,), N = 512 (fresh process each)\n")
    print("| s | resident before the step (MiB) | peak resident (MiB) | step incl. compilation (s) |")
    print("|---:|---:|---:|---:|")
    for s in (2048, 65536):
        m = peak_memory(s)
        print(f"| {s} | {m['before_kib'] / 1024:.0f} | {m['peak_kib'] / 1024:.0f} | {m['seconds']:.1f} |")
    table = fourier_side_by_side()
    names = list(next(iter(table.values())))
    print("\n## JAX native: the Fourier method (jax-finufft) against the direct sums, float64, dims (0, 1), "
          "ms per step (fastest of 10, of 3 above s = 8192; interleaved)\n")
    print("| s | " + " | ".join(names) + " | native fft / native direct |")
    print("|---:|" + "---:|" * (len(names) + 1))
    for s, best in table.items():
        cells = " | ".join(f"{1e3 * best[name]:.1f}" for name in names)
        print(f"| {s} | {cells} | {best['JAX native, fft'] / best['JAX native, direct']:.2f} |")
    print()


if __name__ == "__main__":
    main()

"""PPM-Reg on a GPU: CuPy (Numba-CUDA, cuFINUFFT) against NumPy (Numba CPU, FINUFFT), run by ``make gpu-check``.

Reports, in markdown: the GPU; CuPy's results against NumPy's; whether a call makes
the host wait for the device (measured with ``sync_probe``); and the step time of
``ppm_reg_value_and_grad`` on the paper's shape-matching setting for s = 2^11 .. 2^20
per dimension, by method and dtype, beside the CPU. Times are the fastest of
``--repeat`` runs after a warm-up, the device synchronised before each clock read.
Usage::

    python benchmarks/bench_gpu.py                          # markdown on stdout
    python benchmarks/bench_gpu.py --write docs/benchmarks.md   # and into its GPU section
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import time
from pathlib import Path

import cupy
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ppm_array as pa  # noqa: E402
from sync_probe import waits_for_device  # noqa: E402

BANDWIDTH = float(np.sqrt(0.05))
OPTIONS = dict(bandwidth=BANDWIDTH, dims=(0, 1), weights=(1.0, 6000.0), rng=0)
BEGIN, END = "<!-- gpu-check:begin -->", "<!-- gpu-check:end -->"
# The CPU is timed up to these s (direct sums) and beyond with the Fourier method only.
CPU_DIRECT_UP_TO, CPU_UP_TO = 2**14, 2**20


def clouds(n_points: int = 512, seed: int = 0):
    """The paper's setting: training cloud 0.3 N(0, I), reference a noisy unit circle."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, n_points)
    Y = np.stack([np.cos(angle), np.sin(angle)], axis=1) + 0.01 * rng.normal(size=(n_points, 2))
    return 0.3 * rng.normal(size=(n_points, 2)), Y


def best_time(step, synchronise, repeat: int) -> float:
    step()
    synchronise()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        synchronise()
        times.append(time.perf_counter() - start)
    return min(times)


def relative(got, want) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300))


def accuracy(lines) -> None:
    X, Y = clouds()
    lines += ["", "### CuPy against NumPy (s = 16384, relative error of the norm)", "",
              "| dtype | method | value | grad_X | grad_Y |", "|---|---|---:|---:|---:|"]
    methods = ("direct", "fft") if importlib.util.find_spec("cufinufft") else ("direct",)
    for dtype in (np.float64, np.float32):
        for method in methods:
            options = dict(OPTIONS, n_subsamples=16384, method=method)
            want = pa.ppm_reg_value_and_grad(X.astype(dtype), Y.astype(dtype), **options)
            got = pa.ppm_reg_value_and_grad(cupy.asarray(X, dtype=dtype), cupy.asarray(Y, dtype=dtype), **options)
            errors = [relative(cupy.asnumpy(a), b) for a, b in zip(got, want)]
            lines.append(f"| {np.dtype(dtype).name} | {method} | " + " | ".join(f"{e:.1e}" for e in errors) + " |")


def synchronisation(lines) -> None:
    X, Y = (cupy.asarray(a) for a in clouds())
    lines += ["", "### Does a call make the host wait for the device?", "",
              "Measured behind a 0.5 s spinning kernel (`benchmarks/sync_probe.py`): a call that only queues work "
              "returns before the spin ends.", "",
              "| call | waits | host time of the call (ms) |", "|---|---|---:|"]
    cases = [("s = 16384, direct, check_finite=False", dict(n_subsamples=16384, method="direct", check_finite=False)),
             ("s = 16384, direct, check_finite=True", dict(n_subsamples=16384, method="direct")),
             ("s = 2^20, auto (the Fourier method), check_finite=False",
              dict(n_subsamples=2**20, method="auto", check_finite=False))]
    for label, options in cases:
        def call(options=options):
            return pa.ppm_reg_value_and_grad(X, Y, **dict(OPTIONS, **options))

        call()
        waiting = waits_for_device(call)
        lines.append(f"| {label} | {'yes' if waiting.waited else 'no'} | {1e3 * waiting.call_seconds:.1f} |")


def step_times(lines, repeat: int) -> None:
    X, Y = clouds()
    fourier = importlib.util.find_spec("cufinufft") is not None
    methods = ("direct", "fft") if fourier else ("direct",)
    lines += ["", "### Step time (value and both gradients), s per dimension", ""]
    if not fourier:
        lines += ["cuFINUFFT is not installed here: the GPU rows use the direct sums only.", ""]
    header = " | ".join(f"GPU {m} {d} (ms)" for d in ("f64", "f32") for m in methods)
    lines += [f"| s | {header} | CPU direct f64 (ms) | CPU fft f64 (ms) |",
              "|---:|" + "---:|" * (2 * len(methods) + 2)]
    synchronise = cupy.cuda.Device().synchronize
    for exponent in range(11, 21):
        s = 2**exponent
        cells = []
        for dtype in (np.float64, np.float32):
            Xg, Yg = cupy.asarray(X, dtype=dtype), cupy.asarray(Y, dtype=dtype)
            for method in methods:
                options = dict(OPTIONS, n_subsamples=s, method=method, check_finite=False)
                seconds = best_time(lambda: pa.ppm_reg_value_and_grad(Xg, Yg, **options), synchronise, repeat)
                cells.append(f"{1e3 * seconds:.2f}")
        cpu_fft_up_to = CPU_UP_TO if importlib.util.find_spec("finufft") else 0  # explicit sums are no baseline
        for method, limit in (("direct", CPU_DIRECT_UP_TO), ("fft", cpu_fft_up_to)):
            options = dict(OPTIONS, n_subsamples=s, method=method)
            cpu = best_time(lambda: pa.ppm_reg_value_and_grad(X, Y, **options), lambda: None, 1) if s <= limit else None
            cells.append("" if cpu is None else f"{1e3 * cpu:.1f}")
        lines.append(f"| 2^{exponent} | " + " | ".join(cells) + " |")


def write_section(path: Path, text: str) -> None:
    """Replace the GPU section of ``path`` (between the markers) with ``text``."""
    document = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(document):
        raise SystemExit(f"{path} has no {BEGIN} ... {END} section to replace")
    path.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", document))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", type=Path, default=None, help="replace the GPU section of this markdown file")
    args = parser.parse_args(argv)
    properties = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = properties["name"].decode() if isinstance(properties["name"], bytes) else properties["name"]
    import numba_cuda

    lines = [f"Recorded by `make gpu-check` on an **{name}** (CuPy {cupy.__version__}, numba-cuda "
             f"{getattr(numba_cuda, '__version__', '?')}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}); "
             f"the paper's shape-matching setting (N = 512, dims (0, 1), weights (1, 6000), h = sqrt(0.05))."]
    accuracy(lines)
    synchronisation(lines)
    step_times(lines, args.repeat)
    text = "\n".join(lines)
    print(text)
    if args.write is not None:
        write_section(args.write, text)


if __name__ == "__main__":
    main()

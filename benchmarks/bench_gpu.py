"""PPM-Reg on a GPU: CuPy (Numba-CUDA kernels, one CUDA graph per shape) against the authors' PPM.py on the same
GPU, run by ``make gpu-check``.

Reports, in markdown: the GPU; CuPy's results against NumPy's; whether a call makes
the host wait for the device (measured with ``sync_probe``); the step time of
``ppm_reg_value_and_grad`` on the paper's shape-matching setting (N = 512, dims
(0, 1), weights (1, 6000), method="direct", check_finite=False) for s = 2^11 .. 2^17
per dimension, in float32 and float64, through ``ppm_array.torch`` with backward,
and of the authors' PPM.py in float32 on the same GPU (``PUBLISHED=path/to/PPM.py``);
the moment kernel's pair rate against the limit of its loop; batches of clouds; and the JAX-native path's
step against CuPy's. A step time is the
mean over back-to-back calls after a warm-up, the device synchronised at the end: what
a training loop sees. Usage::

    python benchmarks/bench_gpu.py [--published PPM.py]                  # markdown on stdout
    python benchmarks/bench_gpu.py --write docs/benchmarks.md             # and into its GPU section
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import re
import sys
import time
from pathlib import Path

import cupy
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ppm_array as pa  # noqa: E402
from ppm_array._backends import numba_cuda  # noqa: E402
from ppm_array._regularizer import cuda_graphs  # noqa: E402
from ppm_array._backends.contract import KernelPoints  # noqa: E402
from ppm_array._boundary.namespace import array_namespace  # noqa: E402
from published_baseline import load_published  # noqa: E402
from sync_probe import waits_for_device  # noqa: E402

BANDWIDTH = float(np.sqrt(0.05))
WIDTH = 2 * BANDWIDTH**2  # the published code's kernel width
DIMS, WEIGHTS = (0, 1), (1.0, 6000.0)
OPTIONS = dict(bandwidth=BANDWIDTH, dims=DIMS, weights=WEIGHTS, rng=0, method="direct", check_finite=False)
BEGIN, END = "<!-- gpu-check:begin -->", "<!-- gpu-check:end -->"
SIZES = [2**k for k in range(11, 18)]
PUBLISHED_UP_TO = 2**14
ROWS_NOTE = f"{numba_cuda.ROWS_PER_THREAD} rows a thread, {numba_cuda.THREADS_PER_BLOCK} threads a block"  # PPM.py builds s x s kernel matrices: beyond, minutes per row


def clouds(n_points: int = 512, seed: int = 0):
    """The paper's setting: training cloud 0.3 N(0, I), reference a noisy unit circle."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, n_points)
    Y = np.stack([np.cos(angle), np.sin(angle)], axis=1) + 0.01 * rng.normal(size=(n_points, 2))
    return 0.3 * rng.normal(size=(n_points, 2)), Y


def synchronise():
    cupy.cuda.get_current_stream().synchronize()


def per_call(step, budget: float = 0.5, most: int = 50) -> float:
    """Seconds per call of ``step`` back to back, after three warm-up calls (the first compiles, the second
    captures the graph), the device synchronised before and after."""
    for _ in range(3):
        step()
    synchronise()
    start = time.perf_counter()
    step()
    synchronise()
    calls = max(3, min(most, int(budget / max(time.perf_counter() - start, 1e-6))))
    start = time.perf_counter()
    for _ in range(calls):
        step()
    synchronise()
    return (time.perf_counter() - start) / calls


def relative(got, want) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300))


def accuracy(lines) -> None:
    X, Y = clouds()
    lines += ["", "### CuPy against NumPy (s = 16384, relative error of the norm; the third call: a graph replay)", "",
              "| dtype | value | grad_X | grad_Y |", "|---|---:|---:|---:|"]
    for dtype in (np.float64, np.float32):
        options = dict(OPTIONS, n_subsamples=16384)
        want = pa.ppm_reg_value_and_grad(X.astype(dtype), Y.astype(dtype), **options)
        Xg, Yg = cupy.asarray(X, dtype=dtype), cupy.asarray(Y, dtype=dtype)
        for _ in range(3):
            got = pa.ppm_reg_value_and_grad(Xg, Yg, **options)
        errors = [relative(cupy.asnumpy(a), b) for a, b in zip(got, want)]
        lines.append(f"| {np.dtype(dtype).name} | " + " | ".join(f"{e:.1e}" for e in errors) + " |")


def synchronisation(lines) -> None:
    X, Y = (cupy.asarray(a) for a in clouds())
    lines += ["", "### Does a call make the host wait for the device?", "",
              "Measured behind a 0.5 s spinning kernel (`benchmarks/sync_probe.py`), warm (graph replays): a call "
              "that only queues work returns before the spin ends.", "",
              "| call | waits | host time of the call (ms) |", "|---|---|---:|"]
    for label, options in (("s = 16384, check_finite=False", dict(n_subsamples=16384)),
                           ("s = 16384, check_finite=True (one read)", dict(n_subsamples=16384, check_finite=True))):
        def call(options=options):
            return pa.ppm_reg_value_and_grad(X, Y, **dict(OPTIONS, **options))

        for _ in range(2):
            call()
        waiting = waits_for_device(call)
        lines.append(f"| {label} | {'yes' if waiting.waited else 'no'} | {1e3 * waiting.call_seconds:.2f} |")


def published_step(module, X, Y, s):
    """One step of the authors' PPM.py as their shape-matching script runs it, on CUDA tensors in float32."""
    import torch

    Yt = torch.asarray(Y, dtype=torch.float32, device="cuda")
    X0 = torch.asarray(X, dtype=torch.float32, device="cuda")
    mmd = module.MMD(WIDTH, weights=list(WEIGHTS), num_samples=[s, s])

    def step():
        Xt = X0.clone().requires_grad_(True)
        reference = module.compute_ppm(Yt, 1, [s, s], use_zero=True, device="cuda")
        trained = module.compute_ppm(Xt, 1, [s, s], use_zero=True, device="cuda")
        mmd(reference, trained).backward()
        return Xt.grad

    return step


def torch_step(X, Y, s):
    """``ppm_array.torch.ppm_reg`` with backward on CUDA tensors in float32 (a generator: fresh draws)."""
    import torch
    import ppm_array.torch as pat

    X0 = torch.asarray(X, dtype=torch.float32, device="cuda")
    Yt = torch.asarray(Y, dtype=torch.float32, device="cuda")
    rng = np.random.default_rng(0)
    options = {k: v for k, v in OPTIONS.items() if k != "rng"}

    def step():
        Xt = X0.clone().requires_grad_(True)
        pat.ppm_reg(Xt, Yt, n_subsamples=s, rng=rng, **options).backward()
        return Xt.grad

    return step


def guarded(measure, failures, label):
    """``measure()``, or None with the failure noted in ``failures`` (a GPU run is scarce: report and go on)."""
    try:
        return measure()
    except Exception as error:  # noqa: BLE001
        failures.append(f"{label} failed: {type(error).__name__}: {error}")
        print(failures[-1], flush=True)
        return None


def step_times(lines, published) -> dict:
    import torch

    def torch_sync():
        torch.cuda.synchronize()

    X, Y = clouds()
    lines += ["", "### Step time (value and both gradients), paper setting, s per dimension", "",
              "ms per call, back to back. CuPy: `ppm_reg_value_and_grad` on CuPy arrays (a graph replay). torch: "
              "`ppm_array.torch.ppm_reg(...).backward()` on CUDA tensors, fresh draws each call. PPM.py: the authors' "
              "code, float32, on the same GPU. Eager: the same CuPy call with the graphs switched off "
              "(`cuda_graphs.ENABLED = False`).", "",
              "| s | CuPy f32 | CuPy f64 | torch f32 | PPM.py f32 | PPM.py / CuPy f32 | PPM.py / torch | eager f32 |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    times, failures = {}, []
    for s in SIZES:
        row = {}
        for dtype in (np.float32, np.float64):
            Xg, Yg = cupy.asarray(X, dtype=dtype), cupy.asarray(Y, dtype=dtype)
            row[dtype] = per_call(lambda: pa.ppm_reg_value_and_grad(Xg, Yg, n_subsamples=s, **OPTIONS))
        row["torch"] = guarded(lambda: per_call(torch_step(X, Y, s)), failures, f"torch at s = {s}")
        torch_sync()
        row["published"] = (guarded(lambda: per_call(published_step(published, X, Y, s), budget=1.0, most=10),
                                    failures, f"PPM.py at s = {s}")
                            if published is not None and s <= PUBLISHED_UP_TO else None)
        if s == SIZES[0]:
            cuda_graphs.ENABLED = False
            Xg, Yg = cupy.asarray(X, dtype=np.float32), cupy.asarray(Y, dtype=np.float32)
            row["eager"] = per_call(lambda: pa.ppm_reg_value_and_grad(Xg, Yg, n_subsamples=s, **OPTIONS))
            cuda_graphs.ENABLED = True
        times[s] = row

        def ms(t):
            return "—" if t is None else f"{1e3 * t:.3f}"

        def ratio(a, b):
            return "—" if a is None or b is None else f"{a / b:.1f}x"

        lines.append(f"| 2^{int(math.log2(s))} | {ms(row[np.float32])} | {ms(row[np.float64])} | {ms(row['torch'])} | "
                     f"{ms(row['published'])} | {ratio(row['published'], row[np.float32])} | "
                     f"{ratio(row['published'], row['torch'])} | {ms(row.get('eager'))} |")
    lines += [""] + failures if failures else []
    first, last = times[SIZES[0]][np.float32], times[SIZES[-3]][np.float32]
    lines += ["", f"No floor: the s = 2^11 step is {first / last:.3f} of the s = 2^15 step (float32)."]
    for dtype in (np.float32, np.float64):
        s = SIZES[-1]
        rate = 3 * s * s * len(DIMS) / times[s][dtype]
        lines.append(f"At s = 2^17, {np.dtype(dtype).name}: {rate / 1e12:.2f} T pairs/s counting 3 s^2 pairs per "
                     f"homology dimension.")
    return times


def kernel_rate(lines) -> None:
    """The moment kernel alone on n points that all carry a weight: ordered pairs per second, against the limit
    of its loop: 16 exponentials per clock and multiprocessor (float32) or the float64 rate."""
    properties = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    sms, clock = properties["multiProcessorCount"], properties["clockRate"] * 1e3
    n = 2**18
    rng = np.random.default_rng(0)
    lines += ["", f"### The moment kernel alone: n = {n} weighted points, n^2 ordered pairs per call", "",
              f"{sms} multiprocessors at {clock / 1e9:.2f} GHz (the boost clock the device reports).", "",
              "| dtype | G ordered pairs/s | ms per call |", "|---|---:|---:|"]
    for dtype in (np.float32, np.float64):
        points = KernelPoints(*(cupy.asarray(rng.uniform(0.01, 1, n), dtype=dtype) for _ in range(3)))
        c = cupy.asarray(10.0, dtype=dtype)
        xp = array_namespace(c)
        seconds = per_call(lambda: numba_cuda.pair_moments(points, points, same_set=True, inv_two_h2=c, xp=xp),
                           budget=1.0)
        lines.append(f"| {np.dtype(dtype).name} | {n * n / seconds / 1e9:.0f} | {1e3 * seconds:.2f} |")
    lines.append(f"\nLimit of the float32 loop (one `MUFU.EX2` per pair, 16 per clock and multiprocessor, "
                 f"{ROWS_NOTE}): {16 * sms * clock / 1e9:.0f} G pairs/s.")


def batches(lines) -> None:
    """A batch of clouds (issue 23) in one call against a loop of one call per item, on CuPy, float32."""
    rng = np.random.default_rng(0)
    lines += ["", "### Batches of clouds: one call against a loop over the items (float32, dims (0, 1))", "",
              "| B | N | s | one batched call (ms) | loop over the items (ms) | loop / batched |",
              "|---:|---:|---:|---:|---:|---:|"]
    for n_items, n_points, n_subsamples in ((512, 64, 64), (64, 256, 1024)):
        X, Y = (cupy.asarray(rng.normal(size=(n_items, n_points, 2)), dtype=np.float32) for _ in range(2))
        options = dict(bandwidth=0.3, weights=(1.0, 50.0), n_subsamples=n_subsamples, rng=1, check_finite=False)
        batched = per_call(lambda: pa.ppm_reg_value_and_grad(X, Y, **options))
        loop = per_call(lambda: [pa.ppm_reg_value_and_grad(X[b], Y[b], **options) for b in range(n_items)], most=5)
        lines.append(f"| {n_items} | {n_points} | {n_subsamples} | {1e3 * batched:.2f} | {1e3 * loop:.1f} | "
                     f"{loop / batched:.1f} |")


def jax_native(lines) -> None:
    """The JAX-native path (issue 24) on the GPU against the CuPy path, float32, the paper setting: a
    ``jit(grad)`` step with the arrays on the device, and the CuPy call on the same data."""
    import jax
    import jax.numpy as jnp

    import ppm_array.jax as paj

    devices = [device for device in jax.devices() if device.platform == "gpu"]
    if not devices:
        lines += ["", "### JAX native against CuPy", "", f"JAX sees no GPU here ({jax.devices()}): **not measured**."]
        return
    X, Y = clouds()
    options = {k: v for k, v in OPTIONS.items() if k != "rng"}
    lines += ["", f"### JAX native against CuPy (float32, jax {jax.__version__} on {devices[0]})", "",
              "| s | JAX native jit(grad) (ms) | CuPy (ms) | JAX / CuPy |", "|---:|---:|---:|---:|"]
    key = jax.random.key(0)
    Xj, Yj = (jax.device_put(jnp.asarray(a, dtype=jnp.float32), devices[0]) for a in (X, Y))
    Xg, Yg = (cupy.asarray(a, dtype=np.float32) for a in (X, Y))
    for s in SIZES[:5:2]:
        step = jax.jit(jax.grad(lambda x, y, k, s=s: paj.ppm_reg(x, y, k, n_subsamples=s, **options)))
        native = per_call(lambda: step(Xj, Yj, key).block_until_ready())
        on_cupy = per_call(lambda: pa.ppm_reg_value_and_grad(Xg, Yg, n_subsamples=s, **OPTIONS))
        lines.append(f"| 2^{int(math.log2(s))} | {1e3 * native:.3f} | {1e3 * on_cupy:.3f} | {native / on_cupy:.2f} |")


def write_section(path: Path, text: str) -> None:
    """Replace the GPU section of ``path`` (between the markers) with ``text``."""
    document = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(document):
        raise SystemExit(f"{path} has no {BEGIN} ... {END} section to replace")
    path.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", document))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--published", type=Path, default=None, help="the authors' PPM.py, timed beside")
    parser.add_argument("--write", type=Path, default=None, help="replace the GPU section of this markdown file")
    parser.add_argument("--quick", action="store_true", help="s up to 2^13 only")
    args = parser.parse_args(argv)
    if args.quick:
        SIZES[:] = SIZES[:3]
    properties = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = properties["name"].decode() if isinstance(properties["name"], bytes) else properties["name"]
    import numba_cuda
    import torch

    lines = [f"Recorded by `make gpu-check` on an **{name}** (CuPy {cupy.__version__}, numba-cuda "
             f"{getattr(numba_cuda, '__version__', '?')}, NumPy {np.__version__}, torch {torch.__version__}, CUDA "
             f"runtime {cupy.cuda.runtime.runtimeGetVersion()}); the paper's shape-matching setting (N = 512, dims "
             f"(0, 1), weights (1, 6000), h = sqrt(0.05), method=\"direct\", check_finite=False)."]
    if importlib.util.find_spec("cufinufft") is None:
        lines += ["", "cuFINUFFT was not installed on this machine: the s = 2^20 Fourier row was **not measured**."]
    print("\n".join(lines), flush=True)
    for section in (accuracy, synchronisation, lambda lines: step_times(lines, load_published(args.published)),
                    kernel_rate, batches, jax_native):
        printed = len(lines)
        guarded(lambda: section(lines), lines, "this section")
        print("\n".join(lines[printed:]), flush=True)
    text = "\n".join(lines)
    if args.write is not None:
        write_section(args.write, text)


if __name__ == "__main__":
    main()

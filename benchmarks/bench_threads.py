"""Threads: a busy machine, memory against the thread count, and a PyTorch training step against its parts.

Each configuration runs in a fresh process (thread pools and OpenMP settings are
fixed when a process starts). "Busy" means two other processes spinning on the
CPU for the whole measurement: every core of this 2-core machine is taken.
Times are the median of repeated calls after a warm-up. Usage::

    python benchmarks/bench_threads.py          # about 3 minutes
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Three calls: a tiny one, a medium one, and the paper's shape-matching step.
CALLS = """
import json, os, sys, time
import numpy as np, numba
import ppm_array as pa
from ppm_array._backends import numba_cpu
if os.environ.get("BENCH_EVERY_THREAD"):
    numba_cpu.threads.thread_limit = lambda: None  # the free-core check off: every thread, whatever the load
sys.path.insert(0, {here!r})
from bench_step import clouds
def median(f, n):
    f()
    times = []
    for _ in range(n):
        start = time.perf_counter(); f(); times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))
X, Y = clouds(256)
Xp, Yp = clouds(512)
print(json.dumps({{
    "threads": numba.get_num_threads(),
    "tiny": median(lambda: pa.ppm_reg_value_and_grad(X, Y, bandwidth=0.2, n_subsamples=16, rng=0), 200),
    "medium": median(lambda: pa.ppm_reg_value_and_grad(X, Y, bandwidth=0.2, n_subsamples=1024, rng=0), 50),
    "paper": median(lambda: pa.ppm_reg_value_and_grad(Xp, Yp, bandwidth=0.2236, weights=(1, 6000),
                                                       n_subsamples=2048, rng=0), 30),
}}))
"""

# The peak is read from /proc/self/status after resetting it (Linux: clear_refs 5), around a second, compiled step.
MEMORY = """
import json
import numpy as np, numba
import ppm_array as pa
from ppm_array._backends import numba_cpu
numba_cpu.threads.thread_limit = lambda: None  # every thread, even beyond this machine's cores
def kib(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field))
rng = np.random.default_rng(0)
X, Y = rng.normal(size=(512, 2)).astype(np.float32), rng.normal(size=(512, 2)).astype(np.float32)
step = lambda: pa.ppm_reg_value_and_grad(X, Y, bandwidth=0.3, n_subsamples={s}, rng=0)
step()  # compiles
open("/proc/self/clear_refs", "w").write("5")
before = kib("VmRSS:")
step()
print(json.dumps({{"threads": numba.get_num_threads(), "growth_mib": (kib("VmHWM:") - before) / 1024}}))
"""

TRAINING = """
import json, math, time
import numpy as np, torch
import ppm_array.torch as pat
torch.manual_seed(0)
angle = 2 * math.pi * torch.rand(512)
reference = torch.stack([angle.cos(), angle.sin()], 1)
cloud = (0.3 * torch.randn(512, 2)).requires_grad_()
regularizer = pat.PPMReg(bandwidth=math.sqrt(0.05), weights=(1.0, 6000.0), n_subsamples=2048, seed=0)
optimizer = torch.optim.SGD([cloud], lr=0.05, momentum=0.9)
def energy(x, y):
    x, y = x[torch.randperm(len(x))], y[torch.randperm(len(y))]
    h = len(x) // 2
    return (torch.cdist(x[:h], y[:h]).mean() + torch.cdist(x[h:], y[h:]).mean()
            - torch.cdist(x[:h], x[h:]).mean() - torch.cdist(y[:h], y[h:]).mean())
def main_part():
    optimizer.zero_grad(); (1.6 * energy(cloud, reference)).backward(); optimizer.step()
def ppm_part():
    optimizer.zero_grad(); regularizer(cloud, reference).backward()
def step():
    optimizer.zero_grad(); (1.6 * energy(cloud, reference) + regularizer(cloud, reference)).backward(); optimizer.step()
def median(f, n=60):
    for _ in range(5): f()
    times = []
    for _ in range(n):
        start = time.perf_counter(); f(); times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))
# Interleaved rounds, so that drift on a shared machine affects the three alike.
rounds = [(median(main_part, 20), median(ppm_part, 20), median(step, 20)) for _ in range(5)]
main, ppm, full = (float(np.median(column)) for column in zip(*rounds))
print(json.dumps({"torch_threads": torch.get_num_threads(), "main": main, "ppm": ppm, "step": full}))
"""


def run(code: str, env: dict) -> dict:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, **env})
    return json.loads(result.stdout)


@contextmanager
def busy(n_processes: int = 2):
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n_processes)]
    time.sleep(1.0)
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


CONFIGURATIONS = [
    ("ppm_array's default (free cores only; short spin, then sleep)", {}),
    ("both threads whatever the load (short spin, then sleep)", {"BENCH_EVERY_THREAD": "1"}),
    ("both threads whatever the load, OpenMP's default spin", {"BENCH_EVERY_THREAD": "1", "GOMP_SPINCOUNT": "300000"}),
    ("one thread", {"NUMBA_NUM_THREADS": "1"}),
]


def contention():
    print("## A busy machine\n")
    print("Median time per call (ms). tiny: N = 256, s = 16; medium: N = 256, s = 1024; paper: N = 512, "
          "s = 2048, dims (0, 1), weights (1, 6000). Busy: two other processes spin on the 2 cores.\n")
    print("| configuration | load | tiny | medium | paper |")
    print("|---|---|---:|---:|---:|")
    code = CALLS.format(here=str(HERE))
    results = {}
    for load in ("idle", "busy"):
        for name, env in CONFIGURATIONS:
            if load == "busy":
                with busy():
                    results[name, load] = run(code, env)
            else:
                results[name, load] = run(code, env)
            r = results[name, load]
            print(f"| {name} | {load} | {r['tiny']:.2f} | {r['medium']:.2f} | {r['paper']:.2f} |")
    default, single = results[CONFIGURATIONS[0][0], "busy"], results["one thread", "busy"]
    print(f"\nBusy, ppm_array's default against one thread under the same load: medium "
          f"{default['medium'] / single['medium']:.2f}x, paper {default['paper'] / single['paper']:.2f}x.\n")


def memory():
    print("## Memory against the thread count (one step, N = 512, float32, dims (0, 1))\n")
    print("Peak resident memory during one (compiled) step above the memory before it, in a fresh process. The")
    print("step's own arrays (indices, persistence points, moments) are O(s) whatever the thread count; per-thread")
    print("copies of the moments (3 float64 per point of the signed union of both PPMs, per thread) would add the")
    print("last column.\n")
    print("| threads | s | peak growth (MiB) | per-thread moment copies would need (MiB) |")
    print("|---:|---:|---:|---:|")
    s = 2**16
    for threads in (1, 2, 8, 64):
        r = run(MEMORY.format(s=s), {"NUMBA_NUM_THREADS": str(threads)})
        print(f"| {r['threads']} | {s} | {r['growth_mib']:.1f} | {threads * 3 * 2 * s * 8 / 2**20:.0f} |")
    print()


def training():
    print("## A PyTorch training step against its parts (idle machine)\n")
    print("The shape-matching step as an ordinary torch loop: Cramér loss by autograd, `PPMReg` (s = 2048), "
          "SGD. Parts timed alone: the Cramér forward, backward and SGD step; the PPM-Reg forward and backward.\n")
    r = run(TRAINING, {})
    print("| torch threads | Cramér part (ms) | PPM-Reg part (ms) | full step (ms) | step / (sum of parts) |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {r['torch_threads']} | {r['main']:.2f} | {r['ppm']:.2f} | {r['step']:.2f} | "
          f"{r['step'] / (r['main'] + r['ppm']):.2f} |\n")


def main():
    contention()
    memory()
    training()


if __name__ == "__main__":
    main()

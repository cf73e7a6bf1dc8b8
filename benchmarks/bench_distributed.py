"""Data-parallel PPM-Reg on torch.distributed (gloo, CPU): step time and bytes sent per rank, 1 to 4 processes.

Each process holds a shard of the paper's shape-matching clouds (512 points of a
0.3 N(0, I) cloud and of a noisy circle per rank), calls ``PPMReg(group=...)`` with
s subsamples per dimension and rank, and backpropagates; the time is the median of
``--steps`` steps after a warm-up, the bytes those this rank contributed to the
collectives in one step (``all_reduce``/``all_gather`` payloads). Processes share
this machine's cores, so times grow with the number of processes here; on separate
GPUs or machines they would not. Usage::

    python benchmarks/bench_distributed.py            # markdown on stdout, about 2 minutes
"""

from __future__ import annotations

import argparse
import multiprocessing
import pickle
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BANDWIDTH = float(np.sqrt(0.05))
POINTS_PER_RANK = 512


def shard(rank: int):
    rng = np.random.default_rng(rank)
    angle = rng.uniform(0, 2 * np.pi, POINTS_PER_RANK)
    Y = np.stack([np.cos(angle), np.sin(angle)], axis=1) + 0.01 * rng.normal(size=(POINTS_PER_RANK, 2))
    return 0.3 * rng.normal(size=(POINTS_PER_RANK, 2)), Y


def worker(rank: int, world_size: int, port: int, out: str, method: str, s: int, steps: int) -> None:
    import numba
    import torch
    import torch.distributed as dist

    import ppm_array.torch as pat

    threads = max(1, 2 // world_size)  # this machine's 2 cores, shared by the processes
    torch.set_num_threads(threads)
    numba.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    regularizer = pat.PPMReg(bandwidth=BANDWIDTH, weights=(1.0, 6000.0), n_subsamples=s, method=method, seed=0,
                             group=dist.group.WORLD)
    X, Y = (torch.tensor(a) for a in shard(rank))
    times, sent = [], []
    for _ in range(steps + 1):
        Xt = X.clone().requires_grad_(True)
        before = 0 if regularizer._pool is None else regularizer._pool.bytes_sent
        dist.barrier()
        start = time.perf_counter()
        regularizer(Xt, Y).backward()
        times.append(time.perf_counter() - start)
        sent.append((0 if regularizer._pool is None else regularizer._pool.bytes_sent) - before)
    dist.barrier()
    dist.destroy_process_group()
    Path(out, f"rank{rank}.pkl").write_bytes(pickle.dumps((statistics.median(times[1:]), sent[-1])))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def measure(world_size: int, method: str, s: int, steps: int) -> tuple:
    """Median step time over the ranks' medians, and rank 0's bytes per step."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as out:
        port = free_port()
        processes = [context.Process(target=worker, args=(rank, world_size, port, out, method, s, steps))
                     for rank in range(world_size)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        if any(process.exitcode for process in processes):
            raise SystemExit(f"a worker failed ({method}, s={s}, {world_size} processes)")
        results = [pickle.loads(Path(out, f"rank{rank}.pkl").read_bytes()) for rank in range(world_size)]
    return max(seconds for seconds, _ in results), results[0][1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    print("| method | s per rank | processes | step time (ms, slowest rank) | bytes sent per rank and step |")
    print("|---|---:|---:|---:|---:|")
    for method, s in (("direct", 2048), ("fft", 2048), ("fft", 65536)):
        for world_size in (1, 2, 4):
            seconds, sent = measure(world_size, method, s, args.steps)
            print(f"| {method} | {s} | {world_size} | {1e3 * seconds:.1f} | {sent} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()

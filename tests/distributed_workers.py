"""What each process of ``tests/test_distributed.py`` runs (gloo on the CPU), and the data they share.

A worker writes its results to ``<out>/rank<r>.pkl``; the test process compares them
with single-process oracles computed from the same shards and the same subsamples.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np

OPTIONS = dict(bandwidth=0.3, dims=(0, 1), weights=(1.0, 20.0), rng=7)
# q = 0 draws 1000 pairs from 30 points (>= N^2: repeated pairs are merged), q = 1 draws 600 subsamples.
N_SUBSAMPLES = (1000, 600)
POINTS_PER_RANK = 30
FD_COORDINATES = ((0, 0), (4, 1), (11, 0))  # (point, axis) of rank 1's shard
FD_STEP = 1e-6


def shards(world_size: int, rank: int):
    """Rank ``rank``'s ``X`` (a noisy blob) and ``Y`` (a noisy circle), 30 points each in 2-D."""
    rng = np.random.default_rng(100 + rank)
    angle = rng.uniform(0, 2 * np.pi, POINTS_PER_RANK)
    Y = np.stack([np.cos(angle), np.sin(angle)], axis=1) + 0.05 * rng.normal(size=(POINTS_PER_RANK, 2))
    return 0.4 * rng.normal(size=(POINTS_PER_RANK, 2)), Y


def model_inputs(rank: int):
    """The inputs of the tiny model on rank ``rank``."""
    return np.random.default_rng(200 + rank).normal(size=(POINTS_PER_RANK, 2))


def model_parameters():
    """The tiny model's weight (2 x 2) and bias (2), the same on every rank."""
    rng = np.random.default_rng(300)
    return rng.normal(size=(2, 2)), rng.normal(size=2)


def _init(rank: int, world_size: int, port: int):
    import numba
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    # gloo's default timeout: an explicit short one made ranks abort at random under load in CI ("terminate
    # called without an active exception"); a rank left behind is killed by the test's own deadline instead.
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    return torch, dist


def _finish(dist) -> None:
    """Leave the group together: a rank that tears gloo down while a peer still talks to it aborts."""
    dist.barrier()
    dist.destroy_process_group()


def _error(call) -> str | None:
    try:
        call()
    except (ValueError, TypeError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def _timed_error(dist, call) -> tuple[str | None, float]:
    """:func:`_error` of ``call`` and the seconds it took, from a barrier: every rank starts it together."""
    dist.barrier()
    start = time.perf_counter()
    error = _error(call)
    return error, time.perf_counter() - start


def one_rank_refusals(rank: int, world_size: int, X, Y, call) -> dict:
    """``call(X, Y)`` with shards that only some ranks refuse: each case's error and seconds on this rank."""
    last = world_size - 1
    with_nan, with_inf = X.copy(), Y.copy()
    with_nan[3, 1] = np.nan
    with_inf[0, 0] = np.inf
    cases = {
        "NaN in X on rank 1": (with_nan if rank == 1 else X, Y),
        "inf in Y on the last rank": (X, with_inf if rank == last else Y),
        "NaN in X on every rank": (with_nan, Y),
        "X 1-D on rank 1": (X[:, 0] if rank == 1 else X, Y),
        "X of integers on rank 0": (X.astype(np.int64) if rank == 0 else X, Y),
    }
    return {name: call(*shards) for name, shards in cases.items()}


def checks(rank: int, world_size: int, port: int, out: str) -> None:
    """Value, gradient, finite differences of the pooled value, DDP, and refusals."""
    torch, dist = _init(rank, world_size, port)
    import ppm_array.torch as pat

    group = dist.group.WORLD
    options = dict(OPTIONS, n_subsamples=N_SUBSAMPLES)
    X, Y = shards(world_size, rank)
    Xt = torch.tensor(X, requires_grad=True)
    loss = pat.ppm_reg(Xt, torch.tensor(Y), group=group, **options)
    loss.backward()
    results = {"value": float(loss.detach()), "grad": Xt.grad.numpy().copy(), "variants": {}}
    for estimator in ("v", "u"):
        for method in ("direct", "fft"):
            Xt = torch.tensor(X, requires_grad=True)
            loss = pat.ppm_reg(Xt, torch.tensor(Y), group=group, estimator=estimator, method=method, **options)
            loss.backward()
            results["variants"][estimator, method] = (float(loss.detach()), Xt.grad.numpy().copy())

    differences = []
    for point, axis in FD_COORDINATES:
        values = []
        for sign in (1.0, -1.0):
            moved = X.copy()
            if rank == 1:
                moved[point, axis] += sign * FD_STEP
            values.append(float(pat.ppm_reg(torch.tensor(moved), torch.tensor(Y), group=group, **options)))
        differences.append((values[0] - values[1]) / (2 * FD_STEP))
    results["finite_differences"] = differences

    weight, bias = model_parameters()
    model = torch.nn.Linear(2, 2, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.tensor(weight))
        model.bias.copy_(torch.tensor(bias))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    codes = ddp(torch.tensor(model_inputs(rank)))
    pat.ppm_reg(codes, torch.tensor(Y), group=group, **options).backward()
    results["ddp"] = (model.weight.grad.numpy().copy(), model.bias.grad.numpy().copy())

    small = X[:3] if rank == 1 else X
    wide = np.concatenate([X, X[:, :1]], axis=1) if rank == 1 else X
    results["errors"] = {
        "options": _error(lambda: pat.ppm_reg(torch.tensor(X), torch.tensor(Y), group=group,
                                              **dict(options, weights=(1.0, 20.0 + rank)))),
        "dimension": _error(lambda: pat.ppm_reg(torch.tensor(wide), torch.tensor(Y), group=group, **options)),
        "small shard": _error(lambda: pat.ppm_reg(torch.tensor(small), torch.tensor(Y), group=group,
                                                  **dict(options, replace=False))),
        "module options": _error(lambda: pat.PPMReg(group=group, seed=1, **dict(
            {k: v for k, v in options.items() if k != "rng"}, weights=(1.0, 20.0 + rank)))(
            torch.tensor(X), torch.tensor(Y))),
    }

    def timed(X, Y, **changes):
        return _timed_error(dist, lambda: pat.ppm_reg(torch.tensor(X), torch.tensor(Y), group=group,
                                                      **dict(options, **changes)))

    results["one-rank refusals"] = one_rank_refusals(rank, world_size, X, Y, timed)
    results["one-rank refusals"]["options differ"] = timed(X, Y, weights=(1.0, 20.0 + rank))
    results["after refusals"] = float(pat.ppm_reg(torch.tensor(X), torch.tensor(Y), group=group, **options))
    _finish(dist)
    results["uninitialised"] = _error(lambda: pat.ppm_reg(torch.tensor(X), torch.tensor(Y), group=group, **options))
    Path(out, f"rank{rank}.pkl").write_bytes(pickle.dumps(results))


def single(rank: int, world_size: int, port: int, out: str) -> None:
    """A group of one rank, and the call without a group in the same process (same thread count)."""
    torch, dist = _init(rank, world_size, port)
    import ppm_array.torch as pat

    X, Y = shards(1, 0)
    results = {}
    for name, group in (("grouped", dist.group.WORLD), ("plain", None)):
        Xt = torch.tensor(X, requires_grad=True)
        loss = pat.ppm_reg(Xt, torch.tensor(Y), group=group, **dict(OPTIONS, n_subsamples=N_SUBSAMPLES))
        loss.backward()
        results[name] = {"value": float(loss.detach()), "grad": Xt.grad.numpy().copy()}
    _finish(dist)
    Path(out, f"rank{rank}.pkl").write_bytes(pickle.dumps(results))


def collective_tensors(rank: int, world_size: int, port: int, out: str) -> None:
    """Every tensor handed to a collective, and every array handed to the pool, as ``(core, where, library,
    device, dtype, shape)``: float32 shards with gradients, all three methods, the median bandwidth, and a
    refusal with its messages (a 1-D ``X`` on rank 1).

    Twice: with the core in NumPy (CPU tensors), and with the core in torch on the same CPU tensors (the path
    of CUDA tensors without CuPy) while torch's default device is "meta". There, an array allocated without
    ``device=`` lands on "meta", and a NumPy array handed to the pool would reach NCCL as a CPU tensor.
    """
    torch, dist = _init(rank, world_size, port)
    import ppm_array._adapters.torch as pat
    from ppm_array._adapters.torch_pool import TorchPool

    records, core = [], ["numpy"]

    def describe(where, array):
        library = type(array).__module__.split(".")[0]
        records.append((core[0], where, library, str(array.device), str(array.dtype).removeprefix("torch."),
                        tuple(array.shape)))

    def spy(name, collective):
        def recorded(*args, **kwargs):
            tensors = [*args[0], args[1]] if name == "all_gather" else [args[0]]
            for tensor in tensors:
                describe(name, tensor)
            return collective(*args, **kwargs)
        return recorded

    def pool_spy(name, method):
        def recorded(self, array):
            describe(f"pool.{name}", array)
            return method(self, array)
        return recorded

    dist.all_gather, dist.all_reduce = spy("all_gather", dist.all_gather), spy("all_reduce", dist.all_reduce)
    for name in ("sum", "max", "gather"):
        setattr(TorchPool, name, pool_spy(name, getattr(TorchPool, name)))

    X, Y = (torch.tensor(cloud, dtype=torch.float32) for cloud in shards(world_size, rank))

    def calls():
        for method in ("direct", "fft", "auto"):
            Xt = X.clone().requires_grad_(True)
            pat.ppm_reg(Xt, Y, group=dist.group.WORLD, **dict(OPTIONS, bandwidth="median", method=method,
                                                               n_subsamples=N_SUBSAMPLES)).backward()
        refused = _error(lambda: pat.ppm_reg(X[:, 0] if rank == 1 else X, Y, group=dist.group.WORLD, **OPTIONS))
        assert refused.startswith("ValueError: on rank 1 of group: X must be 2-D"), refused

    calls()
    core[0] = "torch"
    pat._core_library = lambda device_type, backend: "torch"
    torch.set_default_device("meta")
    try:
        calls()
    finally:
        torch.set_default_device(None)
    _finish(dist)
    Path(out, f"rank{rank}.pkl").write_bytes(pickle.dumps(records))

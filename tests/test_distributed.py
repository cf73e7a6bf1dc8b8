"""``ppm_array.torch`` with a ``torch.distributed`` group: gloo on the CPU with 1, 2 and 4 processes.

Oracles are computed here, in one process, from the same shards and the same
subsamples (each rank's generator is ``default_rng([seed, rank])``): the pooled PPMs
(every rank's points, mass ``1 / (world_size * s)``) compared by ``pa.mmd``, and
central differences of that pooled value.
"""

from __future__ import annotations

import multiprocessing
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():
    pytest.skip("torch.distributed is not available", allow_module_level=True)

import distributed_workers as workers  # noqa: E402

import ppm_array as pa  # noqa: E402
import ppm_array.torch as pat  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(worker, world_size: int, out, timeout: float = 300) -> list:
    """``worker(rank, world_size, port, out)`` in ``world_size`` fresh processes; each rank's results.

    Processes still running ``timeout`` seconds after the start are killed (exit code ``-9``).
    """
    context = multiprocessing.get_context("spawn")
    port = free_port()
    processes = [context.Process(target=worker, args=(rank, world_size, port, str(out)))
                 for rank in range(world_size)]
    for process in processes:
        process.start()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    assert all(process.exitcode == 0 for process in processes), [process.exitcode for process in processes]
    return [pickle.loads((out / f"rank{rank}.pkl").read_bytes()) for rank in range(world_size)]


def pooled_value(clouds_x, clouds_y, estimator="v") -> float:
    """PPM-Reg between the PPMs pooled over the ranks, from one process: ``pa.mmd`` on every rank's
    persistence points together, each with mass ``1 / (world_size * s)``."""
    world_size = len(clouds_x)
    generators = [np.random.default_rng([workers.OPTIONS["rng"], rank]) for rank in range(world_size)]
    value = 0.0
    for q, weight, s in zip(workers.OPTIONS["dims"], workers.OPTIONS["weights"], workers.N_SUBSAMPLES):
        samples = ([], [])
        for rank in range(world_size):  # each rank draws X's subsamples, then Y's, for every q in turn
            for side, cloud in enumerate((clouds_x[rank], clouds_y[rank])):
                samples[side].append(pa.principal_persistence(cloud, q, n_subsamples=s, rng=generators[rank]))
        P, Q = (pool_samples(parts, world_size) for parts in samples)
        value += weight * float(pa.mmd(P, Q, bandwidth=workers.OPTIONS["bandwidth"], estimator=estimator,
                                       method="direct"))
    return value


def pool_samples(parts, world_size: int) -> pa.PersistenceSample:
    return pa.PersistenceSample(*(np.concatenate([getattr(part, name) for part in parts])
                                  for name in ("birth", "lifetime", "birth_edge", "death_edge")),
                                np.concatenate([part.mass for part in parts]) / world_size, parts[0].q, 1)


def per_rank_clouds(world_size: int):
    return [workers.shards(world_size, rank) for rank in range(world_size)]


def model_outputs(weight, bias, world_size: int):
    return [workers.model_inputs(rank) @ weight.T + bias for rank in range(world_size)]


@pytest.fixture(scope="module", params=[2, 4])
def ranks(request, tmp_path_factory):
    world_size = request.param
    return world_size, run(workers.checks, world_size, tmp_path_factory.mktemp(f"world{world_size}"))


def test_value_is_the_pooled_mmd_on_every_rank(ranks):
    world_size, results = ranks
    values = [result["value"] for result in results]
    assert len(set(values)) == 1
    clouds = per_rank_clouds(world_size)
    expected = pooled_value([x for x, _ in clouds], [y for _, y in clouds])
    assert values[0] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("estimator", ["v", "u"])
def test_both_methods_and_estimators_pool_the_ranks(ranks, estimator):
    """The gathered points (direct sums) and the summed characteristic functions (Fourier method) give
    the pooled value, and the same gradients."""
    world_size, results = ranks
    clouds = per_rank_clouds(world_size)
    expected = pooled_value([x for x, _ in clouds], [y for _, y in clouds], estimator)
    for result in results:
        (direct, grad_direct), (fourier, grad_fourier) = (result["variants"][estimator, m] for m in ("direct", "fft"))
        assert direct == pytest.approx(expected, rel=1e-10)
        assert fourier == pytest.approx(expected, rel=1e-8)
        np.testing.assert_allclose(grad_fourier, grad_direct, rtol=0, atol=1e-8 * np.abs(grad_direct).max())


def test_gradient_is_world_size_times_that_of_the_pooled_value(ranks):
    """Rank 1's gradient against central differences of the pooled value, one of its points moved."""
    world_size, results = ranks
    grad = results[1]["grad"] / world_size
    scale = np.abs(grad).max()
    for (point, axis), difference in zip(workers.FD_COORDINATES, results[1]["finite_differences"]):
        assert grad[point, axis] == pytest.approx(difference, abs=1e-6 * scale)
    assert all(np.any(result["grad"] != 0) for result in results)


def test_ddp_average_is_the_gradient_of_the_pooled_value(ranks):
    """A linear model under DistributedDataParallel: its averaged parameter gradient against central
    differences, over the parameters, of the pooled value computed in one process."""
    world_size, results = ranks
    weight, bias = workers.model_parameters()
    clouds_y = [y for _, y in per_rank_clouds(world_size)]

    def value(weight, bias):
        return pooled_value(model_outputs(weight, bias, world_size), clouds_y)

    step = 1e-6
    expected_weight = np.zeros((2, 2))
    for index in np.ndindex(2, 2):
        bump = np.zeros((2, 2))
        bump[index] = step
        expected_weight[index] = (value(weight + bump, bias) - value(weight - bump, bias)) / (2 * step)
    expected_bias = np.array([(value(weight, bias + step * e) - value(weight, bias - step * e)) / (2 * step)
                              for e in np.eye(2)])
    for result in results:
        got_weight, got_bias = result["ddp"]
        np.testing.assert_allclose(got_weight, expected_weight, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(got_bias, expected_bias, rtol=1e-5, atol=1e-8)


def test_bad_use_is_refused_on_every_rank(ranks):
    _, results = ranks
    for result in results:
        errors = result["errors"]
        assert errors["options"].startswith("ValueError: the ranks of group disagree on options")
        assert errors["module options"].startswith("ValueError: the ranks of group disagree on options")
        assert errors["dimension"].startswith("ValueError: the ranks of group disagree on the dimension d of X")
        assert errors["small shard"].startswith("ValueError: on rank 1 of group: replace=False needs at least")
        assert result["uninitialised"].startswith("ValueError: group= needs torch.distributed initialised")


# A refusal is agreed in one small collective before anything is computed: seconds, where a rank left waiting
# would be killed at run()'s deadline and fail the test instead.
AGREED_WITHIN_S = 5.0


def test_a_refusal_on_one_rank_is_raised_on_every_rank_at_once(ranks):
    world_size, results = ranks
    every_rank, last = ", ".join(str(rank) for rank in range(world_size)), world_size - 1
    expected = {
        "NaN in X on rank 1": "ValueError: on rank 1 of group: X contains NaN or infinite values",
        "inf in Y on the last rank": f"ValueError: on rank {last} of group: Y contains NaN or infinite values",
        "NaN in X on every rank": f"ValueError: on ranks {every_rank} of group: X contains NaN or infinite values",
        "X 1-D on rank 1": "ValueError: on rank 1 of group: X must be 2-D with shape (N, d); got shape (30,)",
        "X of integers on rank 0": "TypeError: on rank 0 of group: X must have a real floating dtype",
        "options differ": "ValueError: the ranks of group disagree on options of ppm_reg",
    }
    for result in results:
        refusals = result["one-rank refusals"]
        assert refusals.keys() == expected.keys()
        for case, start in expected.items():
            error, seconds = refusals[case]
            assert error is not None and error.startswith(start), (case, error)
            assert error == results[0]["one-rank refusals"][case][0], case  # the same error on every rank
            assert seconds < AGREED_WITHIN_S, (case, seconds)
        # the group is still usable, its ranks in step: the first call's pooled value again
        assert result["after refusals"] == pytest.approx(result["value"], rel=1e-12)


def test_collectives_run_on_the_device_of_x_in_its_dtype(tmp_path):
    """Every tensor a collective receives is on X's device; X's values travel in X's dtype (float32 here),
    counts as int64, a refusal's messages as uint8 bytes. With the core in torch under a "meta" default
    device, an allocation without ``device=`` would reach a collective on "meta", and a NumPy array handed
    to the pool (what NCCL refuses: a CPU tensor for CUDA data) is seen at the pool."""
    records = [record for rank_records in run(workers.collective_tensors, 2, tmp_path) for record in rank_records]
    assert {core for core, *_ in records} == {"numpy", "torch"}
    for core, where, library, device, dtype, shape in records:
        assert device == "cpu", (core, where, device, shape)
        assert dtype in ("int64", "float32", "float64") or (dtype == "uint8" and len(shape) == 1), (where, dtype)
        if core == "torch":
            assert library == "torch", (core, where, library, shape)
    assert {core for core, where, _, _, dtype, _ in records if where == "pool.gather" and dtype == "uint8"} == {
        "numpy", "torch"}  # the messages of the refusal were gathered
    points = [dtype for _, where, _, _, dtype, shape in records
              if where == "pool.gather" and dtype != "int64" and len(shape) == 2]
    largest = [dtype for _, where, _, _, dtype, shape in records if where == "pool.max" and shape == (1,)]
    assert points and largest and set(points) == set(largest) == {"float32"}


def test_a_group_of_one_is_the_call_without_a_group(tmp_path):
    # Both calls run in the worker: the parallel kernels' sums depend on the thread count.
    (result,) = run(workers.single, 1, tmp_path)
    assert result["grouped"]["value"] == result["plain"]["value"]
    np.testing.assert_array_equal(result["grouped"]["grad"], result["plain"]["grad"])
    X, Y = workers.shards(1, 0)
    Xt = torch.tensor(X, requires_grad=True)
    loss = pat.ppm_reg(Xt, torch.tensor(Y), **dict(workers.OPTIONS, n_subsamples=workers.N_SUBSAMPLES))
    loss.backward()
    assert result["plain"]["value"] == pytest.approx(float(loss.detach()), rel=1e-13)
    np.testing.assert_allclose(result["plain"]["grad"], Xt.grad.numpy(), rtol=1e-12, atol=1e-16)


def test_group_must_be_a_process_group():
    X = torch.zeros(5, 2)
    with pytest.raises(TypeError, match="group must be a torch.distributed process group"):
        pat.ppm_reg(X, X, bandwidth=0.2, group="world")


def test_ddp_example_runs_under_torchrun():
    example = Path(__file__).resolve().parents[1] / "examples" / "ddp_shape_matching.py"
    completed = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                                str(example), "--steps", "5", "--batch", "64"],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "step 5: energy distance" in completed.stdout
    assert "2 processes: generated points at radius" in completed.stdout

"""CuPy and PyTorch on a real GPU (``make gpu-check``); every test skips without one.

The kernels themselves are tested under the CUDA simulator (``tests/test_numba_cuda.py``);
these check what only a device can: results against NumPy, that a call queues its
work without making the host wait, CuPy's stream, and PyTorch's zero-copy exchange.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

cupy = pytest.importorskip("cupy")
if not cupy.is_available():
    pytest.skip("needs a CUDA GPU", allow_module_level=True)

import ppm_array as pa  # noqa: E402
from builders import blob_and_circle  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from sync_probe import waits_for_device  # noqa: E402

OPTIONS = dict(bandwidth=0.2, weights=(1.0, 100.0), n_subsamples=(4096, 16384), rng=0, method="direct")


def relative(got, want) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300))


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_cupy_equals_numpy(dtype, rtol):
    X, Y = (a.astype(dtype) for a in blob_and_circle(300, 250, seed=0, noise=0.05))
    expected = pa.ppm_reg_value_and_grad(X, Y, **OPTIONS)
    got = pa.ppm_reg_value_and_grad(cupy.asarray(X), cupy.asarray(Y), **OPTIONS)
    assert all(isinstance(a, cupy.ndarray) and a.dtype == dtype for a in got)
    for a, b in zip(got, expected):
        assert relative(cupy.asnumpy(a), b) <= rtol


@pytest.mark.parametrize("shared_y", [False, True])
def test_a_batch_on_cupy_equals_numpy(shared_y):
    """A batch of clouds on the device (its graph captured on the second call, replayed on the third) equals
    the NumPy batch."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(6, 80, 2))
    Y = rng.normal(size=(70, 2)) if shared_y else rng.normal(size=(6, 70, 2))
    options = dict(bandwidth=0.3, weights=(1.0, 20.0), n_subsamples=500, method="direct")
    for step in range(3):
        expected = pa.ppm_reg_value_and_grad(X + 0.01 * step, Y, rng=step, **options)
        got = pa.ppm_reg_value_and_grad(cupy.asarray(X + 0.01 * step), cupy.asarray(Y), rng=step, **options)
        for a, b in zip(got, expected):
            assert a.shape == b.shape and relative(cupy.asnumpy(a), b) <= 1e-10


def test_float32_gradients_within_1e3_of_float64():
    X, Y = blob_and_circle(300, 250, seed=1, noise=0.05)
    wide = pa.ppm_reg_value_and_grad(cupy.asarray(X), cupy.asarray(Y), **OPTIONS)
    narrow = pa.ppm_reg_value_and_grad(cupy.asarray(X, dtype=np.float32), cupy.asarray(Y, dtype=np.float32),
                                       **OPTIONS)
    for a, b in zip(narrow, wide):
        assert relative(cupy.asnumpy(a), cupy.asnumpy(b)) <= 1e-3


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_graph_replays_equal_numpy_with_fresh_clouds_and_draws(dtype, rtol):
    """The first call of a shape runs eagerly, the second captures a graph, later ones replay it: each with
    its own cloud and subsamples."""
    X, Y = (a.astype(dtype) for a in blob_and_circle(300, 250, seed=5, noise=0.05))
    for step in range(4):
        Xs = X + dtype(0.01 * step)
        expected = pa.ppm_reg_value_and_grad(Xs, Y, **dict(OPTIONS, rng=step))
        got = pa.ppm_reg_value_and_grad(cupy.asarray(Xs), cupy.asarray(Y), **dict(OPTIONS, rng=step))
        for a, b in zip(got, expected):
            assert relative(cupy.asnumpy(a), b) <= rtol


def test_a_replay_refuses_nan_naming_the_argument():
    X, Y = (cupy.asarray(a) for a in blob_and_circle(300, 250, seed=6, noise=0.05))
    for _ in range(2):
        pa.ppm_reg_value_and_grad(X, Y, **OPTIONS)
    bad = Y.copy()
    bad[7, 0] = cupy.nan
    with pytest.raises(ValueError, match="Y contains NaN"):
        pa.ppm_reg_value_and_grad(X, bad, **OPTIONS)


@pytest.mark.skipif(cupy.cuda.runtime.getDeviceCount() < 2, reason="needs two GPUs")
def test_work_runs_on_the_device_that_holds_the_data():
    X, Y = blob_and_circle(200, 150, seed=7, noise=0.05)
    expected = pa.ppm_reg_value_and_grad(X, Y, **OPTIONS)
    with cupy.cuda.Device(1):
        Xg, Yg = cupy.asarray(X), cupy.asarray(Y)
    for _ in range(3):  # eager, capture, replay: all from device 0 being current
        got = pa.ppm_reg_value_and_grad(Xg, Yg, **OPTIONS)
    for a, b in zip(got, expected):
        assert a.device.id == 1
        assert relative(cupy.asnumpy(a), b) <= 1e-10


def test_no_host_synchronisation_without_check_finite():
    """Measured: behind a spinning kernel, the call returns before the spin ends (it only queued work)."""
    X, Y = (cupy.asarray(a) for a in blob_and_circle(300, 250, seed=2, noise=0.05))

    def call():
        return pa.ppm_reg_value_and_grad(X, Y, check_finite=False, **OPTIONS)

    for _ in range(2):  # the first call runs eagerly and the second captures the graph; the third replays it
        call()
    waiting = waits_for_device(call)
    assert not waiting.waited, f"the call returned after {waiting.call_seconds:.3f} s of a {waiting.spin_seconds:.3f} s spin"
    assert waits_for_device(lambda: pa.ppm_reg_value_and_grad(X, Y, **OPTIONS)).waited  # the probe can tell


def test_work_runs_on_cupys_current_stream():
    X, Y = (cupy.asarray(a) for a in blob_and_circle(200, 150, seed=3, noise=0.05))
    expected = pa.ppm_reg_value_and_grad(X, Y, **OPTIONS)
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        got = pa.ppm_reg_value_and_grad(X, Y, check_finite=False, **OPTIONS)
        stream.synchronize()
    for a, b in zip(got, expected):
        assert relative(cupy.asnumpy(a), cupy.asnumpy(b)) <= 1e-10


def test_torch_cuda_tensors_reach_the_kernels_without_a_copy():
    torch = pytest.importorskip("torch")
    import ppm_array._adapters.torch as pat

    X, Y = blob_and_circle(200, 150, seed=4, noise=0.05)
    tensor = torch.tensor(X, device="cuda")
    assert pat._to_core(tensor, "auto").data.ptr == tensor.data_ptr()  # the same memory, through DLPack
    Xt = tensor.clone().requires_grad_(True)
    loss = pat.ppm_reg(Xt, torch.tensor(Y, device="cuda"), **OPTIONS)
    loss.backward()
    value, grad_x, _ = pa.ppm_reg_value_and_grad(X, Y, **OPTIONS)
    assert float(loss) == pytest.approx(float(value), rel=1e-10)
    assert relative(Xt.grad.cpu().numpy(), grad_x) <= 1e-10

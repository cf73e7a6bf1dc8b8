"""The CUDA-graph path of PPM-Reg, checkable without a GPU.

A fake device stands in for CuPy: its "graph" re-runs the captured body into the
outputs it wrote at capture, as a replay writes into the same memory. The body runs
on NumPy with the Numba CPU kernels. What is checked: what a replayed call queues (two
input copies, one upload, one replay, one copy out per output dtype, and no eager
work), that a replay computes with the new clouds and indices (equal to an eager
call), that it reads the device once with ``check_finite=True`` and never without,
and that a refusal still names the argument. ``tests/test_gpu.py`` checks the same
on a real GPU, and that the host does not wait.
"""

from __future__ import annotations

import dataclasses
import numpy as np
import pytest

import ppm_array as pa
from ppm_array._boundary import namespace as _namespace
from ppm_array._regularizer import cuda_graphs
from ppm_array._regularizer import evaluate as evaluate_module
from builders import blob_and_circle

OPTIONS = dict(bandwidth=0.3, dims=(0, 1), weights=(1.0, 50.0), n_subsamples=(64, 96), method="direct")


class FakeStream:
    ptr = 42


class FakeStaging:
    def __init__(self, log, n_entries, dtype):
        self.log, self.n_entries, self.dtype = log, n_entries, dtype

    def upload(self, target, parts, stream):
        assert stream is not None
        self.log.append("upload")
        target[...] = np.concatenate([np.ravel(p) for p in parts]).astype(self.dtype)


class FakeDevice:
    """NumPy buffers; a graph that re-runs the body into the buffers it wrote when captured."""

    def __init__(self):
        self.log = []

    def stream(self):
        return FakeStream()

    def device_id(self, array):
        return 0

    def empty(self, shape, dtype):
        return np.full(shape, np.nan if np.dtype(dtype).kind == "f" else -1, dtype=dtype)  # poisoned

    def copy_into(self, target, source):
        self.log.append("copy in")
        np.copyto(target, source)

    def staging(self, n_entries, dtype):
        return FakeStaging(self.log, n_entries, dtype)

    def capture(self, body):
        self.log.append("capture")
        flat, pieces = body()

        def replay():
            for buffer, fresh in zip(flat, body()[0]):
                np.copyto(buffer, fresh)

        return replay, (flat, pieces)

    def launch(self, graph, stream):
        self.log.append("launch")
        graph()

    def copy(self, array):
        self.log.append("copy out")
        return array.copy()


@pytest.fixture
def device(monkeypatch):
    fake = FakeDevice()
    monkeypatch.setattr(cuda_graphs, "applies", lambda backend, *args: backend.__name__.endswith("numba_cpu"))
    monkeypatch.setattr(cuda_graphs, "CuPyDevice", lambda: fake)
    cuda_graphs.clear()
    yield fake
    cuda_graphs.clear()


def eager(X, Y, **options):
    """The same call without graphs."""
    return pa.ppm_reg_value_and_grad(X, Y, backend="array_api", **options)


@pytest.mark.parametrize("check_finite", [False, True])
def test_a_replayed_call_queues_five_operations_and_reads_once_to_check(device, monkeypatch, check_finite):
    reads = []
    to_numpy = _namespace.to_numpy
    monkeypatch.setattr(evaluate_module, "to_numpy", lambda a: reads.append(a) or to_numpy(a))
    X, Y = blob_and_circle(40, 30, seed=0, noise=0.05)
    options = dict(OPTIONS, check_finite=check_finite, rng=0)
    for _ in range(3):
        device.log.clear()
        reads.clear()
        pa.ppm_reg_value_and_grad(X, Y, **options)
    copies_out = 2 if check_finite else 1  # the results, and the refusal flags (bool) when checked
    assert device.log == ["copy in", "copy in", "upload", "launch"] + ["copy out"] * copies_out
    assert len(reads) == (1 if check_finite else 0)


def test_replays_compute_with_the_new_clouds_and_draws(device):
    X, Y = blob_and_circle(40, 30, seed=1, noise=0.05)
    rng = np.random.default_rng(5)
    for step in range(4):
        seed = int(rng.integers(1000))
        X = X + 0.01 * step  # a new cloud every call
        got = pa.ppm_reg_value_and_grad(X, Y, rng=seed, return_terms=True, **OPTIONS)
        want = eager(X, Y, rng=seed, return_terms=True, **OPTIONS)
        for a, b in zip(got[:3], want[:3]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(got[3].mmd, want[3].mmd, rtol=1e-10)
        np.testing.assert_allclose(got[3].bandwidth, want[3].bandwidth)
    assert device.log.count("capture") == 1


def test_merged_pairs_upload_their_masses(device):
    """q = 0 with N^2 <= s merges repeated pairs: the masses travel with the indices."""
    X, Y = blob_and_circle(6, 5, seed=2, noise=0.05)
    options = dict(bandwidth=0.3, dims=(0,), n_subsamples=64, method="direct")
    for _ in range(3):  # the same seed: the same merged shapes, so the key repeats and is captured
        got = pa.ppm_reg_value_and_grad(X, Y, rng=3, **options)
    assert device.log.count("capture") == 1
    for a, b in zip(got, eager(X, Y, rng=3, **options)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def test_a_refusal_on_the_graph_path_names_the_argument(device):
    X, Y = blob_and_circle(40, 30, seed=3, noise=0.05)
    for _ in range(2):
        pa.ppm_reg_value_and_grad(X, Y, rng=0, **OPTIONS)
    for name in ("X", "Y"):
        bad = {"X": X.copy(), "Y": Y.copy()}
        bad[name][3, 1] = np.nan
        with pytest.raises(ValueError, match=f"{name} contains NaN"):
            pa.ppm_reg_value_and_grad(bad["X"], bad["Y"], rng=0, **OPTIONS)
    with pytest.raises(ValueError, match="too large for results in float32"):
        big_x, big_y = (1e20 * X).astype(np.float32), (1e20 * Y).astype(np.float32)
        for _ in range(2):
            pa.ppm_reg_value_and_grad(big_x, big_y, rng=0, **dict(OPTIONS, bandwidth=1e20))


def test_the_graph_path_is_only_for_the_direct_sums_on_cupy():
    from ppm_array._backends import numba_cpu
    from ppm_array._boundary.options import RegularizerOptions
    from ppm_array._regularizer.draws import draw_regularizer

    options = RegularizerOptions.check(**OPTIONS)
    draws = draw_regularizer(np.random.default_rng(0), 40, 30, options)
    assert not cuda_graphs.applies(numba_cpu, options, draws, np.float32, np)
    fake_cuda = type("numba_cuda", (), {"__name__": "ppm_array._backends.numba_cuda"})
    assert cuda_graphs.applies(fake_cuda, options, draws, np.float32, np)
    assert not cuda_graphs.applies(fake_cuda, dataclasses.replace(options, bandwidth="median"),
                                   draws, np.float32, np)
    assert not cuda_graphs.applies(fake_cuda, dataclasses.replace(options, method="fft"), draws, np.float32, np)


def test_a_call_that_cannot_be_captured_runs_eagerly_with_one_warning(device, monkeypatch):
    def refuse(body):
        raise RuntimeError("the current stream is capturing, so D2H transfers are disallowed")

    monkeypatch.setattr(device, "capture", refuse)
    X, Y = blob_and_circle(40, 30, seed=4, noise=0.05)
    want = eager(X, Y, rng=0, **OPTIONS)
    pa.ppm_reg_value_and_grad(X, Y, rng=0, **OPTIONS)
    with pytest.warns(RuntimeWarning, match="could not be captured"):
        got = pa.ppm_reg_value_and_grad(X, Y, rng=0, **OPTIONS)
    got_again = pa.ppm_reg_value_and_grad(X, Y, rng=0, **OPTIONS)  # no second warning: filterwarnings=error
    for a, b, c in zip(got, got_again, want):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-14)
        np.testing.assert_array_equal(a, b)

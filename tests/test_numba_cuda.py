"""Numba-CUDA kernels against the Array-API reference.

Without a GPU these run under the CUDA simulator: ``make test`` starts this file in
its own pytest process with ``NUMBA_ENABLE_CUDASIM=1`` (the variable must be set
before ``numba.cuda`` is first imported). Small ``threads_per_block`` values give
grids of several blocks. On a machine with a GPU (``make gpu-check``) the same
tests run on the device, and the CuPy end-to-end tests run too.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

cuda = pytest.importorskip("numba.cuda")
if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and not cuda.is_available():
    pytest.skip("needs NUMBA_ENABLE_CUDASIM=1 or a CUDA GPU", allow_module_level=True)

import ppm_array as pa  # noqa: E402
from ppm_array._boundary.namespace import array_namespace, to_numpy  # noqa: E402
from builders import hand_sample  # noqa: E402
from ppm_array._boundary import options as _options  # noqa: E402
from ppm_array._mmd import mmd as _mmd  # noqa: E402
from ppm_array._persistence import api as _persistence  # noqa: E402
from ppm_array._backends import array_api, numba_cuda  # noqa: E402
from ppm_array._backends.contract import KernelPoints  # noqa: E402

SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def namespace_and_move():
    """Device arrays: CuPy on a GPU, NumPy under the simulator."""
    if SIMULATED:
        return array_namespace(np.zeros(1)), np.asarray
    cupy = pytest.importorskip("cupy")
    return array_namespace(cupy.zeros(1)), cupy.asarray


def reference_namespace():
    return array_namespace(np.zeros(1))


@pytest.mark.parametrize("q", [0, 1, 2])
@pytest.mark.parametrize("threads_per_block", [8, 32])
def test_persistence_and_vjp_kernels_equal_reference(q, threads_per_block):
    xp, move = namespace_and_move()
    rng = np.random.default_rng(q)
    X = rng.normal(size=(40, 3))
    indices = rng.integers(0, 40, size=(70, 2 * q + 2))
    expected = array_api.persistence(X, indices, q, xp=reference_namespace())
    got = numba_cuda.persistence(move(X), move(indices), q, xp=xp, threads_per_block=threads_per_block)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(to_numpy(a), b, rtol=1e-12)
    edges = np.concatenate([expected[2], expected[3]])
    grad_length = rng.normal(size=140)
    grad_expected = array_api.scatter_edges(X, edges, grad_length, xp=reference_namespace())
    grad = numba_cuda.scatter_edges(move(X), move(edges), move(grad_length), xp=xp, threads_per_block=threads_per_block)
    np.testing.assert_allclose(to_numpy(grad), grad_expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dtype, scale", [(np.float32, 1e-25), (np.float32, 1e37), (np.float64, 1e-200),
                                          (np.float64, 1e300)])
def test_persistence_kernel_keeps_features_at_extreme_scales(dtype, scale):
    """The kernel bodies' distance contract (docs/math.md) on the CUDA target: squares that underflow or
    overflow the dtype do not lose the unit square's feature."""
    xp, move = namespace_and_move()
    side = float(dtype(scale))
    square = (np.array([[0, 0], [1, 0], [1, 1], [0, 1]]) * side).astype(dtype)
    birth, lifetime, _, _ = numba_cuda.persistence(move(square), move(np.array([[0, 1, 2, 3]])), 1, xp=xp)
    assert to_numpy(lifetime).dtype == dtype
    np.testing.assert_allclose(to_numpy(birth), [side], rtol=4 * np.finfo(dtype).eps)
    np.testing.assert_allclose(to_numpy(lifetime), [(np.sqrt(2) - 1) * side], rtol=4 * np.finfo(dtype).eps)


def kernel_mmd(backend, P, Q, estimator, xp, threads_per_block=None):
    """The MMD and its gradients through the core with one backend's kernels."""
    if threads_per_block is not None:
        pair_moments = backend.pair_moments
        backend = type("Backend", (), {"pair_moments": staticmethod(
            lambda *a, **k: pair_moments(*a, threads_per_block=threads_per_block, **k))})
    options = _options.MMDOptions.check(bandwidth=0.3, estimator=estimator, method="direct")
    return _mmd.kernel_mmd(backend, P, Q, options, with_grad=True, grad_at_collapsed=True, xp=xp)[:2]


@pytest.mark.parametrize("estimator", ["v", "u"])
@pytest.mark.parametrize("threads_per_block, sizes", [(16, (130, 110)), (64, (300, 270))])
def test_mmd_kernel_equals_reference(estimator, threads_per_block, sizes):
    """Several tiles a side (tiles of ``threads_per_block`` points), an odd and an even number of them."""
    xp, move = namespace_and_move()
    rng = np.random.default_rng(0)

    def sample(s):
        return hand_sample(rng.uniform(0, 2, s), np.where(rng.random(s) < 0.4, 0.0, rng.uniform(0, 1, s)))

    P, Q = (sample(s) for s in sizes)
    value_ref, grads_ref = kernel_mmd(array_api, P, Q, estimator, reference_namespace())
    moved = [S._replace(birth=move(S.birth), lifetime=move(S.lifetime), mass=move(S.mass)) for S in (P, Q)]
    value, grads = kernel_mmd(numba_cuda, *moved, estimator, xp, threads_per_block)
    assert float(to_numpy(value)) == pytest.approx(float(value_ref), rel=1e-12)
    for got, want in zip(grads[0] + grads[1], grads_ref[0] + grads_ref[1]):
        np.testing.assert_allclose(to_numpy(got), want, rtol=1e-11, atol=1e-13)


def test_ppm_reg_on_cupy_equals_numpy():
    """End to end on a GPU: CuPy in, CuPy out, the NumPy result (skips without a GPU)."""
    if SIMULATED:
        pytest.skip("CuPy needs a real GPU; the kernels are tested above under the simulator")
    cupy = pytest.importorskip("cupy")
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(500, 2)), rng.normal(size=(400, 2))
    options = dict(bandwidth=0.2, weights=(1, 100), n_subsamples=2048, rng=0)
    expected = pa.ppm_reg_value_and_grad(X, Y, backend="array_api", **options)
    for dtype, rtol in ((np.float64, 1e-10), (np.float32, 1e-3)):
        got = pa.ppm_reg_value_and_grad(cupy.asarray(X, dtype=dtype), cupy.asarray(Y, dtype=dtype), backend="numba", **options)
        assert all(isinstance(a, cupy.ndarray) and a.dtype == dtype for a in got)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(cupy.asnumpy(a), b, rtol=rtol, atol=rtol * np.abs(b).max())


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def kernel_inputs(draw):
    q = draw(st.integers(0, 2))
    n_points, d, s = draw(st.integers(1, 10)), draw(st.integers(1, 3)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.normal(size=(n_points, d)) * 10.0 ** draw(st.floats(-50, 50))
    if draw(st.booleans()):
        X[: n_points // 2] = X[-1]  # duplicated points
    return q, X, rng.integers(0, n_points, size=(s, 2 * q + 2)), rng


@given(case=kernel_inputs(), threads_per_block=st.sampled_from([1, 4, 32]))
def test_fuzz_cuda_kernels_equal_reference(case, threads_per_block):
    """Fuzzing of the CUDA kernels (simulated in make test): finite, and equal to the reference."""
    q, X, indices, rng = case
    xp, move = namespace_and_move()
    reference = reference_namespace()
    expected = array_api.persistence(X, indices, q, xp=reference)
    got = numba_cuda.persistence(move(X), move(indices), q, xp=xp, threads_per_block=threads_per_block)
    scale = max(float(np.abs(X).max()), 1e-300)
    for a, b in zip(got[:2], expected[:2]):
        np.testing.assert_allclose(to_numpy(a), b, rtol=1e-12, atol=1e-13 * scale)
    edges = np.concatenate([expected[2], expected[3]])
    grad_length = rng.normal(size=edges.shape[0])
    grad = numba_cuda.scatter_edges(move(X), move(edges), move(grad_length), xp=xp, threads_per_block=threads_per_block)
    grad_expected = array_api.scatter_edges(X, edges, grad_length, xp=reference)
    assert np.all(np.isfinite(to_numpy(grad)))
    np.testing.assert_allclose(to_numpy(grad), grad_expected, rtol=1e-10, atol=1e-10 * np.abs(grad_expected).max())
    # The MMD between this sample and an independent one, rescaled to unit size, against the reference.
    P = hand_sample(expected[0] / scale, expected[1] / scale)
    Q = hand_sample(rng.uniform(0, 1, indices.shape[0]), np.where(rng.random(indices.shape[0]) < 0.5, 0.0,
                                                                  rng.uniform(0, 1, indices.shape[0])))
    value_ref, grads_ref = kernel_mmd(array_api, P, Q, "v", reference)
    moved = [S._replace(birth=move(S.birth), lifetime=move(S.lifetime), mass=move(S.mass)) for S in (P, Q)]
    value, grads = kernel_mmd(numba_cuda, *moved, "v", xp, threads_per_block)
    assert float(to_numpy(value)) == pytest.approx(float(value_ref), rel=1e-12, abs=1e-14)
    for a, b in zip(grads[0] + grads[1], grads_ref[0] + grads_ref[1]):
        np.testing.assert_allclose(to_numpy(a), b, rtol=1e-10, atol=1e-12)


@st.composite
def moment_inputs(draw):
    """Two samples for the moment kernel: float32 or float64, 1 to 40 points, none to all of them collapsed,
    births all 0 or not, and a block of 1 to 64 threads (tiles of as many points)."""
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    planar = draw(st.booleans())

    def sample():
        s = draw(st.integers(1, 40))
        collapsed = draw(st.sampled_from([0.0, 0.5, 0.95, 1.0]))
        lifetime = np.where(rng.random(s) < collapsed, 0.0, rng.uniform(0, 1, s))
        return hand_sample((rng.uniform(0, 2, s) * planar).astype(dtype), lifetime.astype(dtype))

    return sample(), sample(), draw(st.sampled_from([1, 2, 3, 8, 16, 32, 64]))


@settings(max_examples=25)
@given(case=moment_inputs(), estimator=st.sampled_from(["v", "u"]))
def test_fuzz_moment_kernel_equals_reference(case, estimator):
    """The tile-pair kernel (within-sums once, cross-sums once, compaction on the device) against the
    reference in float64, for both estimators (the union's within-sum, and within plus cross)."""
    P, Q, threads_per_block = case
    if estimator == "u" and min(P.birth.shape[0], Q.birth.shape[0]) < 2:
        return
    xp, move = namespace_and_move()
    wide = [S._replace(birth=S.birth.astype(np.float64), lifetime=S.lifetime.astype(np.float64),
                       mass=S.mass.astype(np.float64)) for S in (P, Q)]
    value_ref, grads_ref = kernel_mmd(array_api, *wide, estimator, reference_namespace())
    moved = [S._replace(birth=move(S.birth), lifetime=move(S.lifetime), mass=move(S.mass)) for S in (P, Q)]
    value, grads = kernel_mmd(numba_cuda, *moved, estimator, xp, threads_per_block)
    rtol = 1e-11 if P.birth.dtype == np.float64 else 1e-4
    scale = max(abs(float(value_ref)), np.sum(P.mass * P.lifetime) ** 2, 1e-300)
    assert abs(float(to_numpy(value)) - float(value_ref)) <= rtol * scale
    for got, want in zip(grads[0] + grads[1], grads_ref[0] + grads_ref[1]):
        np.testing.assert_allclose(to_numpy(got), want, rtol=rtol, atol=rtol * max(np.abs(want).max(), 1e-300))


class ImportedView(np.ndarray):
    """What ``cuda.as_cuda_array`` returned: a device-array view (here, of host memory)."""


@pytest.mark.skipif(not SIMULATED, reason="a fake CuPy of host arrays is a simulator check; on a GPU, "
                                           "tests/test_gpu.py checks the real CuPy arrays and streams")
def test_kernels_get_cupy_arrays_without_a_sync_and_run_on_cupys_stream(monkeypatch):
    """Checkable without a GPU: every array that reaches a kernel was imported with ``sync=False`` (Numba's
    default synchronises the exporting stream once per argument), and every launch runs on CuPy's current
    stream. Every NumPy array plays a CuPy array here."""
    imports, launches = [], []

    def as_cuda_array(array, sync=True):
        imports.append(sync)
        return np.asarray(array).view(ImportedView)

    class CurrentStream:
        ptr = 1234

    fake_cupy = type("cupy", (), {"cuda": type("cuda", (), {"get_current_stream": staticmethod(CurrentStream)})})
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(numba_cuda, "is_cupy_array",
                        lambda array: isinstance(array, np.ndarray) and not isinstance(array, ImportedView))
    monkeypatch.setattr(numba_cuda.cuda, "as_cuda_array", as_cuda_array, raising=False)
    monkeypatch.setattr(numba_cuda.cuda, "external_stream", lambda ptr: f"stream {ptr}", raising=False)

    class Recorder:
        def __init__(self, name, kernel):
            self.name, self.kernel = name, kernel

        def __getitem__(self, configuration):
            def launch(*args):
                arrays = [a for a in args if isinstance(a, np.ndarray)]
                launches.append((self.name, configuration[2], all(isinstance(a, ImportedView) for a in arrays)))
                return self.kernel[configuration[:2]](*(np.asarray(a) for a in args))
            return launch

    for name in ("persistence_kernel", "scatter_kernel", "compact_kernel", "expand_kernel"):
        monkeypatch.setattr(numba_cuda, name, Recorder(name, getattr(numba_cuda, name)))
    moment_kernel = numba_cuda._moment_kernel
    monkeypatch.setattr(numba_cuda, "_moment_kernel", lambda *key: Recorder("moments", moment_kernel(*key)))

    rng = np.random.default_rng(0)
    X, indices, xp = rng.normal(size=(12, 2)), rng.integers(0, 12, size=(20, 4)), reference_namespace()
    birth, lifetime, birth_edge, death_edge = numba_cuda.persistence(X, indices, 1, xp=xp)
    numba_cuda.scatter_edges(X, birth_edge, lifetime, xp=xp)
    points = KernelPoints(birth, lifetime, lifetime)
    numba_cuda.pair_moments(points, points, same_set=False, inv_two_h2=np.asarray(2.0), xp=xp)
    assert imports and not any(imports)
    assert {name for name, _, _ in launches} == {"persistence_kernel", "scatter_kernel", "compact_kernel",
                                                 "expand_kernel", "moments"}
    for name, stream, imported in launches:
        assert imported, f"{name} was passed an array that Numba would import with a sync"
        assert stream == "stream 1234", f"{name} did not run on CuPy's current stream"


def test_public_functions_check_samples_before_the_cuda_kernels(monkeypatch):
    """A sample whose edges leave the cloud is refused at the boundary, whichever backend would run."""
    monkeypatch.setattr(_persistence, "select_backend", lambda name, array: numba_cuda)
    xp, move = namespace_and_move()
    X = move(np.random.default_rng(0).normal(size=(10, 2)))
    sample = pa.principal_persistence(X, 1, n_subsamples=6, rng=0)
    ones = move(np.ones(6))
    expected = pa.persistence_vjp(X, sample, ones, ones, backend="array_api")
    np.testing.assert_allclose(to_numpy(pa.persistence_vjp(X, sample, ones, ones)), to_numpy(expected), rtol=1e-12)
    for field in ("birth_edge", "death_edge"):
        bad = sample._replace(**{field: move(np.full((6, 2), 99, dtype=np.int64))})
        with pytest.raises(ValueError, match=f"sample.{field} must lie in"):
            pa.persistence_vjp(X, bad, ones, ones)


@pytest.mark.parametrize("shared_y", [False, True])
def test_a_batch_on_the_cuda_kernels_equals_the_cpu_batch(monkeypatch, shared_y):
    """A batch of clouds through the CUDA kernels (the items' moments one item at a time, the persistence and
    the VJP of the whole batch in one launch each) equals the Numba CPU batch."""
    from ppm_array._regularizer import cuda_graphs
    from ppm_array._regularizer import evaluate as evaluate_module

    monkeypatch.setattr(evaluate_module, "select_backend", lambda name, array: numba_cuda)
    monkeypatch.setattr(cuda_graphs, "ENABLED", False)  # graphs need CuPy; the simulator takes NumPy arrays
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3, 12, 2))
    Y = rng.normal(size=(10, 2)) if shared_y else rng.normal(size=(3, 10, 2))
    options = dict(bandwidth=0.4, weights=(1.0, 10.0), n_subsamples=40, rng=2, method="direct")
    got = pa.ppm_reg_value_and_grad(X, Y, **options)
    monkeypatch.undo()
    expected = pa.ppm_reg_value_and_grad(X, Y, backend="numba", **options)
    for a, b in zip(got, expected):
        assert np.shape(a) == b.shape
        np.testing.assert_allclose(to_numpy(a), b, rtol=1e-10, atol=1e-12 * np.abs(b).max())

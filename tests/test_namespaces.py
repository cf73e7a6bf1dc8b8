"""The Array-API backend on every namespace: same numbers, results in the input's namespace and dtype."""

from __future__ import annotations

import numpy as np
import pytest

import ppm_array as pa
from ppm_array._boundary.namespace import array_namespace, to_numpy
from ppm_array._backends.segment_sum import segment_sum
from builders import blob_and_circle
from oracles import published_ppm_reg


def clouds(seed=0):
    return blob_and_circle(50, 60, seed, noise=0.05)


OPTIONS = dict(bandwidth=0.2, dims=(0, 1), weights=(1.0, 50.0), n_subsamples=300, rng=3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ppm_reg_same_numbers_in_every_namespace(xp, dtype):
    X, Y = clouds()
    Xn, Yn = xp.asarray(X, dtype), xp.asarray(Y, dtype)
    # The truth: the published algorithm in float64, differentiated by PyTorch, on the clouds as given.
    expected = published_ppm_reg(*(to_numpy(a).astype(np.float64) for a in (Xn, Yn)), **OPTIONS)
    value, grad_x, grad_y = pa.ppm_reg_value_and_grad(Xn, Yn, backend="array_api", **OPTIONS)
    for result in (value, grad_x, grad_y):
        assert array_namespace(result) is array_namespace(Xn)
        assert result.dtype == Xn.dtype
    assert value.shape == ()
    # float64: two independent implementations round differently (as in test_published_algorithm.py). A gradient
    # entry is a sum of terms as large as the largest entries, so its rounding is absolute at that size: measured
    # 7.5e-11 of the largest entry here (on every backend), which an entry near 0 cannot meet relative to itself.
    value_rtol, grad_rtol, grad_atol = (1e-11, 1e-9, 2e-10) if dtype == "float64" else (2e-3, 2e-3, 2e-3)
    np.testing.assert_allclose(to_numpy(value), expected[0], rtol=value_rtol)
    for got, want in zip((grad_x, grad_y), expected[1:]):
        np.testing.assert_allclose(to_numpy(got), want, rtol=grad_rtol, atol=grad_atol * np.abs(want).max())
    assert float(pa.ppm_reg(Xn, Yn, backend="array_api", **OPTIONS)) == pytest.approx(float(to_numpy(value)), rel=1e-6)


def test_principal_persistence_and_vjp_in_every_namespace(xp):
    X, _ = clouds(1)
    indices = pa.subsample_indices(50, 1, 200, rng=0)
    expected = pa.principal_persistence(X, 1, indices=indices, backend="array_api")
    sample = pa.principal_persistence(xp.asarray(X), 1, indices=indices, backend="array_api")
    for field in ("birth", "lifetime", "birth_edge", "death_edge", "mass"):
        np.testing.assert_allclose(to_numpy(getattr(sample, field)), getattr(expected, field), rtol=1e-13)
    upstream = np.random.default_rng(2).normal(size=(2, 200))
    grad = pa.persistence_vjp(xp.asarray(X), sample, xp.asarray(upstream[0]), xp.asarray(upstream[1]), backend="array_api")
    expected_grad = pa.persistence_vjp(X, expected, upstream[0], upstream[1], backend="array_api")
    np.testing.assert_allclose(to_numpy(grad), expected_grad, rtol=1e-12, atol=1e-15)


def test_same_seed_same_indices_in_every_namespace(xp):
    host = pa.subsample_indices(100, 2, 50, rng=11)
    moved = pa.subsample_indices(100, 2, 50, rng=11, xp=array_namespace(xp.asarray(np.zeros(1))))
    np.testing.assert_array_equal(to_numpy(moved), host)


def test_segment_sum_with_repeated_indices_in_every_namespace(xp):
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 7, size=500)
    values = rng.normal(size=(500, 3))
    expected = np.zeros((9, 3))
    np.add.at(expected, targets, values)
    namespace = array_namespace(xp.asarray(np.zeros(1)))
    got = segment_sum(xp.asarray(targets), xp.asarray(values), 9, xp=namespace)
    np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-13, atol=1e-13)
    assert np.all(to_numpy(got)[7:] == 0)


def test_segment_sum_of_nothing_is_zero_in_every_namespace(xp):
    """PPM-Reg scatters no edges when no subsample of a cloud has a feature."""
    namespace = array_namespace(xp.asarray(np.zeros(1)))
    targets = xp.asarray(np.zeros(0, dtype=np.int64))
    got = segment_sum(targets, xp.asarray(np.zeros((0, 2))), 4, xp=namespace)
    np.testing.assert_array_equal(to_numpy(got), np.zeros((4, 2)))


def _backends_reached(monkeypatch, *modules) -> list:
    """Record the backend module and the array that the ``modules``' calls to ``select_backend`` choose by."""
    from ppm_array import _backends

    reached = []

    def recording(name, array):
        backend = _backends.select_backend(name, array)
        reached.append((backend.__name__.rsplit(".", 1)[-1], array))
        return backend

    for module in modules:
        monkeypatch.setattr(module, "select_backend", recording)
    return reached


@pytest.mark.parametrize("library", ["torch", "jax", "array_api_strict"])
@pytest.mark.parametrize("backend", ["auto", "numba"])
def test_cpu_arrays_of_other_libraries_reach_the_numba_kernels_without_a_copy(monkeypatch, library, backend):
    """A CPU array of another DLPack library goes to the Numba CPU kernels as a NumPy view of its memory
    (a torch tensor that requires grad too), gives the NumPy path's numbers, and comes back in its library,
    device and dtype; the inputs are left as they were."""
    pytest.importorskip("numba")
    from ppm_array._regularizer import evaluate as _regularizer
    from conftest import _namespace

    namespace = _namespace(library)
    X, Y = clouds(4)
    expected = pa.ppm_reg_value_and_grad(X, Y, backend="numba", **OPTIONS)
    Xn, Yn = namespace.asarray(X), namespace.asarray(Y)
    if library == "torch":
        Xn.requires_grad_(True)
    before = [to_numpy(a).copy() for a in (Xn, Yn)]
    reached = _backends_reached(monkeypatch, _regularizer)
    value, grad_x, grad_y = pa.ppm_reg_value_and_grad(Xn, Yn, backend=backend, **OPTIONS)
    [(name, array)] = reached
    assert name == "numba_cpu"
    assert isinstance(array, np.ndarray) and np.shares_memory(array, to_numpy(Xn))
    for got, want, like in zip((value, grad_x, grad_y), expected, (Xn, Xn, Yn)):
        assert array_namespace(got) is array_namespace(like)
        assert got.dtype == like.dtype and got.shape == want.shape
        assert pa._boundary.namespace.device(got) == pa._boundary.namespace.device(like)
        np.testing.assert_array_equal(to_numpy(got), want)
    for array, copy in zip((Xn, Yn), before):
        np.testing.assert_array_equal(to_numpy(array), copy)


def test_persistence_of_torch_cpu_tensors_on_the_numba_kernels(monkeypatch):
    """The persistence functions and the MMD take torch CPU tensors to the Numba kernels too (every array of
    a PersistenceSample, an ``indices`` keyword of either library) and return torch tensors equal to NumPy's."""
    pytest.importorskip("numba")
    torch = pytest.importorskip("torch")
    from ppm_array._mmd import api as _mmd
    from ppm_array._persistence import api as _persistence

    X, Y = clouds(5)
    indices = pa.subsample_indices(50, 1, 200, rng=0)
    reached = _backends_reached(monkeypatch, _persistence, _mmd)
    for given in (indices, torch.from_numpy(indices)):
        sample = pa.principal_persistence(torch.from_numpy(X), 1, indices=given)
        expected = pa.principal_persistence(X, 1, indices=indices)
        for field in ("birth", "lifetime", "birth_edge", "death_edge", "mass"):
            assert isinstance(getattr(sample, field), torch.Tensor)
            np.testing.assert_array_equal(getattr(sample, field).numpy(), getattr(expected, field))
    upstream = np.random.default_rng(2).normal(size=(2, 200))
    grad = pa.persistence_vjp(torch.from_numpy(X), sample, *map(torch.from_numpy, upstream))
    np.testing.assert_array_equal(grad.numpy(), pa.persistence_vjp(X, expected, *upstream))
    other = pa.exact_principal_persistence(torch.from_numpy(Y[:8]), 1)
    value = pa.mmd(sample, other, bandwidth=0.3)
    assert isinstance(value, torch.Tensor)
    assert float(value) == float(pa.mmd(expected, pa.exact_principal_persistence(Y[:8], 1), bandwidth=0.3))
    assert {name for name, _ in reached} == {"numba_cpu"}


def test_mixed_libraries_are_still_refused():
    """Viewing CPU tensors as NumPy arrays must not make a torch X and a NumPy Y acceptable."""
    torch = pytest.importorskip("torch")
    X, Y = clouds(6)
    with pytest.raises(TypeError, match="same array library"):
        pa.ppm_reg(torch.from_numpy(X), Y, **OPTIONS)


@pytest.mark.parametrize("backend", ["numba", "array_api"])
def test_numpy_itself_and_array_api_compat_give_the_same_numbers(monkeypatch, backend):
    """NumPy arrays are computed with NumPy's own namespace where it implements the standard (2.1 and later), and
    with array-api-compat's wrapper before: both give the same value and gradients, bitwise."""
    from ppm_array._boundary import namespace

    X, Y = blob_and_circle(60, 50, seed=4)
    options = dict(bandwidth=0.3, dims=(0, 1), weights=(1.0, 20.0), n_subsamples=300, rng=2, backend=backend)
    assert array_namespace(X) is (np if namespace._NUMPY_IS_ARRAY_API else pytest.importorskip("array_api_compat").numpy)
    native = pa.ppm_reg_value_and_grad(X, Y, **options)
    monkeypatch.setattr(namespace, "_NUMPY_IS_ARRAY_API", False)
    assert array_namespace(X) is not np
    wrapped = pa.ppm_reg_value_and_grad(X, Y, **options)
    for a, b in zip(native, wrapped):
        np.testing.assert_array_equal(a, b)

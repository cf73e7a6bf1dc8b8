"""The Array-API backend on every namespace: same numbers, results in the input's namespace and dtype."""

from __future__ import annotations

import numpy as np
import pytest

import ppm_array as pa
from ppm_array._namespace import array_namespace, to_numpy
from ppm_array._scatter import segment_sum
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
    # float64: two independent implementations round differently (as in test_published_algorithm.py).
    value_rtol, grad_rtol, grad_atol = (1e-11, 1e-9, 1e-11) if dtype == "float64" else (2e-3, 2e-3, 2e-3)
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

"""Numba CPU kernels against the Array-API reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import ppm_array as pa
from builders import blob_and_circle, hand_sample
from numba import njit
from ppm_array._backends import _fastmath, numba_cpu


@st.composite
def cloud_and_indices(draw):
    q = draw(st.sampled_from([0, 1, 2]))
    n_points = draw(st.integers(1, 30))
    d = draw(st.integers(1, 5))
    X = draw(arrays(np.float64, (n_points, d), elements=st.floats(-1, 1, allow_subnormal=False)))
    X *= 10.0 ** draw(st.floats(-3, 3))
    s = draw(st.integers(1, 60))
    indices = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, n_points, size=(s, 2 * q + 2))
    return X, q, indices


def edge_lengths(X, edges):
    return np.linalg.norm(X[edges[:, 0]] - X[edges[:, 1]], axis=1)


@given(case=cloud_and_indices())
def test_persistence_and_vjp_equal_reference(case):
    X, q, indices = case
    ref = pa.principal_persistence(X, q, indices=indices, backend="array_api")
    fast = pa.principal_persistence(X, q, indices=indices, backend="numba")
    scale = max(float(np.abs(X).max()), 1e-300)
    for field in ("birth", "lifetime"):
        np.testing.assert_allclose(getattr(fast, field), getattr(ref, field), rtol=1e-12, atol=1e-13 * scale)
    for field in ("birth_edge", "death_edge"):
        np.testing.assert_allclose(edge_lengths(X, getattr(fast, field)), edge_lengths(X, getattr(ref, field)),
                                   rtol=1e-12, atol=1e-13 * scale)
    upstream = np.random.default_rng(0).normal(size=(2, indices.shape[0]))
    grad_ref = pa.persistence_vjp(X, ref, *upstream, backend="array_api")
    grad_fast = pa.persistence_vjp(X, ref, *upstream, backend="numba")
    np.testing.assert_allclose(grad_fast, grad_ref, rtol=1e-12, atol=1e-12 * max(np.abs(grad_ref).max(), 1e-300))


@st.composite
def persistence_pairs(draw):
    def sample():
        s = draw(st.integers(2, 700))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        lifetime = np.where(rng.random(s) < draw(st.floats(0, 1)), 0.0, rng.uniform(0, 2, s))
        return hand_sample(rng.uniform(0, 3, s), lifetime)

    return sample(), sample()


@given(pair=persistence_pairs(), bandwidth=st.floats(0.05, 2), estimator=st.sampled_from(["v", "u"]),
       weight_power=st.sampled_from([1.0, 2.0]))
def test_mmd_value_and_grad_equal_reference(pair, bandwidth, estimator, weight_power):
    """Sizes up to 700 points span several 256-point tiles and chunks."""
    P, Q = pair
    options = dict(bandwidth=bandwidth, estimator=estimator, weight_power=weight_power)
    ref = pa.mmd_value_and_grad(P, Q, backend="array_api", **options)
    fast = pa.mmd_value_and_grad(P, Q, backend="numba", **options)
    scale = float(pa.mmd(P, Q._replace(lifetime=0 * Q.lifetime), backend="array_api", **options)) + float(
        pa.mmd(Q, P._replace(lifetime=0 * P.lifetime), backend="array_api", **options))
    assert float(fast[0]) == pytest.approx(float(ref[0]), rel=1e-12, abs=1e-13 * scale)
    # A gradient entry sums terms of size up to (sum_i a_i w_i)^2 / h; rounding is relative to that.
    term_scale = (np.sum(P.mass * P.lifetime**weight_power) + np.sum(Q.mass * Q.lifetime**weight_power)) ** 2 / bandwidth
    for got, want in zip(fast[1] + fast[2], ref[1] + ref[2]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13 * max(term_scale, 1e-300))


@pytest.mark.parametrize("dims", [(0, 1), (0, 1, 2)])
def test_ppm_reg_equals_reference(dims):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(200, 3)), 0.7 * rng.normal(size=(150, 3))
    options = dict(bandwidth=0.3, dims=dims, n_subsamples=900, rng=1)
    ref = pa.ppm_reg_value_and_grad(X, Y, backend="array_api", **options)
    fast = pa.ppm_reg_value_and_grad(X, Y, backend="numba", **options)
    assert float(fast[0]) == pytest.approx(float(ref[0]), rel=1e-12)
    for got, want in zip(fast[1:], ref[1:]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_same_seed_is_bitwise_reproducible():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    first = pa.ppm_reg_value_and_grad(X, Y, bandwidth=0.2, n_subsamples=2000, rng=5, backend="numba")
    second = pa.ppm_reg_value_and_grad(X, Y, bandwidth=0.2, n_subsamples=2000, rng=5, backend="numba")
    for a, b in zip(first, second):
        assert np.array_equal(a, b)


def test_float32_gradients_within_1e3_of_float64():
    X, Y = blob_and_circle(512, 512, 0, noise=0.01)
    options = dict(bandwidth=np.sqrt(0.05), weights=(1, 6000), n_subsamples=2048, rng=0, backend="numba")
    value64, grad64, _ = pa.ppm_reg_value_and_grad(X, Y, **options)
    value32, grad32, _ = pa.ppm_reg_value_and_grad(X.astype(np.float32), Y.astype(np.float32), **options)
    assert grad32.dtype == np.float32 and value32.dtype == np.float32
    assert float(value32) == pytest.approx(float(value64), rel=1e-3)
    assert np.linalg.norm(grad32 - grad64) <= 1e-3 * np.linalg.norm(grad64)


def test_polynomial_exp_is_accurate_as_compiled_in_the_kernels():
    """``exp_neg`` inlined into a loop compiled with the kernels' fastmath flags, as the moment kernels use it."""

    @njit(fastmath=numba_cpu._VECTORISE)
    def evaluate(x, out):
        for i in range(x.shape[0]):
            out[i] = _fastmath.exp_neg(x[i])

    x = np.concatenate([np.linspace(0, 720, 200_001), np.random.default_rng(0).uniform(0, 40, 100_000),
                        [0.0, 1e-300, 708.0, 708.0 + 1e-9, np.nextafter(708.0, 0)]])
    out = np.empty_like(x)
    evaluate(x, out)
    expected = np.exp(-x)
    normal = expected > 1e-307
    assert np.max(np.abs(out[normal] - expected[normal]) / expected[normal]) < 5e-16
    assert np.all(out[x > 708.0] == 0.0)

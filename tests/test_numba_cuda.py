"""Numba-CUDA kernels against the Array-API reference.

Without a GPU these run under the CUDA simulator: ``make test`` starts this file in
its own pytest process with ``NUMBA_ENABLE_CUDASIM=1`` (the variable must be set
before ``numba.cuda`` is first imported). Small ``threads_per_block`` values give
grids of several blocks. On a machine with a GPU (``make gpu-check``) the same
tests run on the device, and the CuPy end-to-end tests run too.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

cuda = pytest.importorskip("numba.cuda")
if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and not cuda.is_available():
    pytest.skip("needs NUMBA_ENABLE_CUDASIM=1 or a CUDA GPU", allow_module_level=True)

import ppm_array as pa  # noqa: E402
from ppm_array._namespace import array_namespace, to_numpy  # noqa: E402
from ppm_array.backends import array_api, numba_cuda  # noqa: E402

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
    upstream = rng.normal(size=(2, 70))
    grad_expected = array_api.persistence_vjp(X, *expected[2:4], expected[1], *upstream, xp=reference_namespace())
    grad = numba_cuda.persistence_vjp(move(X), *map(move, (expected[2], expected[3], expected[1], *upstream)), xp=xp,
                                      threads_per_block=threads_per_block)
    np.testing.assert_allclose(to_numpy(grad), grad_expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("estimator", ["v", "u"])
@pytest.mark.parametrize("threads_per_block", [16, 64])
def test_mmd_kernel_equals_reference(estimator, threads_per_block):
    """Sets larger than a shared-memory tile (256) and several blocks."""
    xp, move = namespace_and_move()
    rng = np.random.default_rng(0)

    def triple(s):
        lifetime = np.where(rng.random(s) < 0.4, 0.0, rng.uniform(0, 1, s))
        return rng.uniform(0, 2, s), lifetime, np.full(s, 1.0 / s)

    P, Q = triple(300), triple(270)
    options = dict(bandwidth=0.3, weight_power=1.0, unbiased=estimator == "u", with_grad=True)
    value_ref, grads_ref = array_api.mmd_squared(P, Q, xp=reference_namespace(), **options)
    value, grads = numba_cuda.mmd_squared(tuple(map(move, P)), tuple(map(move, Q)), xp=xp,
                                          threads_per_block=threads_per_block, **options)
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


from hypothesis import given  # noqa: E402
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
    upstream = rng.normal(size=(2, indices.shape[0]))
    grad = numba_cuda.persistence_vjp(move(X), *map(move, (expected[2], expected[3], expected[1], *upstream)), xp=xp,
                                      threads_per_block=threads_per_block)
    grad_expected = array_api.persistence_vjp(X, expected[2], expected[3], expected[1], *upstream, xp=reference)
    assert np.all(np.isfinite(to_numpy(grad)))
    np.testing.assert_allclose(to_numpy(grad), grad_expected, rtol=1e-10, atol=1e-10 * np.abs(grad_expected).max())
    P = (expected[0] / scale, expected[1] / scale, np.full(indices.shape[0], 1 / indices.shape[0]))
    options = dict(bandwidth=0.5, weight_power=1.0, unbiased=False, with_grad=True)
    value, grads = numba_cuda.mmd_squared(tuple(map(move, P)), tuple(map(move, P)), xp=xp,
                                          threads_per_block=threads_per_block, **options)
    value_ref, grads_ref = array_api.mmd_squared(P, P, xp=reference, **options)
    assert abs(float(to_numpy(value)) - float(value_ref)) <= 1e-12 * max(1.0, abs(float(value_ref)))
    for a, b in zip(grads[0] + grads[1], grads_ref[0] + grads_ref[1]):
        np.testing.assert_allclose(to_numpy(a), b, rtol=1e-10, atol=1e-12)

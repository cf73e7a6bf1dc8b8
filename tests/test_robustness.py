"""Awkward but valid inputs are handled: duplicates, extreme scales, low precision, layouts."""

from __future__ import annotations

import numpy as np
import pytest

import ppm_array as pa
from builders import blob_and_circle as clouds

OPTIONS = dict(bandwidth=0.3, dims=(0, 1, 2), weights=(1.0, 10.0, 10.0), n_subsamples=400, rng=1)


def test_identical_points_give_a_zero_gradient(backend):
    X = np.ones((30, 3))
    Y = np.random.default_rng(0).normal(size=(20, 3))
    value, grad_x, grad_y = pa.ppm_reg_value_and_grad(X, Y, backend=backend, **OPTIONS)
    assert np.isfinite(value) and np.all(np.isfinite(grad_y))
    np.testing.assert_array_equal(grad_x, 0.0)


def test_duplicated_points_give_finite_gradients(backend):
    X, Y = clouds()
    X = np.concatenate([X, X[:20], X[:5]])
    value, grad_x, grad_y = pa.ppm_reg_value_and_grad(X, Y, backend=backend, **OPTIONS)
    assert np.isfinite(value) and np.all(np.isfinite(grad_x)) and np.all(np.isfinite(grad_y))


@pytest.mark.parametrize("dtype, scales", [
    (np.float64, [1e-100, 1e-30, 1e-5, 1e5, 1e30, 1e100]),
    (np.float32, [1e-8, 1e-4, 1e4, 1e8]),
])
def test_value_and_gradient_are_homogeneous_across_scales(backend, dtype, scales):
    """PPM-Reg of (cX, cY) with bandwidth c h is c^2 times that of (X, Y) with h, and the
    gradients c times: checked far from 1 without overflow, underflow or NaN."""
    X, Y = (a.astype(dtype) for a in clouds(1))
    options = dict(OPTIONS, dims=(0, 1), weights=(1.0, 10.0))
    value, grad_x, grad_y = pa.ppm_reg_value_and_grad(X, Y, backend=backend, **options)
    rtol = 1e-10 if dtype == np.float64 else 2e-3
    for c in scales:
        scaled = dict(options, bandwidth=options["bandwidth"] * c)
        v_c, gx_c, gy_c = pa.ppm_reg_value_and_grad(X * dtype(c), Y * dtype(c), backend=backend, **scaled)
        assert v_c.dtype == dtype
        assert float(v_c) == pytest.approx(float(value) * c**2, rel=rtol)
        np.testing.assert_allclose(gx_c / dtype(c), grad_x, rtol=rtol, atol=rtol * np.abs(grad_x).max())
        np.testing.assert_allclose(gy_c / dtype(c), grad_y, rtol=rtol, atol=rtol * np.abs(grad_y).max())


def low_precision(name: str):
    """float16, or bfloat16 from ml_dtypes (a NumPy dtype that NumPy itself cannot classify)."""
    return np.float16 if name == "float16" else pytest.importorskip("ml_dtypes").bfloat16


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_low_precision_numpy_is_computed_in_float32_and_returned_in_its_dtype(backend, name):
    dtype = low_precision(name)
    X, Y = clouds(2)
    X16, Y16 = X.astype(dtype), Y.astype(dtype)
    value, grad_x, grad_y = pa.ppm_reg_value_and_grad(X16, Y16, backend=backend, **OPTIONS)
    assert value.dtype == grad_x.dtype == grad_y.dtype == dtype
    expected = pa.ppm_reg_value_and_grad(X16.astype(np.float32), Y16.astype(np.float32), backend=backend, **OPTIONS)
    rounding = float(np.finfo(dtype).eps)  # of the results' cast back to the low precision
    assert float(value) == pytest.approx(float(expected[0]), rel=rounding)
    np.testing.assert_allclose(grad_x.astype(np.float32), expected[1], rtol=rounding,
                               atol=rounding * np.abs(expected[1]).max())
    sample = pa.principal_persistence(X16, 1, n_subsamples=50, rng=0, backend=backend)
    expected_sample = pa.principal_persistence(X16.astype(np.float32), 1, n_subsamples=50, rng=0, backend=backend)
    assert sample.lifetime.dtype == dtype
    np.testing.assert_array_equal(sample.lifetime, expected_sample.lifetime.astype(dtype))
    upstream = np.ones(50, dtype=dtype)
    grad = pa.persistence_vjp(X16, sample, upstream, upstream, backend=backend)
    assert grad.dtype == dtype and np.all(np.isfinite(grad.astype(np.float32)))


def test_other_ml_dtypes_are_refused_naming_the_argument(backend):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    X, Y = clouds(2)
    with pytest.raises(TypeError, match=r"X must have a real floating dtype .*; got float8_e4m3fn"):
        pa.ppm_reg(X.astype(ml_dtypes.float8_e4m3fn), Y.astype(ml_dtypes.float8_e4m3fn), backend=backend, **OPTIONS)
    with pytest.raises(TypeError, match="indices must have an integer dtype; got int4"):
        pa.principal_persistence(X, 0, indices=np.zeros((2, 2), dtype=ml_dtypes.int4), backend=backend)


def test_bfloat16_torch_tensors_on_the_array_api_backend():
    torch = pytest.importorskip("torch")
    X, Y = (torch.tensor(a, dtype=torch.bfloat16) for a in clouds(3))
    value, grad_x, _ = pa.ppm_reg_value_and_grad(X, Y, **OPTIONS)
    assert value.dtype == grad_x.dtype == torch.bfloat16
    assert torch.isfinite(grad_x.float()).all()


@pytest.mark.parametrize("layout", ["fortran", "strided", "readonly"])
def test_memory_layouts_give_the_same_result(backend, layout):
    X, Y = clouds(4)
    expected = pa.ppm_reg_value_and_grad(X, Y, backend=backend, **OPTIONS)
    if layout == "fortran":
        X2, Y2 = np.asfortranarray(X), np.asfortranarray(Y)
    elif layout == "strided":
        X2, Y2 = np.repeat(X, 2, axis=1)[:, ::2], np.repeat(Y, 2, axis=1)[:, ::2]
    else:
        X2, Y2 = X.copy(), Y.copy()
        X2.flags.writeable = Y2.flags.writeable = False
    got = pa.ppm_reg_value_and_grad(X2, Y2, backend=backend, **OPTIONS)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_inputs_are_never_mutated(backend):
    X, Y = clouds(5)
    X_copy, Y_copy = X.copy(), Y.copy()
    value, grad_x, grad_y = pa.ppm_reg_value_and_grad(X, Y, backend=backend, **OPTIONS)
    sample = pa.principal_persistence(X, 1, n_subsamples=50, rng=0, backend=backend)
    upstream = np.ones(50)
    upstream_copy = upstream.copy()
    pa.persistence_vjp(X, sample, upstream, upstream, backend=backend)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(Y, Y_copy)
    np.testing.assert_array_equal(upstream, upstream_copy)


def test_fewer_points_than_a_subsample_with_replacement(backend):
    """Three points cannot carry H1 (four points) or H2: every subsample is trivial."""
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    Y = np.random.default_rng(0).normal(size=(40, 2))
    value, grad_x, grad_y = pa.ppm_reg_value_and_grad(X, Y, backend=backend, **OPTIONS)
    assert np.isfinite(value) and np.all(np.isfinite(grad_x)) and np.all(np.isfinite(grad_y))
    assert np.all(pa.principal_persistence(X, 1, n_subsamples=100, rng=0, backend=backend).lifetime == 0)


@pytest.mark.parametrize("scale", [1e9, 1e12])
@pytest.mark.parametrize("weight_power", [1.0, 2.0])
@pytest.mark.parametrize("bandwidth", [0.3, 1.0])
def test_float32_at_large_scales_is_finite_on_every_backend_or_refused_alike(scale, weight_power, bandwidth):
    """Bandwidth in units of the data (``bandwidth * scale``) or fixed: every backend gives finite results,
    or every backend refuses with the same error (when the value itself exceeds float32)."""
    X, Y = (scale * a for a in clouds(7))
    options = dict(OPTIONS, rng=2, bandwidth=bandwidth * scale, weight_power=weight_power)
    outcomes = {}
    for backend in ("array_api", "numba"):
        try:
            results = pa.ppm_reg_value_and_grad(X.astype(np.float32), Y.astype(np.float32), backend=backend, **options)
        except ValueError as error:
            outcomes[backend] = str(error)
            continue
        assert all(np.all(np.isfinite(r)) for r in results)
        expected = pa.ppm_reg_value_and_grad(X, Y, backend=backend, **options)
        assert float(results[0]) == pytest.approx(float(expected[0]), rel=1e-3)
        outcomes[backend] = "finite"
    assert outcomes["array_api"] == outcomes["numba"]
    value_bound = 2 * sum(OPTIONS["weights"]) * (2 * np.abs(np.concatenate([X, Y])).max()) ** (2 * weight_power)
    if value_bound < np.finfo(np.float32).max / 100:
        assert outcomes["numba"] == "finite"
    elif outcomes["numba"] != "finite":
        assert "too large for results in float32" in outcomes["numba"]


def test_float32_fixed_bandwidth_far_below_the_data_scale():
    """A bandwidth 1e-9 of the data's scale: the kernel is a delta; finite, and the same on both backends."""
    X, Y = (1e9 * a for a in clouds(8))
    options = dict(OPTIONS, bandwidth=0.3, weight_power=2.0)
    results = [pa.ppm_reg_value_and_grad(X.astype(np.float32), Y.astype(np.float32), backend=backend, **options)
               for backend in ("array_api", "numba")]
    for got, want in zip(*results):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())

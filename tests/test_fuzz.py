"""Property-based fuzzing of every public entry point on every backend.

Each example draws a possibly invalid call: shapes (including 1-D, 3-D and empty),
dtypes (float64/32/16, integer, bool, complex), coordinate scales from the dtype's
smallest normal number to the top of the documented range, duplicated points,
NaN/inf, and valid or invalid options, extreme ones included. The
call must either succeed with finite results of the right shape and dtype, or
raise ``ValueError``/``TypeError`` naming an argument. Nothing else.

CI runs the "ci" Hypothesis profile; ``HYPOTHESIS_PROFILE=fuzz`` runs 2,000
examples per test (recorded in docs/errors.md).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ppm_array as pa

# Every documented error names one of these.
ARGUMENTS = ("X", "Y", "q", "n_points", "n_subsamples", "indices", "bandwidth", "dims", "weights", "weight_power",
             "estimator", "backend", "rng", "replace", "squared", "P", "Q", "sample", "grad_birth", "grad_lifetime")
# Largest |coordinate| per dtype for which results are finite (docs/errors.md).
MAX_SCALE = {np.float64: 1e100, np.float32: 1e12, np.float16: 1e1}


@st.composite
def clouds(draw, allow_invalid=True, dtype=None):
    if dtype is None:
        dtype = draw(st.sampled_from([np.float64, np.float32, np.float16]
                                     + ([np.int64, np.bool_, np.complex128] if allow_invalid else [])))
    ndim = draw(st.sampled_from([2, 2, 2, 2, 1, 3])) if allow_invalid else 2
    n_points = draw(st.integers(0 if allow_invalid else 1, 12))
    d = draw(st.integers(0 if allow_invalid else 1, 4))
    shape = {1: (n_points,), 2: (n_points, d), 3: (n_points, d, 2)}[ndim]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    top = math.log10(MAX_SCALE.get(dtype, 1e3))
    bottom = math.log10(float(np.finfo(dtype).smallest_normal)) + 1 if dtype in MAX_SCALE else -3
    values = rng.normal(size=shape) * 10.0 ** draw(st.one_of(st.floats(-top, top), st.floats(bottom, top)))
    if values.size and draw(st.booleans()):  # duplicated points
        values[:1] = values[-1:]
    if values.size and allow_invalid and dtype in MAX_SCALE and draw(st.integers(0, 9)) == 0:
        values.flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return values.astype(dtype)


def options(draw, with_dims=True):
    chosen = {
        "bandwidth": draw(st.one_of(st.floats(1e-3, 1e3), st.sampled_from([1e-300, 1e300, 5e-324]),
                                    st.sampled_from([0.0, -1.0, math.nan, math.inf, "0.2"]))),
        "weight_power": draw(st.sampled_from([1.0, 1.0, 2.0, 16.0, 0.5, 16.5, 1e9, math.nan, math.inf])),
        "estimator": draw(st.sampled_from(["v", "v", "u", "w"])),
        "squared": draw(st.sampled_from([True, False, "yes"])),
    }
    if with_dims:
        dims = draw(st.one_of(st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True).map(tuple),
                              st.sampled_from([(), (1, 1), 1, (-1,)])))
        chosen["dims"] = dims
        if draw(st.booleans()) and isinstance(dims, tuple):
            chosen["weights"] = tuple(draw(st.lists(st.floats(0, 100), min_size=len(dims), max_size=len(dims) + 1)))
        chosen["n_subsamples"] = draw(st.sampled_from([1, 2, 7, 30, 0, -2, 10**12, 2.5]))
        chosen["rng"] = draw(st.sampled_from([0, 1, None, -1, "seed", np.random.default_rng(0)]))
        chosen["replace"] = draw(st.sampled_from([True, True, False]))
    return chosen


def check_outcome(call, *expected_shapes):
    """Run ``call``: finite results of the expected shapes, or a documented, named error."""
    try:
        results = call()
    except (ValueError, TypeError) as error:
        named = any(re.search(rf"(?<![\w'])({name})(?![\w'])", str(error)) for name in ARGUMENTS)
        assert named, f"error names no argument: {error!r}"
        return None
    arrays = results if isinstance(results, tuple) else (results,)
    for array, shape in zip(arrays, expected_shapes):
        array = np.asarray(array.detach().double() if hasattr(array, "detach") else array)
        assert array.shape == shape
        assert np.all(np.isfinite(array.astype(np.float64))), f"non-finite result for {shape}"
    return results


@given(data=st.data())
def test_fuzz_ppm_reg_value_and_grad(backend, data):
    X, Y = data.draw(clouds()), data.draw(clouds())
    kwargs = options(data.draw, with_dims=True)
    value_shape = X.shape[:1] if X.ndim == 3 else ()  # a 3-D X is a batch of clouds: one value each
    result = check_outcome(lambda: pa.ppm_reg_value_and_grad(X, Y, backend=backend, **kwargs), value_shape, X.shape,
                           Y.shape)
    if result is not None:
        assert result[1].dtype == X.dtype and result[2].dtype == Y.dtype
        if isinstance(kwargs["rng"], int):  # None and a shared Generator draw new subsamples
            np.testing.assert_array_equal(pa.ppm_reg(X, Y, backend=backend, **kwargs), result[0])


@given(data=st.data())
def test_fuzz_principal_persistence_and_vjp(backend, data):
    X = data.draw(clouds())
    q = data.draw(st.sampled_from([0, 1, 2, 2, -1, 1.5]))
    s = data.draw(st.sampled_from([1, 5, 40, 0]))
    replace = data.draw(st.sampled_from([True, False]))
    sample = check_outcome(lambda: pa.principal_persistence(X, q, n_subsamples=s, rng=0, replace=replace, backend=backend),
                           (s,), (s,))
    if sample is None:
        return
    assert np.all(sample.lifetime >= 0)
    # Gradients are returned in X's dtype: keep upstream gradients within its range.
    largest = 1e30 if X.dtype != np.float16 else 1.0
    upstream = np.random.default_rng(0).normal(size=(2, s)) * data.draw(st.sampled_from([1.0, 1e-30, largest]))
    check_outcome(lambda: pa.persistence_vjp(X, sample, *upstream, backend=backend), X.shape)


@given(data=st.data())
def test_fuzz_persistence_with_indices(backend, data):
    X = data.draw(clouds(allow_invalid=False))
    q = data.draw(st.integers(0, 2))
    width = data.draw(st.sampled_from([2 * q + 2, 2 * q + 2, 3]))
    low, high = data.draw(st.sampled_from([(0, X.shape[0]), (0, X.shape[0]), (-2, 2), (0, X.shape[0] + 3)]))
    dtype = data.draw(st.sampled_from([np.int64, np.int32, np.float64]))
    indices = np.random.default_rng(1).integers(low, max(high, low + 1), size=(5, width)).astype(dtype)
    check_outcome(lambda: pa.principal_persistence(X, q, indices=indices, backend=backend), (5,), (5,))


@given(data=st.data())
def test_fuzz_exact_principal_persistence(backend, data):
    X = data.draw(clouds())
    q = data.draw(st.sampled_from([0, 1, 2]))
    sample = check_outcome(lambda: pa.exact_principal_persistence(X, q, replace=data.draw(st.booleans()), backend=backend))
    if sample is not None:
        assert math.isclose(float(np.sum(sample.mass.astype(np.float64))), 1.0, rel_tol=1e-3)


@st.composite
def persistence_samples(draw):
    s = draw(st.integers(1, 30))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.floats(-3, 3))
    lifetime = np.where(rng.random(s) < 0.3, 0.0, rng.uniform(0, 1, s)) * scale
    edges = np.zeros((s, 2), dtype=np.int64)
    return pa.PersistenceSample((rng.uniform(0, 2, s) * scale).astype(dtype), lifetime.astype(dtype), edges, edges,
                                np.full(s, 1 / s, dtype=dtype), 1, 1)


@given(P=persistence_samples(), Q=persistence_samples(), data=st.data())
def test_fuzz_mmd_value_and_grad(backend, P, Q, data):
    kwargs = options(data.draw, with_dims=False)
    result = check_outcome(lambda: pa.mmd_value_and_grad(P, Q, backend=backend, **kwargs))
    if result is not None:
        for gradient, sample in zip(result[1] + result[2], (P, P, Q, Q)):
            assert gradient.shape == sample.birth.shape and np.all(np.isfinite(gradient))
        assert float(pa.mmd(P, Q, backend=backend, **kwargs)) == pytest.approx(float(result[0]), rel=1e-5, abs=1e-30)


@given(data=st.data())
def test_fuzz_subsample_indices(data):
    n_points = data.draw(st.one_of(st.integers(-2, 60), st.sampled_from([2.0, "10", None])))
    q = data.draw(st.one_of(st.integers(-1, 4), st.sampled_from([1.0, True])))
    s = data.draw(st.one_of(st.integers(-1, 200), st.sampled_from([10**12, 3.0])))
    replace = data.draw(st.booleans())
    seed = data.draw(st.integers(0, 2**63))
    indices = check_outcome(lambda: pa.subsample_indices(n_points, q, s, rng=seed, replace=replace),
                            (s, 2 * q + 2) if isinstance(q, int) else None)
    if indices is not None:
        assert indices.min() >= 0 and indices.max() < n_points


@given(data=st.data())
def test_fuzz_torch_adapter(data):
    torch = pytest.importorskip("torch")
    import ppm_array.torch as pat

    dtype = data.draw(st.sampled_from([torch.float64, torch.float32, torch.bfloat16]))
    range_dtype = np.float64 if dtype == torch.float64 else np.float32
    X, Y = (data.draw(clouds(allow_invalid=False, dtype=range_dtype)) for _ in range(2))
    Xt = torch.tensor(X.astype(np.float64), dtype=dtype, requires_grad=True)
    Yt = torch.tensor(Y.astype(np.float64), dtype=dtype)
    loss = check_outcome(lambda: pat.ppm_reg(Xt, Yt, bandwidth=0.3, n_subsamples=20, rng=0), ())
    if loss is not None:
        loss.backward()
        assert Xt.grad.dtype == dtype and torch.isfinite(Xt.grad.double()).all()


@given(data=st.data())
def test_fuzz_jax_adapter(data):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import ppm_array.jax as paj

    X, Y = data.draw(clouds()), data.draw(clouds())
    if not jax.config.jax_enable_x64:  # what a JAX user holds: float64 becomes float32 (inf beyond its range)
        with np.errstate(over="ignore"):
            X, Y = (a.astype(np.float32) if a.dtype == np.float64 else a for a in (X, Y))
    kwargs = options(data.draw, with_dims=True)
    kwargs.pop("rng")
    native = X.ndim == 2 and X.dtype == Y.dtype and X.dtype in (np.float32, np.float64)
    if native and not all(np.all(np.isfinite(a)) for a in (X, Y)):
        # The JAX-native path refuses them where their values are known (an eager call, as here), else NaN.
        try:
            value = paj.ppm_reg(X, Y, jax.random.key(0), **kwargs)
        except (ValueError, TypeError):
            check_outcome(lambda: paj.ppm_reg(X, Y, jax.random.key(0), **kwargs))  # the error names an argument
            return
        assert np.isnan(float(value))
        return
    try:
        value = check_outcome(lambda: paj.ppm_reg(X, Y, jax.random.key(0), **kwargs), X.shape[:1] if X.ndim == 3 else ())
    except jax.errors.JaxRuntimeError as error:  # values are only seen in the host callback
        assert "contains NaN or infinite values" in str(error) or "too large for results in" in str(error)
        return
    if value is not None:  # valid input: the gradient too (jax.grad itself refuses integer inputs)
        grad = check_outcome(lambda: jax.grad(lambda x: paj.ppm_reg(x, Y, jax.random.key(0), **kwargs).sum())(X),
                             X.shape)
        assert grad.dtype == jnp.asarray(X).dtype

"""The JAX-native path of ``ppm_array.jax`` (the default for float32 and float64): against the core on the same
subsamples, against its own finite differences, in distribution against the NumPy path, and under jit, grad and vmap.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")

import jax.numpy as jnp  # noqa: E402

import ppm_array as pa  # noqa: E402
import ppm_array.jax as paj  # noqa: E402
from ppm_array._adapters import jax_native as _jax_native  # noqa: E402
from ppm_array._regularizer.assembly import regularizer  # noqa: E402
from ppm_array._regularizer.draws import DeviceDraw  # noqa: E402
from ppm_array._backends import array_api, jax_native  # noqa: E402
from ppm_array._backends.contract import KernelPoints  # noqa: E402
from ppm_array._boundary.namespace import array_namespace  # noqa: E402
from ppm_array._boundary.options import RegularizerOptions  # noqa: E402
from ppm_array._boundary.validation import Points  # noqa: E402
from builders import blob_and_circle  # noqa: E402

OPTIONS = dict(bandwidth=0.3, dims=(0, 1), weights=(1.0, 20.0), n_subsamples=300)


@pytest.fixture(autouse=True)
def x64():
    """float64 for these tests, and the setting the session had afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def clouds(seed=0, dtype=jnp.float64):
    return tuple(jnp.asarray(a, dtype=dtype) for a in blob_and_circle(40, 35, seed))


def core_on(X, Y, indices, options):
    """The core's PPM-Reg (Array-API backend, NumPy) on the subsamples ``indices``."""
    X, Y = np.asarray(X), np.asarray(Y)
    xp = array_namespace(X)
    cloud_x, cloud_y = (Points(A, xp, None, A.dtype) for A in (X, Y))
    draws = tuple((DeviceDraw(np.asarray(ix), None, 1 / s), DeviceDraw(np.asarray(iy), None, 1 / s))
                  for (ix, iy), s in zip(indices, options.n_subsamples))
    return regularizer(array_api, cloud_x, cloud_y, options, draws, with_grad=True)


@pytest.mark.parametrize("changes", [
    {}, dict(estimator="u"), dict(squared=False), dict(weight_power=2.5), dict(bandwidth="median"),
    dict(bandwidth="median", estimator="u"), dict(replace=False, dims=(0, 1, 2), weights=(1.0, 5.0, 50.0)),
])
def test_equals_the_core_on_the_same_subsamples(changes):
    X, Y = clouds(1)
    options = RegularizerOptions.check(**{**OPTIONS, **changes})
    indices = _jax_native.draw(jax.random.key(7), X.shape[0], Y.shape[0], options)
    value, (grad_x, grad_y) = jax.jit(jax.value_and_grad(
        lambda x, y: _jax_native.regularizer_on_indices(x, y, indices, options)[0], argnums=(0, 1)))(X, Y)
    terms, bandwidths = jax.jit(lambda x, y: _jax_native.regularizer_on_indices(x, y, indices, options)[1:])(X, Y)
    expected = core_on(X, Y, indices, options)
    assert abs(float(expected.value)) > 1e-3  # a value that can tell the two apart
    np.testing.assert_allclose(float(value), float(expected.value), rtol=1e-10)
    for got, want in ((grad_x, expected.grad_x.grad), (grad_y, expected.grad_y.grad)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-10 * np.abs(want).max())
    np.testing.assert_allclose(np.asarray(terms), expected.terms, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(bandwidths), expected.bandwidths, rtol=1e-12)


@pytest.mark.parametrize("same_set", [True, False])
def test_tiled_moments_equal_the_dense_reference(same_set):
    """Several tiles with padding, points without a feature among them, negative weights (the signed union)."""
    rng = np.random.default_rng(3)
    n = 77

    def points(seed_shift):
        lifetime = rng.uniform(0, 1, n) * (rng.uniform(size=n) > 0.3)
        v = rng.normal(size=n) * lifetime
        return KernelPoints(rng.uniform(0, 1, n), lifetime, v)

    A = points(0)
    B = A if same_set else points(1)
    inv_two_h2 = np.float64(3.0)
    got = jax_native.pair_moments(*(KernelPoints(*map(jnp.asarray, P)) for P in (A, B)), same_set=same_set,
                                  inv_two_h2=jnp.asarray(inv_two_h2), xp=jnp, tile=16)
    want = array_api.pair_moments(A, B, same_set=same_set, inv_two_h2=inv_two_h2, xp=array_namespace(A.birth))
    for got_set, want_set, P in zip(got, want, (A, B)):
        alive = P.lifetime > 0  # the contract leaves a point without a feature its moments or 0
        for g, w in zip(got_set, want_set):
            np.testing.assert_allclose(np.asarray(g)[alive], w[alive], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("changes", [{}, dict(estimator="u", squared=False, weight_power=2.0)])
def test_gradient_equals_finite_differences_of_the_value(changes):
    """Central differences of the JAX value itself (one key: the same subsamples), float64."""
    X, Y = clouds(2)
    key = jax.random.key(11)
    options = {**OPTIONS, **changes}
    value = jax.jit(lambda x, y: paj.ppm_reg(x, y, key, **options))
    grad_x, grad_y = jax.jit(jax.grad(lambda x, y: paj.ppm_reg(x, y, key, **options), argnums=(0, 1)))(X, Y)
    step = 1e-6
    for name, cloud, grad in (("X", X, grad_x), ("Y", Y, grad_y)):
        scale = float(jnp.max(jnp.abs(grad)))
        assert scale > 0
        for row, column in [(0, 0), (3, 1), (17, 0), (33, 1)]:
            shift = jnp.zeros_like(cloud).at[row, column].set(step)
            args = ((X + shift, Y), (X - shift, Y)) if name == "X" else ((X, Y + shift), (X, Y - shift))
            difference = (float(value(*args[0])) - float(value(*args[1]))) / (2 * step)
            assert difference == pytest.approx(float(grad[row, column]), rel=0, abs=1e-6 * scale), (name, row, column)


@pytest.mark.parametrize("replace", [True, False])
def test_agrees_in_distribution_with_the_numpy_path(replace):
    """Mean PPM-Reg over 40 keys against the NumPy path's mean over 40 seeds: within three standard errors."""
    X, Y = clouds(4)
    options = dict(OPTIONS, n_subsamples=100, replace=replace)
    call = jax.jit(lambda k: paj.ppm_reg(X, Y, k, **options))
    native = np.array([float(call(key)) for key in jax.random.split(jax.random.key(0), 40)])
    host = np.array([float(pa.ppm_reg(np.asarray(X), np.asarray(Y), rng=seed, **options)) for seed in range(40)])
    standard_error = np.hypot(native.std(ddof=1), host.std(ddof=1)) / np.sqrt(40)
    assert abs(native.mean() - host.mean()) < 3 * standard_error
    assert standard_error < 0.2 * host.mean()  # tight enough to tell a wrong distribution


def test_subsamples_follow_the_documented_mapping_from_the_key():
    options = RegularizerOptions.check(**dict(OPTIONS, dims=(0, 2), n_subsamples=(50, 60)))
    key = jax.random.key(5)
    indices = _jax_native.draw(key, 40, 35, options)
    keys = jax.random.split(key, 4)
    np.testing.assert_array_equal(indices[0][0], jax.random.randint(keys[0], (50, 2), 0, 40))
    np.testing.assert_array_equal(indices[1][1], jax.random.randint(keys[3], (60, 6), 0, 35))


def test_without_replacement_rows_are_distinct_points():
    options = RegularizerOptions.check(**dict(OPTIONS, dims=(2,), weights=(1.0,), replace=False, n_subsamples=2000))
    (rows, _), = _jax_native.draw(jax.random.key(1), 7, 9, options)
    rows = np.asarray(rows)
    assert rows.min() >= 0 and rows.max() < 7
    assert all(len(set(row)) == 6 for row in rows)
    # Every 6-subset of 7 points (7 of them) is drawn about equally often.
    counts = np.unique(np.sort(rows, axis=1), axis=0, return_counts=True)[1]
    assert len(counts) == 7 and counts.min() > 2000 / 7 * 0.7


def test_jit_of_grad_holds_no_callback():
    X, Y = clouds()
    for options in (OPTIONS, dict(OPTIONS, bandwidth="median", estimator="u")):
        native = str(jax.make_jaxpr(jax.jit(jax.grad(lambda x, y, k: paj.ppm_reg(x, y, k, **options))))(
            X, Y, jax.random.key(0)))
        assert "callback" not in native
    host = str(jax.make_jaxpr(jax.jit(jax.grad(lambda x, y, k: paj.ppm_reg(x, y, k, **OPTIONS, backend="numba"))))(
        X, Y, jax.random.key(0)))
    assert "pure_callback" in host


def test_vmap_equals_a_loop():
    rng = np.random.default_rng(8)
    X, Y = jnp.asarray(0.3 * rng.normal(size=(3, 30, 2))), jnp.asarray(rng.normal(size=(3, 25, 2)))
    key = jax.random.key(2)
    value_and_grad = jax.jit(jax.value_and_grad(lambda x, y: paj.ppm_reg(x, y, key, **OPTIONS), argnums=(0, 1)))
    values, (grads_x, grads_y) = jax.jit(jax.vmap(value_and_grad))(X, Y)
    for b in range(3):
        value, (grad_x, grad_y) = value_and_grad(X[b], Y[b])
        assert float(values[b]) == pytest.approx(float(value), rel=1e-12)
        np.testing.assert_allclose(np.asarray(grads_x[b]), np.asarray(grad_x), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(np.asarray(grads_y[b]), np.asarray(grad_y), rtol=1e-10, atol=1e-14)


def test_jit_with_static_options_equals_the_eager_call():
    X, Y = clouds(3)
    jitted = jax.jit(paj.ppm_reg, static_argnames=("bandwidth", "dims", "weights", "n_subsamples"))
    key = jax.random.key(4)
    assert float(jitted(X, Y, key, **OPTIONS)) == pytest.approx(float(paj.ppm_reg(X, Y, key, **OPTIONS)), rel=1e-12)


def test_float32_is_computed_in_float32_and_agrees_with_float64():
    X, Y = clouds(5)
    key = jax.random.key(6)
    value, grad = jax.value_and_grad(paj.ppm_reg)(X.astype(jnp.float32), Y.astype(jnp.float32), key, **OPTIONS)
    value64, grad64 = jax.value_and_grad(paj.ppm_reg)(X, Y, key, **OPTIONS)
    assert value.dtype == jnp.float32 and grad.dtype == jnp.float32
    assert float(value) == pytest.approx(float(value64), rel=1e-4)
    np.testing.assert_allclose(np.asarray(grad), np.asarray(grad64), rtol=0, atol=1e-4 * float(jnp.abs(grad64).max()))


def test_non_finite_input_is_refused_where_its_values_are_known():
    X, Y = clouds()
    for name, bad in (("X", (X.at[0, 0].set(jnp.nan), Y)), ("Y", (X, Y.at[3, 1].set(jnp.inf)))):
        with pytest.raises(ValueError, match=f"{name} contains NaN or infinite values"):
            paj.ppm_reg(*bad, jax.random.key(0), **OPTIONS)
        with pytest.raises(ValueError, match=f"{name} contains NaN or infinite values"):
            jax.grad(lambda x, y: paj.ppm_reg(x, y, jax.random.key(0), **OPTIONS))(*bad)


def test_non_finite_input_gives_nan_under_jit():
    X, Y = clouds()
    X = X.at[0, 0].set(jnp.nan)
    value, grad = jax.jit(jax.value_and_grad(lambda x, y, k: paj.ppm_reg(x, y, k, **OPTIONS)))(
        X, Y, jax.random.key(0))
    assert np.isnan(float(value)) and bool(jnp.all(jnp.isnan(grad)))


FOURIER = dict(OPTIONS, n_subsamples=2500)


def _value_and_grads(X, Y, key, **options):
    call = jax.jit(jax.value_and_grad(lambda x, y: paj.ppm_reg(x, y, key, **options), argnums=(0, 1)))
    value, (grad_x, grad_y) = call(X, Y)
    return float(value), np.asarray(grad_x), np.asarray(grad_y)


@pytest.mark.parametrize("changes", [{}, dict(bandwidth="median", estimator="u"), dict(weight_power=2.0, squared=False),
                                     dict(dims=(0, 1, 2), weights=(1.0, 5.0, 50.0), n_subsamples=1000)])
def test_fourier_method_equals_the_direct_sums(changes):
    """jax-finufft on the fixed grid against the tiled direct sums, same subsamples. The documented bound is
    tol times the squared total weight; with the default tol (1e-10) both sides agree to 1e-9 relative of
    their size (measured: about 4e-12), and they differ (the transforms ran)."""
    X, Y = clouds(6)
    key = jax.random.key(9)
    direct = _value_and_grads(X, Y, key, **{**FOURIER, **changes}, method="direct")
    fourier = _value_and_grads(X, Y, key, **{**FOURIER, **changes}, method="fft")
    assert fourier[0] == pytest.approx(direct[0], rel=1e-9) and fourier[0] != direct[0]
    for got, want in zip(fourier[1:], direct[1:]):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9 * np.abs(want).max())


def test_fourier_method_falls_back_to_the_direct_sums_where_its_grid_is_too_coarse():
    """Points spread over thousands of bandwidths need more than FOURIER_MODES modes: the direct sums run
    (bitwise their result), also under vmap, where each item decides for itself."""
    X, Y = clouds(6)
    key = jax.random.key(9)
    narrow = dict(FOURIER, bandwidth=0.001)
    for got, want in zip(_value_and_grads(X, Y, key, **narrow, method="fft"),
                         _value_and_grads(X, Y, key, **narrow, method="direct")):
        np.testing.assert_array_equal(got, want)
    both = jnp.stack([X, 1e-3 * X]), jnp.stack([Y, 1e-3 * Y])  # item 0 too wide for the grid, item 1 not
    batched = jax.jit(jax.vmap(lambda x, y: paj.ppm_reg(x, y, key, **narrow, method="fft")))(*both)
    assert float(batched[0]) == pytest.approx(float(paj.ppm_reg(X, Y, key, **narrow, method="direct")), rel=1e-14)
    # Item 1 took the transforms: within rounding of the unbatched Fourier call, farther from the direct sums.
    by_fourier, by_direct = (float(paj.ppm_reg(1e-3 * X, 1e-3 * Y, key, **narrow, method=m)) for m in ("fft", "direct"))
    assert abs(float(batched[1]) - by_fourier) <= 1e-14 * by_fourier < abs(float(batched[1]) - by_direct)


def test_fourier_gradient_equals_finite_differences_of_its_value():
    X, Y = clouds(2)
    key = jax.random.key(11)
    options = dict(FOURIER, method="fft", tol=1e-12)
    value = jax.jit(lambda x, y: paj.ppm_reg(x, y, key, **options))
    grad_x = jax.jit(jax.grad(lambda x, y: paj.ppm_reg(x, y, key, **options)))(X, Y)
    step, scale = 1e-5, float(jnp.max(jnp.abs(grad_x)))
    for row, column in [(0, 0), (3, 1), (17, 0), (33, 1)]:
        shift = jnp.zeros_like(X).at[row, column].set(step)
        difference = (float(value(X + shift, Y)) - float(value(X - shift, Y))) / (2 * step)
        assert difference == pytest.approx(float(grad_x[row, column]), rel=0, abs=1e-6 * scale), (row, column)


def test_auto_takes_the_fourier_method_from_the_crossover():
    """On the shapes first (300 subsamples a cloud: the direct sums), then on the points with a weight, inside
    the computation: q = 0 at 2500 a cloud takes the transforms; q = 1 at 2500, where few subsamples of these
    clouds hold a feature, the direct sums."""
    X, Y = clouds(7)
    key = jax.random.key(1)
    for dims, n_subsamples, same_as in (((0,), 2500, "fft"), ((0,), 300, "direct"), ((1,), 2500, "direct")):
        options = dict(OPTIONS, dims=dims, weights=(1.0,), n_subsamples=n_subsamples)
        auto = float(paj.ppm_reg(X, Y, key, **options, method="auto"))
        assert auto == float(paj.ppm_reg(X, Y, key, **options, method=same_as)), (dims, n_subsamples)
        assert auto != float(paj.ppm_reg(X, Y, key, **options, method={"fft": "direct", "direct": "fft"}[same_as]))
    (index_x, index_y), = _jax_native.draw(key, X.shape[0], Y.shape[0], RegularizerOptions.check(
        **dict(OPTIONS, dims=(1,), weights=(1.0,), n_subsamples=2500)))
    alive = sum(int(jnp.sum(pa.principal_persistence(np.asarray(A), 1, indices=np.asarray(rows)).lifetime > 0))
                for A, rows in ((X, index_x), (Y, index_y)))
    assert 0 < alive < 1000  # the q = 1 case above is decided by the points with a weight, not by the shapes


def test_fourier_method_under_jit_and_grad_holds_no_callback():
    X, Y = clouds()
    jaxpr = str(jax.make_jaxpr(jax.jit(jax.grad(lambda x, y, k: paj.ppm_reg(x, y, k, **FOURIER, method="fft"))))(
        X, Y, jax.random.key(0)))
    assert "nufft" in jaxpr and "callback" not in jaxpr


def test_fourier_method_without_float64_is_refused_with_the_way_out():
    jax.config.update("jax_enable_x64", False)  # the fixture restores it
    X, Y = clouds(dtype=jnp.float32)
    with pytest.raises(ValueError, match=r"method='fft' on the JAX-native path.*jax_enable_x64.*backend='numba'"):
        paj.ppm_reg(X, Y, jax.random.key(0), **OPTIONS, method="fft")
    assert np.isfinite(float(paj.ppm_reg(X, Y, jax.random.key(0), **FOURIER, method="auto")))


def test_scatter_of_a_wider_upstream_is_in_the_clouds_dtype():
    """As the CPU backends (tests/test_numba_cpu.py): float64 upstream gradients on a float32 cloud give a
    float32 gradient (no promotion inside ``.at[].add``), equal to the float64 scatter to float32's precision."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2)).astype(np.float32)
    edges = rng.integers(0, 20, size=(50, 2))
    upstream = rng.normal(size=50)
    grad = jax_native.scatter_edges(jnp.asarray(X), jnp.asarray(edges), jnp.asarray(upstream), xp=jnp)
    assert grad.dtype == jnp.float32
    expected = array_api.scatter_edges(X.astype(np.float64), edges, upstream, xp=np)
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())

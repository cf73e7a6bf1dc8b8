"""JAX adapter against the core (x64 enabled): the host path (``backend="numba"``, through ``jax.pure_callback``),
whose key seeds the core's NumPy generator, equals the core exactly. The JAX-native default path is tested in
``test_jax_native.py``."""

from __future__ import annotations

import re

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import ppm_array as pa  # noqa: E402
import ppm_array.jax as paj  # noqa: E402
from builders import blob_and_circle  # noqa: E402

OPTIONS = dict(bandwidth=0.3, dims=(0, 1), weights=(1.0, 20.0), n_subsamples=300)
# The host path, which draws the subsamples the core draws from the key.
HOST = dict(OPTIONS, backend="numba")


def clouds(seed=0):
    return blob_and_circle(40, 35, seed)


def core(X, Y, key, **changes):
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key), dtype=np.uint32).ravel())
    return pa.ppm_reg_value_and_grad(X, Y, rng=rng, **{**HOST, **changes})


def test_value_and_grad_equal_the_core():
    X, Y = clouds()
    key = jax.random.key(3)
    value, (grad_x, grad_y) = jax.value_and_grad(paj.ppm_reg, argnums=(0, 1))(jnp.asarray(X), jnp.asarray(Y), key, **HOST)
    expected = core(X, Y, key)
    assert value.dtype == jnp.float64
    assert float(value) == pytest.approx(float(expected[0]), rel=1e-12)
    np.testing.assert_allclose(np.asarray(grad_x), expected[1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(grad_y), expected[2], rtol=1e-12, atol=1e-15)


def test_jit_grad_equals_the_core_and_follows_the_key():
    X, Y = (jnp.asarray(a) for a in clouds(1))
    grad = jax.jit(jax.grad(lambda x, y, k: paj.ppm_reg(x, y, k, **HOST)))
    first = grad(X, Y, jax.random.key(0))
    np.testing.assert_allclose(np.asarray(first), core(np.asarray(X), np.asarray(Y), jax.random.key(0))[1], rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(grad(X, Y, jax.random.key(0))), np.asarray(first))
    assert not np.array_equal(np.asarray(grad(X, Y, jax.random.key(1))), np.asarray(first))


def test_refuses_rng_and_needs_bandwidth():
    X, Y = (jnp.asarray(a) for a in clouds())
    with pytest.raises(TypeError, match="rng"):
        paj.ppm_reg(X, Y, jax.random.key(0), bandwidth=0.2, rng=0)
    with pytest.raises(TypeError, match="bandwidth"):
        paj.ppm_reg(X, Y, jax.random.key(0))


def test_value_without_grad_runs_the_value_only_callback(monkeypatch):
    calls = []
    from ppm_array._adapters import jax as implementation
    from ppm_array._boundary.options import RegularizerOptions

    core = implementation.evaluate

    def recording(*args, with_grad, **kwargs):
        calls.append(with_grad)
        return core(*args, with_grad=with_grad, **kwargs)

    monkeypatch.setattr(implementation, "evaluate", recording)
    X, Y = (jnp.asarray(a) for a in clouds())
    value = paj.ppm_reg(X, Y, jax.random.key(0), **HOST)
    assert calls == [False]
    grad = jax.grad(paj.ppm_reg)(X, Y, jax.random.key(0), **HOST)
    assert calls == [False, True]
    expected = core(np.asarray(X), np.asarray(Y), RegularizerOptions.check(**HOST),
                    np.random.default_rng(np.asarray(jax.random.key_data(jax.random.key(0)), dtype=np.uint32).ravel()),
                    with_grad=True)
    assert float(value) == pytest.approx(float(expected[0]), rel=1e-12)
    np.testing.assert_allclose(np.asarray(grad), expected[1], rtol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_low_precision_is_computed_in_float32(dtype):
    X, Y = (jnp.asarray(a, dtype=dtype) for a in clouds(2))
    value, grad = jax.value_and_grad(paj.ppm_reg)(X, Y, jax.random.key(1), **OPTIONS)
    assert value.dtype == dtype and grad.dtype == dtype
    # float16 and bfloat16 take the host path, which draws the subsamples of HOST from one key.
    expected = paj.ppm_reg(X.astype(jnp.float32), Y.astype(jnp.float32), jax.random.key(1), **HOST)
    assert float(value) == pytest.approx(float(expected), rel=1e-2)
    assert bool(jnp.all(jnp.isfinite(grad.astype(jnp.float32))))


@pytest.mark.parametrize("key", [0, np.float32(1.5), jnp.zeros(2, dtype=jnp.float32), None])
def test_a_key_that_is_not_a_prng_key_is_refused(key):
    X, Y = (jnp.asarray(a) for a in clouds())
    with pytest.raises(TypeError, match=re.escape("key must be a JAX PRNG key, e.g. jax.random.key(0)")):
        paj.ppm_reg(X, Y, key, **OPTIONS)


def test_legacy_and_typed_keys_give_the_same_value():
    X, Y = (jnp.asarray(a) for a in clouds())
    assert float(paj.ppm_reg(X, Y, jax.random.PRNGKey(3), **OPTIONS)) == float(
        paj.ppm_reg(X, Y, jax.random.key(3), **OPTIONS))


@pytest.mark.parametrize("differentiate", [False, True])
def test_float16_results_beyond_its_range_are_refused_not_inf(differentiate):
    """PPM-Reg of clouds at scale 1000 (about 6e5 in float32) overflows float16: refused in the callback."""
    X, Y = (jnp.asarray(1000 * a, dtype=jnp.float16) for a in clouds())
    options = dict(OPTIONS, bandwidth=300.0)
    call = jax.value_and_grad(paj.ppm_reg) if differentiate else paj.ppm_reg
    with pytest.raises(jax.errors.JaxRuntimeError, match=r"X and Y are too large for results in float16"):
        jax.block_until_ready(call(X, Y, jax.random.key(1), **options))


def test_misspelt_option_names_the_adapter():
    X, Y = (jnp.asarray(a) for a in clouds())
    with pytest.raises(TypeError, match=r"ppm_array.jax.ppm_reg\(\) got unexpected keyword arguments: bandwith"):
        paj.ppm_reg(X, Y, jax.random.key(0), bandwith=0.2)


def test_terms_and_the_median_bandwidth():
    X, Y = (jnp.asarray(a) for a in clouds(3))
    value, terms = paj.ppm_reg(X, Y, jax.random.key(4), **dict(HOST, bandwidth="median"), return_terms=True)
    expected = core(np.asarray(X), np.asarray(Y), jax.random.key(4), bandwidth="median", return_terms=True)
    assert float(value) == pytest.approx(float(expected[0]), rel=1e-12)
    np.testing.assert_allclose(np.asarray(terms.mmd), expected[3].mmd, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(terms.bandwidth), expected[3].bandwidth, rtol=1e-12)
    grad = jax.grad(lambda x: paj.ppm_reg(x, Y, jax.random.key(4), **dict(HOST, bandwidth="median"),
                                          return_terms=True)[0])(X)
    np.testing.assert_allclose(np.asarray(grad), expected[1], rtol=1e-12)


def test_data_space_against_a_latent_space():
    rng = np.random.default_rng(9)
    X, Z = rng.normal(size=(20, 64)), rng.normal(size=(15, 2))
    key = jax.random.key(6)
    grads = jax.grad(paj.ppm_reg, argnums=(0, 1))(jnp.asarray(X), jnp.asarray(Z), key, **dict(HOST, bandwidth=0.8))
    expected = core(X, Z, key, bandwidth=0.8)
    np.testing.assert_allclose(np.asarray(grads[0]), expected[1], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(grads[1]), expected[2], rtol=1e-12)


def test_method_tol_and_per_dimension_subsamples_reach_the_core():
    X, Y = clouds()
    key = jax.random.key(5)
    options = {**HOST, "n_subsamples": (2500, 4000), "method": "fft", "tol": 1e-6}
    value, grad_x = jax.value_and_grad(paj.ppm_reg)(jnp.asarray(X), jnp.asarray(Y), key, **options)
    expected = core(X, Y, key, n_subsamples=(2500, 4000), method="fft", tol=1e-6)
    assert float(value) == float(expected[0])
    np.testing.assert_array_equal(np.asarray(grad_x), expected[1])


@pytest.mark.parametrize("backend", ["auto", "numba"])
@pytest.mark.parametrize("shared_y", [False, True])
def test_a_batch_of_clouds_is_each_cloud_on_the_same_key(backend, shared_y):
    """X of shape (B, N, d): every item equals the call on that item with the same key (both paths), and the
    gradients equal each item's own."""
    X, Y = clouds(1)
    batch = jnp.asarray(np.stack([X, 1.5 * X, 0.5 * X]))
    Yb = jnp.asarray(Y) if shared_y else jnp.asarray(np.stack([Y, Y[::-1] * 2, Y * 0.3]))
    key = jax.random.key(3)
    options = dict(OPTIONS, backend=backend)
    values = paj.ppm_reg(batch, Yb, key, **options)
    grads = jax.grad(lambda x: paj.ppm_reg(x, Yb, key, **options).sum())(batch)
    for b in range(3):
        y = Yb if shared_y else Yb[b]
        assert float(values[b]) == pytest.approx(float(paj.ppm_reg(batch[b], y, key, **options)), rel=1e-12)
        np.testing.assert_allclose(np.asarray(grads[b]), np.asarray(jax.grad(paj.ppm_reg)(batch[b], y, key, **options)),
                                   rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match=r"a batch of clouds is X of shape \(B, N, d\)"):
        paj.ppm_reg(batch, jnp.stack([Yb] * 4) if shared_y else Yb[:2], key, **options)


def test_vmap_of_the_host_path_is_one_callback(monkeypatch):
    """Under jax.vmap the host path calls the core once, with the batch (and the same key for every item)."""
    from ppm_array._adapters import jax as implementation

    calls, evaluate = [], implementation.evaluate

    def recording(X, Y, *args, **kwargs):
        calls.append((np.shape(X), np.shape(Y)))
        return evaluate(X, Y, *args, **kwargs)

    monkeypatch.setattr(implementation, "evaluate", recording)
    X, Y = clouds(2)
    batch = jnp.asarray(np.stack([X, 2 * X, 0.5 * X, X[::-1]]))
    key = jax.random.key(5)
    grads = jax.jit(jax.vmap(jax.grad(lambda x: paj.ppm_reg(x, jnp.asarray(Y), key, **HOST))))(batch)
    assert calls == [((4, 40, 2), (4, 35, 2))]
    for b in range(4):
        np.testing.assert_allclose(np.asarray(grads[b]), core(np.asarray(batch[b]), Y, key)[1], rtol=1e-10, atol=1e-14)

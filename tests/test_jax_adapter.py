"""JAX adapter against the core (x64 enabled)."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import ppm_array as pa  # noqa: E402
import ppm_array.jax as paj  # noqa: E402

OPTIONS = dict(bandwidth=0.3, dims=(0, 1), weights=(1.0, 20.0), n_subsamples=300)


def clouds(seed=0):
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, 35)
    return 0.3 * rng.normal(size=(40, 2)), np.stack([np.cos(angle), np.sin(angle)], 1)


def core(X, Y, key):
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key), dtype=np.uint32).ravel())
    return pa.ppm_reg_value_and_grad(X, Y, rng=rng, **OPTIONS)


def test_value_and_grad_equal_the_core():
    X, Y = clouds()
    key = jax.random.key(3)
    value, (grad_x, grad_y) = jax.value_and_grad(paj.ppm_reg, argnums=(0, 1))(jnp.asarray(X), jnp.asarray(Y), key, **OPTIONS)
    expected = core(X, Y, key)
    assert value.dtype == jnp.float64
    assert float(value) == pytest.approx(float(expected[0]), rel=1e-12)
    np.testing.assert_allclose(np.asarray(grad_x), expected[1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.asarray(grad_y), expected[2], rtol=1e-12, atol=1e-15)


def test_jit_grad_equals_the_core_and_follows_the_key():
    X, Y = (jnp.asarray(a) for a in clouds(1))
    grad = jax.jit(jax.grad(lambda x, y, k: paj.ppm_reg(x, y, k, **OPTIONS)))
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

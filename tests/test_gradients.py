"""Explicit gradients against float64 central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from builders import hand_sample, octahedra, relative_error
from oracles import central_difference, gudhi_principal_persistence

import ppm_array as pa

def feature_indices(q, n_copies, n_random, seed):
    """Whole octahedra (q = 2), their equators (q = 1) or random pairs, then random rows."""
    rng = np.random.default_rng(seed)
    equator = np.array([0, 1, 3, 4])
    rows = [6 * c + (np.arange(6) if q == 2 else equator if q == 1 else rng.choice(6, 2, replace=False))
            for c in range(n_copies)]
    return np.concatenate([np.array(rows), pa.subsample_indices(6 * n_copies, q, n_random, rng=rng)])


@pytest.mark.parametrize("q", [0, 1, 2])
def test_persistence_vjp_matches_finite_differences(backend, q):
    X = octahedra(3, q)
    indices = feature_indices(q, 3, 30, q)
    rng = np.random.default_rng(10 + q)
    grad_birth, grad_lifetime = rng.normal(size=33), rng.normal(size=33)

    def objective(points):
        sample = pa.principal_persistence(points, q, indices=indices, backend=backend)
        return np.sum(grad_birth * sample.birth + grad_lifetime * sample.lifetime)

    sample = pa.principal_persistence(X, q, indices=indices, backend=backend)
    assert np.count_nonzero(sample.lifetime) >= 3
    explicit = pa.persistence_vjp(X, sample, grad_birth, grad_lifetime, backend=backend)
    assert relative_error(explicit, central_difference(objective, X)) < 1e-6


def test_persistence_vjp_is_zero_not_nan_for_coincident_points(backend):
    X = np.zeros((4, 2))
    sample = pa.principal_persistence(X, 1, indices=np.array([[0, 1, 2, 3]]))
    grad = pa.persistence_vjp(X, sample, np.ones(1), np.ones(1), backend=backend)
    np.testing.assert_array_equal(grad, 0.0)


@pytest.mark.parametrize("estimator", ["v", "u"])
@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("weight_power", [1.0, 2.5])
def test_mmd_gradients_match_finite_differences(backend, estimator, squared, weight_power):
    rng = np.random.default_rng(0)
    points_p = rng.uniform(0.1, 1.0, size=(2, 30))
    points_q = rng.uniform(0.1, 1.0, size=(2, 25)) * 1.3
    options = dict(bandwidth=0.4, weight_power=weight_power, estimator=estimator, squared=squared, backend=backend)

    def value(pp, qq):
        return pa.mmd(hand_sample(*pp), hand_sample(*qq), **options)

    _, grads_p, grads_q = pa.mmd_value_and_grad(hand_sample(*points_p), hand_sample(*points_q), **options)
    assert relative_error(np.stack(grads_p), central_difference(lambda pp: value(pp, points_q), points_p)) < 1e-6
    assert relative_error(np.stack(grads_q), central_difference(lambda qq: value(points_p, qq), points_q)) < 1e-6


def test_mmd_lifetime_gradient_at_collapsed_point_is_one_sided(backend):
    """``w(l) = l`` has right derivative 1 at 0: collapsed points get a lifetime gradient."""
    P = hand_sample(np.array([0.5, 0.7, 0.3]), np.array([0.0, 0.4, 0.2]))
    Q = hand_sample(np.array([0.6, 0.2]), np.array([0.5, 0.3]))
    _, (_, d_lifetime), _ = pa.mmd_value_and_grad(P, Q, bandwidth=0.5, backend=backend)
    eps = 1e-7
    bumped = hand_sample(P.birth, P.lifetime + np.array([eps, 0, 0]))
    one_sided = (float(pa.mmd(bumped, Q, bandwidth=0.5)) - float(pa.mmd(P, Q, bandwidth=0.5))) / eps
    assert d_lifetime[0] == pytest.approx(one_sided, rel=1e-5)


def two_clouds():
    """An octahedron and an octahedron plus a point: with ``replace=False`` every
    six-point subsample of X, and six of seven of Y, carry an H2 feature."""
    return octahedra(1, 1), np.concatenate([octahedra(1, 2), [[0.1, 0.2, 0.3]]])


def three_dimensions(replace: bool) -> dict:
    """Options of PPM-Reg in dimensions 0, 1 and 2 on :func:`two_clouds`. With replacement most six-point draws
    from six or seven points repeat one, so dimension 2 gets more subsamples and a larger weight: enough for a
    share of the gradient (test_ppm_reg_dimension_two_contributes)."""
    if replace:
        return dict(bandwidth=0.3, dims=(0, 1, 2), weights=(1.0, 4.0, 900.0), n_subsamples=(150, 150, 2000), rng=7,
                    replace=True)
    return dict(bandwidth=0.3, dims=(0, 1, 2), weights=(1.0, 4.0, 9.0), n_subsamples=150, rng=7, replace=False)


@pytest.mark.parametrize("estimator", ["v", "u"])
@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("replace", [True, False])
def test_ppm_reg_gradients_match_finite_differences(backend, estimator, squared, replace):
    X, Y = two_clouds()
    options = dict(three_dimensions(replace), estimator=estimator, squared=squared, backend=backend)
    value, grad_x, grad_y = pa.ppm_reg_value_and_grad(X, Y, **options)
    assert float(value) == float(pa.ppm_reg(X, Y, **options))
    assert relative_error(grad_x, central_difference(lambda x: pa.ppm_reg(x, Y, **options), X)) < 1e-6
    assert relative_error(grad_y, central_difference(lambda y: pa.ppm_reg(X, y, **options), Y)) < 1e-6


@pytest.mark.parametrize("estimator", ["v", "u"])
@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("replace", [True, False])
def test_ppm_reg_dimension_two_contributes(estimator, squared, replace):
    """The dims (0, 1, 2) gradient checks above are not vacuous in dimension 2: its PPMs hold features, each
    gudhi's PH_2 of its six points, and its term carries at least 1% of each gradient (far above the checks'
    1e-6). Its weight set to 0 leaves the draws alone (dimension 2's come last), so the difference is its own."""
    X, Y = two_clouds()
    for cloud in (X, Y):
        indices = pa.subsample_indices(cloud.shape[0], 2, 150, rng=0, replace=replace)
        sample = pa.principal_persistence(cloud, 2, indices=indices)
        assert np.count_nonzero(sample.lifetime) > (0 if replace else 20)
        for row, birth, lifetime in zip(indices, sample.birth, sample.lifetime):
            expected_birth, expected_lifetime = gudhi_principal_persistence(cloud[row], 2)
            assert lifetime == pytest.approx(expected_lifetime, rel=1e-9, abs=1e-12)
            if expected_lifetime > 0:
                assert birth == pytest.approx(expected_birth, rel=1e-9)
    options = dict(three_dimensions(replace), estimator=estimator, squared=squared)
    _, *grads = pa.ppm_reg_value_and_grad(X, Y, **options)
    _, *without = pa.ppm_reg_value_and_grad(X, Y, **dict(options, weights=options["weights"][:2] + (0.0,)))
    for grad, other in zip(grads, without):
        assert np.linalg.norm(grad - other) > 0.01 * np.linalg.norm(grad)


def test_data_space_against_a_latent_space(backend):
    """X in 64 dimensions, Z in 2: a PPM depends only on distances within its own cloud."""
    rng = np.random.default_rng(8)
    X, Z = rng.normal(size=(9, 64)), rng.normal(size=(11, 2))
    options = dict(bandwidth=0.8, dims=(0, 1), weights=(1.0, 5.0), n_subsamples=120, rng=2, backend=backend)
    value, grad_x, grad_z = pa.ppm_reg_value_and_grad(X, Z, **options)
    assert grad_x.shape == X.shape and grad_z.shape == Z.shape
    assert relative_error(grad_x, central_difference(lambda x: pa.ppm_reg(x, Z, **options), X)) < 1e-6
    assert relative_error(grad_z, central_difference(lambda z: pa.ppm_reg(X, z, **options), Z)) < 1e-6

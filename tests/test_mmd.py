"""MMD between persistence samples: identities, the slow double loop, estimators."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from oracles import slow_mmd_squared

import ppm_array as pa
from builders import hand_sample


def sample_from(points, mass=None):
    return hand_sample(*points, mass)


@st.composite
def diagrams(draw, min_size=2):
    """Persistence points with some collapsed (lifetime 0) ones."""
    s = draw(st.integers(min_size, 40))
    birth = draw(arrays(np.float64, s, elements=st.floats(0, 3)))
    lifetime = draw(arrays(np.float64, s, elements=st.floats(0, 2)))
    lifetime[draw(arrays(bool, s))] = 0.0
    return birth, lifetime


def as_triples(points, mass=None):
    birth, lifetime = points
    mass = np.full(birth.shape[0], 1.0 / birth.shape[0]) if mass is None else mass
    return list(zip(birth, lifetime, mass))


options = st.fixed_dictionaries({
    "bandwidth": st.floats(0.05, 3),
    "weight_power": st.sampled_from([1.0, 1.5, 2.0]),
    "estimator": st.sampled_from(["v", "u"]),
})


@given(p=diagrams(), q=diagrams(), opts=options)
def test_mmd_equals_slow_double_loop(backend, p, q, opts):
    expected = slow_mmd_squared(as_triples(p), as_triples(q), opts["bandwidth"], opts["weight_power"], opts["estimator"] == "u")
    value = float(pa.mmd(sample_from(p), sample_from(q), backend=backend, **opts))
    scale = slow_mmd_squared(as_triples(p), [], opts["bandwidth"], opts["weight_power"]) + slow_mmd_squared(
        as_triples(q), [], opts["bandwidth"], opts["weight_power"])
    assert value == pytest.approx(expected, rel=1e-10, abs=1e-12 * max(scale, 1e-300))
    root = float(pa.mmd(sample_from(p), sample_from(q), backend=backend, squared=False, **opts))
    assert root == pytest.approx(math.sqrt(max(value, 0.0)), rel=1e-7, abs=1e-7 * math.sqrt(max(scale, 0)))


@given(p=diagrams(), q=diagrams(), bandwidth=st.floats(0.05, 3))
def test_mmd_identities(backend, p, q, bandwidth):
    P, Q = sample_from(p), sample_from(q)
    same = float(pa.mmd(P, P, bandwidth=bandwidth, backend=backend))
    forward = float(pa.mmd(P, Q, bandwidth=bandwidth, backend=backend))
    backward = float(pa.mmd(Q, P, bandwidth=bandwidth, backend=backend))
    scale = float(pa.mmd(P, sample_from((q[0], 0 * q[1])), bandwidth=bandwidth, backend=backend)) + 1.0
    assert abs(same) <= 1e-12 * scale
    assert forward == pytest.approx(backward, rel=1e-12, abs=1e-14 * scale)
    assert forward >= -1e-12 * scale  # the V-statistic is a squared RKHS norm


def test_weighted_masses_match_slow_loop(backend):
    rng = np.random.default_rng(0)
    p, q = rng.uniform(0, 1, (2, 7)), rng.uniform(0, 1, (2, 5))
    mass_p, mass_q = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(5))
    for estimator in ("v", "u"):
        expected = slow_mmd_squared(as_triples(p, mass_p), as_triples(q, mass_q), 0.3, 1.0, estimator == "u")
        value = pa.mmd(sample_from(p, mass_p), sample_from(q, mass_q), bandwidth=0.3, estimator=estimator, backend=backend)
        assert float(value) == pytest.approx(expected, rel=1e-12)


def test_unbiased_estimator_uses_s_times_s_minus_one():
    """For equal masses the U within-sum is the off-diagonal mean over s (s - 1) pairs."""
    rng = np.random.default_rng(1)
    birth, lifetime = rng.uniform(0, 1, (2, 6))
    kernel = np.outer(lifetime, lifetime) * np.exp(
        -((birth[:, None] - birth[None, :]) ** 2 + (lifetime[:, None] - lifetime[None, :]) ** 2) / (2 * 0.5**2))
    off_diagonal_mean = (kernel.sum() - np.trace(kernel)) / (6 * 5)
    empty = sample_from((np.zeros(2), np.zeros(2)))
    value = pa.mmd(sample_from((birth, lifetime)), empty, bandwidth=0.5, estimator="u")
    assert float(value) == pytest.approx(off_diagonal_mean, rel=1e-13)


def test_sqrt_has_zero_gradient_at_zero():
    P = sample_from((np.array([0.5, 0.2]), np.array([0.3, 0.6])))
    value, grads_p, grads_q = pa.mmd_value_and_grad(P, P, bandwidth=0.5, squared=False)
    assert float(value) == 0.0
    for grad in (*grads_p, *grads_q):
        assert np.all(np.isfinite(grad)) and np.all(grad == 0.0)


def test_bandwidth_conventions_against_scikit_learn():
    """The paper's ``sigma = h^2`` and the published code's ``width = 2 h^2`` give scikit-learn's RBF kernel
    with ``gamma = 1 / (2 sigma) = 1 / width``: our MMD is that kernel's quadratic form in ``mass * lifetime``."""
    from sklearn.metrics.pairwise import rbf_kernel

    rng = np.random.default_rng(3)
    P = sample_from(rng.uniform(0, 1, (2, 9)))
    Q = sample_from(rng.uniform(0, 1, (2, 7)))
    h = 0.4
    sigma, width = h**2, 2 * h**2
    points = np.concatenate([np.stack([P.birth, P.lifetime], 1), np.stack([Q.birth, Q.lifetime], 1)])
    signed_weights = np.concatenate([P.mass * P.lifetime, -Q.mass * Q.lifetime])
    for gamma in (1 / (2 * sigma), 1 / width):
        expected = signed_weights @ rbf_kernel(points, gamma=gamma) @ signed_weights
        assert float(pa.mmd(P, Q, bandwidth=h)) == pytest.approx(expected, rel=1e-13)


def test_median_bandwidth_is_the_median_pairwise_distance_of_the_pooled_features(backend):
    """The rule against scipy's pdist on the same points: the first 128 with a feature of each sample."""
    from scipy.spatial.distance import pdist

    from ppm_array._mmd.bandwidth import MEDIAN_POINTS

    rng = np.random.default_rng(4)

    def sample(s):
        lifetime = np.where(rng.random(s) < 0.5, 0.0, rng.uniform(0, 1, s))
        return sample_from((rng.uniform(0, 2, s), lifetime))

    P, Q = sample(400), sample(300)
    pooled = np.concatenate([np.stack([S.birth, S.lifetime], 1)[S.lifetime > 0][:MEDIAN_POINTS] for S in (P, Q)])
    h = float(np.median(pdist(pooled)))
    assert float(pa.mmd(P, Q, bandwidth="median", backend=backend)) == pytest.approx(
        float(pa.mmd(P, Q, bandwidth=h, backend=backend)), rel=1e-12)


def test_median_bandwidth_falls_back_to_the_scale_where_most_features_coincide():
    """Four equal points in P and one other in Q: 6 of the 10 pairs have distance 0, so the median is 0 and
    the rule uses the largest birth plus the largest lifetime (0.7 + 0.5 here)."""
    P = sample_from((np.full(4, 0.5), np.full(4, 0.3)))
    Q = sample_from((np.array([0.7]), np.array([0.5])))
    median = float(pa.mmd(P, Q, bandwidth="median"))
    assert median == pytest.approx(float(pa.mmd(P, Q, bandwidth=1.2)), rel=1e-14)
    assert median != pytest.approx(float(pa.mmd(P, Q, bandwidth=0.5)), rel=1e-3)


@pytest.mark.parametrize("bandwidth, n_subsamples", [(0.3, 300), ("median", 300), (0.3, 4000)])
def test_terms_are_the_per_dimension_mmds(backend, bandwidth, n_subsamples):
    """The terms of PPM-Reg are MMDs of principal persistence measures drawn in order.

    From ``s >= N^2`` (4000 here) PPM-Reg merges the repeated pairs of a ``q = 0``
    draw: the same measure as ``principal_persistence``'s ``s`` points.
    """
    from builders import blob_and_circle

    X, Y = blob_and_circle(60, 50, seed=1, noise=0.05)
    options = dict(bandwidth=bandwidth, dims=(0, 1), weights=(2.0, 30.0), n_subsamples=n_subsamples,
                   backend=backend)
    value, grad_x, grad_y, terms = pa.ppm_reg_value_and_grad(X, Y, rng=3, return_terms=True, **options)
    assert float(pa.ppm_reg(X, Y, rng=3, **options)) == float(value)
    generator = np.random.default_rng(3)
    for k, q in enumerate((0, 1)):
        P = pa.principal_persistence(X, q, n_subsamples=n_subsamples, rng=generator, backend=backend)
        Q = pa.principal_persistence(Y, q, n_subsamples=n_subsamples, rng=generator, backend=backend)
        h = terms.bandwidth[k]
        if bandwidth != "median":
            assert h == bandwidth
        assert terms.mmd[k] == pytest.approx(float(pa.mmd(P, Q, bandwidth=float(h), backend=backend)), rel=1e-12)
    assert float(value) == pytest.approx(2.0 * terms.mmd[0] + 30.0 * terms.mmd[1], rel=1e-12)


@pytest.mark.parametrize("weight_power", [1.0, 2.5, 16.0])
def test_largest_weight_power_matches_slow_loop(backend, weight_power):
    """Up to the largest weight_power the value is the slow double loop's, at a scale where the result's
    power of the scale (2^-27 to the 32nd for p = 16) needs the closed-form power of two."""
    rng = np.random.default_rng(3)
    scale = 1e-8
    p = (rng.uniform(0, 3, 12) * scale, rng.uniform(0.2, 2, 12) * scale)
    q = (rng.uniform(0, 3, 9) * scale, rng.uniform(0.2, 2, 9) * scale)
    expected = slow_mmd_squared(as_triples(p), as_triples(q), scale, weight_power)
    value = float(pa.mmd(sample_from(p), sample_from(q), bandwidth=scale, weight_power=weight_power, backend=backend))
    assert value == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("exponent", [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 31.0, 32.0])
def test_power_of_the_scale_in_closed_form(dtype, exponent):
    """``x * base**exponent`` for every power of two ``base`` of the dtype and ``x`` from its smallest to its
    largest numbers: exact where the result is (no intermediate overflows or underflows), 0 or inf beyond."""
    from ppm_array._mmd.rescaling import times_power as _times_power

    info = np.finfo(dtype)
    x = np.array([float(info.smallest_normal * info.eps), 1e-30, 1.0, 3.0, float(info.max)], dtype=dtype)
    lowest, highest = (-149, 127) if dtype == np.float32 else (-1074, 1023)
    for power in range(lowest, highest + 1):
        base = np.asarray(np.ldexp(dtype(1), power), dtype=dtype)
        with np.errstate(over="ignore", under="ignore"):
            got = _times_power(x, base, exponent)
            expected = (x.astype(np.longdouble) * np.exp2(np.longdouble(power * exponent))).astype(dtype)
        # Non-integer powers of two are rounded: a few units in the last place (subnormal units below).
        close = np.isclose(got, expected, rtol=4 * info.eps, atol=4 * info.smallest_normal * info.eps)
        assert np.all(close), (power, got, expected)

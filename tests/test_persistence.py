"""Closed-form principal persistence: known answers, gudhi, invariances, exact PPM."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from builders import noisy_circle
from oracles import gudhi_principal_persistence

import ppm_array as pa


def one_subsample(points, q, backend="array_api"):
    points = np.asarray(points, dtype=np.float64)
    indices = np.arange(points.shape[0])[None, :]
    sample = pa.principal_persistence(points, q, indices=indices, backend=backend)
    return float(sample.birth[0]), float(sample.lifetime[0]), sample


class TestKnownAnswers:
    def test_unit_square(self, backend):
        birth, lifetime, sample = one_subsample([[0, 0], [1, 0], [1, 1], [0, 1]], 1, backend)
        assert birth == pytest.approx(1.0, rel=1e-15)
        assert lifetime == pytest.approx(math.sqrt(2) - 1, rel=1e-15)
        # Birth edge is a side, death edge a diagonal.
        assert sorted(sample.birth_edge[0].tolist()) in ([0, 1], [0, 3], [1, 2], [2, 3])
        assert sorted(sample.death_edge[0].tolist()) in ([0, 2], [1, 3])

    def test_rectangle(self, backend):
        # Sides 1 and 2: the cycle is born when the long sides appear (2) and dies at the diagonal.
        birth, lifetime, _ = one_subsample([[0, 0], [2, 0], [2, 1], [0, 1]], 1, backend)
        assert birth == pytest.approx(2.0, rel=1e-15)
        assert lifetime == pytest.approx(math.sqrt(5) - 2, rel=1e-14)

    def test_octahedron(self, backend):
        vertices = np.concatenate([np.eye(3), -np.eye(3)])
        birth, lifetime, _ = one_subsample(vertices, 2, backend)
        assert birth == pytest.approx(math.sqrt(2), rel=1e-15)
        assert lifetime == pytest.approx(2 - math.sqrt(2), rel=1e-14)

    def test_two_points(self, backend):
        birth, lifetime, sample = one_subsample([[0, 0], [3, 4]], 0, backend)
        assert (birth, lifetime) == (0.0, 5.0)
        assert sample.death_edge[0].tolist() == [0, 1]
        assert sample.birth_edge[0].tolist() == [0, 0]

    def test_collinear_points_have_no_feature(self, backend):
        _, lifetime, _ = one_subsample([[0, 0], [1, 0], [2.5, 0], [4, 0]], 1, backend)
        assert lifetime == 0.0

    @pytest.mark.parametrize("dtype, scale", [(np.float32, 1e-25), (np.float32, 1e-40), (np.float32, 1e37),
                                              (np.float64, 1e-200), (np.float64, 1e-310), (np.float64, 1e300)])
    def test_unit_square_at_extreme_scales(self, backend, dtype, scale):
        """Squared distances of these sides underflow or overflow the dtype (below 1e-19 and 1e-154 the squares
        of float32 and float64 differences vanish); the feature must not."""
        side = float(dtype(scale))
        square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]]) * side
        sample = pa.principal_persistence(square.astype(dtype), 1, indices=np.array([[0, 1, 2, 3]]), backend=backend)
        assert sample.lifetime.dtype == dtype
        # A few units in the last place; subnormal results have absolute units.
        tolerance = lambda value: 4 * (np.finfo(dtype).eps * value + np.finfo(dtype).smallest_subnormal)  # noqa: E731
        assert abs(float(sample.birth[0]) - side) <= tolerance(side)
        assert abs(float(sample.lifetime[0]) - (math.sqrt(2) - 1) * side) <= tolerance(side)

    @pytest.mark.parametrize("q", [1, 2])
    def test_repeated_point_has_no_feature(self, backend, q):
        points = np.concatenate([np.eye(3), -np.eye(3)])[: 2 * q + 2]
        points[-1] = points[0]
        _, lifetime, _ = one_subsample(points, q, backend)
        assert lifetime == 0.0


@st.composite
def small_clouds(draw):
    """A ``(2q+2, d)`` cloud at scale 1e-3..1e3, sometimes with duplicated points."""
    q = draw(st.sampled_from([0, 1, 2]))
    d = draw(st.integers(1, 6))
    m = 2 * q + 2
    # gudhi squares coordinate differences: below about 1e-154 they underflow to a zero
    # distance (ours are scale-robust). Coordinates are 0 or at least 1e-100 in magnitude,
    # so every nonzero difference is at least ulp(1e-100), about 1e-116, and gudhi stays exact.
    coordinate = st.floats(-1, 1, allow_subnormal=False).map(lambda x: 0.0 if abs(x) < 1e-100 else x)
    unit = draw(arrays(np.float64, (m, d), elements=coordinate))
    if draw(st.booleans()):
        source, target = draw(st.integers(0, m - 1)), draw(st.integers(0, m - 1))
        unit[target] = unit[source]
    scale = 10.0 ** draw(st.floats(-3, 3))
    return q, unit * scale


@given(cloud=small_clouds())
def test_closed_form_equals_gudhi(backend, cloud):
    q, points = cloud
    birth, lifetime, _ = one_subsample(points, q, backend)
    expected_birth, expected_lifetime = gudhi_principal_persistence(points, q)
    diameter = max(float(np.ptp(points, axis=0).max()), 1e-300)
    assert lifetime == pytest.approx(expected_lifetime, rel=1e-9, abs=1e-12 * diameter)
    if expected_lifetime > 1e-12 * diameter:
        assert birth == pytest.approx(expected_birth, rel=1e-9)


@st.composite
def clouds_and_motions(draw):
    q = draw(st.sampled_from([0, 1, 2]))
    d = draw(st.integers(1, 5))
    points = draw(arrays(np.float64, (2 * q + 2, d), elements=st.floats(-1, 1, allow_subnormal=False)))
    seed = draw(st.integers(0, 2**32 - 1))
    return q, points, np.random.default_rng(seed)


def persistence_pair(points, q, backend):
    birth, lifetime, _ = one_subsample(points, q, backend)
    return np.array([birth, lifetime])


@given(case=clouds_and_motions())
def test_invariant_under_permutation_and_rigid_motion(backend, case):
    q, points, rng = case
    reference = persistence_pair(points, q, backend)
    permuted = points[rng.permutation(points.shape[0])]
    rotation, _ = np.linalg.qr(rng.normal(size=(points.shape[1], points.shape[1])))
    moved = points @ rotation + rng.normal(size=points.shape[1])
    np.testing.assert_allclose(persistence_pair(permuted, q, backend), reference, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(persistence_pair(moved, q, backend), reference, rtol=1e-9, atol=1e-9)


@given(case=clouds_and_motions(), log_scale=st.floats(-3, 3))
def test_birth_and_lifetime_scale_linearly(backend, case, log_scale):
    q, points, _ = case
    scale = 10.0**log_scale
    np.testing.assert_allclose(
        persistence_pair(points * scale, q, backend), scale * persistence_pair(points, q, backend), rtol=1e-12, atol=1e-300
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(case=clouds_and_motions(), position=st.floats(0, 1))
def test_scaling_holds_over_the_whole_range_of_the_dtype(backend, dtype, case, position):
    """``PH(c X) = c PH(X)`` in float32 and float64 for ``c`` from where the largest coordinate is the dtype's
    smallest normal number to where distances approach its largest (docs/math.md, "Distances")."""
    q, points, _ = case
    extent = float(np.abs(points).max())
    assume(extent > 0)
    unit = points / extent
    info, d = np.finfo(dtype), points.shape[1]
    low, high = math.log2(float(info.smallest_normal)), math.log2(float(info.max) / (4 * math.sqrt(d)))
    scale = 2.0 ** (low + position * (high - low))
    actual = persistence_pair_in(unit * scale, q, backend, dtype)
    expected = scale * persistence_pair(unit, q, backend)
    # Rounding c X to the dtype moves each coordinate by eps |c x| / 2 plus half a subnormal unit, so a distance
    # by at most sqrt(d) (eps c + subnormal) and a lifetime by twice that; the computation adds a few eps c.
    tolerance = 32 * math.sqrt(d) * (float(info.eps) * scale + float(info.smallest_subnormal))
    assert np.all(np.abs(actual - expected) <= tolerance), (actual, expected, tolerance)


def persistence_pair_in(points, q, backend, dtype):
    indices = np.arange(points.shape[0])[None, :]
    sample = pa.principal_persistence(points.astype(dtype), q, indices=indices, backend=backend)
    assert sample.birth.dtype == dtype
    return np.array([sample.birth[0], sample.lifetime[0]], dtype=np.float64)


def test_edges_are_global_indices_realising_birth_and_death(backend):
    X = noisy_circle(50, 0.1, 3)
    sample = pa.principal_persistence(X, 1, n_subsamples=400, rng=4, backend=backend)
    length = lambda edge: np.linalg.norm(X[edge[:, 0]] - X[edge[:, 1]], axis=1)  # noqa: E731
    np.testing.assert_allclose(length(sample.birth_edge), sample.birth, rtol=1e-12)
    alive = sample.lifetime > 0
    assert alive.sum() > 10
    np.testing.assert_allclose(length(sample.death_edge)[alive], (sample.birth + sample.lifetime)[alive], rtol=1e-12)


@pytest.mark.parametrize("replace", [True, False])
def test_exact_ppm_masses_and_collapsed_point(replace):
    X = noisy_circle(7, 0.05, 0)
    exact = pa.exact_principal_persistence(X, 1, replace=replace)
    assert math.isclose(float(np.sum(exact.mass)), 1.0, rel_tol=1e-12)
    n_subsets = math.comb(7, 4)
    assert exact.birth.shape[0] == n_subsets + (1 if replace else 0)
    if replace:
        assert exact.lifetime[-1] == 0.0
        assert math.isclose(exact.mass[-1], 1 - n_subsets * 24 / 7**4, rel_tol=1e-12)


@pytest.mark.parametrize("replace", [True, False])
def test_monte_carlo_converges_to_exact(replace):
    X = noisy_circle(8, 0.05, 1)
    exact = pa.exact_principal_persistence(X, 1, replace=replace)
    exact_mean = float(np.sum(exact.mass * exact.lifetime))
    errors = []
    for n_subsamples in (200, 200_000):
        mc = pa.principal_persistence(X, 1, n_subsamples=n_subsamples, rng=5, replace=replace)
        standard_error = float(np.std(mc.lifetime)) / math.sqrt(n_subsamples)
        error = abs(float(np.mean(mc.lifetime)) - exact_mean)
        assert error < 5 * standard_error
        errors.append(float(pa.mmd(exact, mc, bandwidth=0.1)))
    assert errors[1] < errors[0] / 100
    assert errors[1] < 1e-4


def test_persistence_cost_does_not_grow_with_n(backend):
    """A million-point cloud: an N x N matrix would need 8 TB. The PPM needs O(s)
    memory, and its VJP a few N x d arrays (the gradient itself among them)."""
    import tracemalloc

    X = np.random.default_rng(0).normal(size=(1_000_000, 2))
    pa.principal_persistence(X[:8], 1, n_subsamples=4, rng=0, backend=backend)  # compile outside the trace
    tracemalloc.start()
    sample = pa.principal_persistence(X, 1, n_subsamples=256, rng=0, backend=backend)
    _, persistence_peak = tracemalloc.get_traced_memory()
    grad = pa.persistence_vjp(X, sample, np.ones(256), np.ones(256), backend=backend)
    _, vjp_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert sample.birth.shape == (256,)
    # Only the finite check's boolean mask (N d bytes) grows with N; the rest is O(s).
    assert persistence_peak < X.nbytes // 4
    assert vjp_peak < 6 * grad.nbytes

"""Main losses of the shape-matching experiment: formulas and explicit gradients."""

from __future__ import annotations

import numpy as np
import pytest
from builders import relative_error
from oracles import central_difference

from ppm_array.experiments.losses import energy_distance_value_and_grad, rbf_mmd_value_and_grad


@pytest.mark.parametrize("sizes", [(30, 24), (31, 25)])
def test_energy_distance_gradients_match_finite_differences(sizes):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(sizes[0], 2)), rng.normal(size=(sizes[1], 2)) + 0.5
    value, grad_x, grad_y = energy_distance_value_and_grad(X, Y, rng=3)
    assert relative_error(grad_x, central_difference(lambda x: energy_distance_value_and_grad(x, Y, rng=3)[0], X)) < 1e-6
    assert relative_error(grad_y, central_difference(lambda y: energy_distance_value_and_grad(X, y, rng=3)[0], Y)) < 1e-6


def test_energy_distance_formula_over_halves():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(10, 3)), rng.normal(size=(8, 3))
    generator = np.random.default_rng(4)
    order_x, order_y = generator.permutation(10), generator.permutation(8)
    X1, X2, Y1, Y2 = X[order_x[:5]], X[order_x[5:]], Y[order_y[:4]], Y[order_y[4:]]

    def mean_distance(A, B):
        return np.mean([np.linalg.norm(a - b) for a in A for b in B])

    expected = mean_distance(X1, Y1) + mean_distance(X2, Y2) - mean_distance(X1, X2) - mean_distance(Y1, Y2)
    assert float(energy_distance_value_and_grad(X, Y, rng=4)[0]) == pytest.approx(expected, rel=1e-13)


def test_energy_distance_is_large_for_separated_clouds_and_small_for_equal_ones():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 2))
    assert float(energy_distance_value_and_grad(X, rng.normal(size=(400, 2)), rng=0)[0]) < 0.1
    assert float(energy_distance_value_and_grad(X, X + 5, rng=0)[0]) > 8


def test_rbf_mmd_formula_and_gradients():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(12, 2)) * 0.3, rng.normal(size=(9, 2)) * 0.3 + 0.1
    width = 0.1
    kernel = lambda A, B: np.exp(-((A[:, None] - B[None]) ** 2).sum(-1) / width)  # noqa: E731
    expected = kernel(X, X).mean() + kernel(Y, Y).mean() - 2 * kernel(X, Y).mean()
    value, grad_x, grad_y = rbf_mmd_value_and_grad(X, Y, width=width)
    assert float(value) == pytest.approx(expected, rel=1e-13)
    assert relative_error(grad_x, central_difference(lambda x: rbf_mmd_value_and_grad(x, Y, width=width)[0], X)) < 1e-6
    assert relative_error(grad_y, central_difference(lambda y: rbf_mmd_value_and_grad(X, y, width=width)[0], Y)) < 1e-6


def test_losses_refuse_bad_input():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="X needs at least 2 points"):
        energy_distance_value_and_grad(X[:1], X)
    with pytest.raises(ValueError, match="width"):
        rbf_mmd_value_and_grad(X, X, width=-1.0)


@pytest.mark.parametrize("sizes", [(30, 24), (31, 40)])
def test_paired_cramer_gradients_match_finite_differences(sizes):
    from ppm_array.experiments.losses import cramer_paired_value_and_grad

    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(sizes[0], 2)), rng.normal(size=(sizes[1], 2)) + 0.5
    value, grad_x, grad_y = cramer_paired_value_and_grad(X, Y, rng=3)
    assert relative_error(grad_x, central_difference(lambda x: cramer_paired_value_and_grad(x, Y, rng=3)[0], X)) < 1e-6
    assert relative_error(grad_y, central_difference(lambda y: cramer_paired_value_and_grad(X, y, rng=3)[0], Y)) < 1e-6


def test_paired_cramer_is_the_published_formula():
    """The published script: permute both clouds, then mean(|y0 - x0| - |x0 - x1| + |y0 - x1|) over paired rows."""
    from ppm_array.experiments.losses import cramer_paired_value_and_grad

    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(10, 3)), rng.normal(size=(10, 3))
    generator = np.random.default_rng(9)
    order_x, order_y = generator.permutation(10), generator.permutation(10)
    X0, X1, Y0 = X[order_x[:5]], X[order_x[5:]], Y[order_y[:5]]
    norm = lambda a: np.linalg.norm(a, axis=1)  # noqa: E731
    expected = np.mean(norm(Y0 - X0) - norm(X0 - X1) + norm(Y0 - X1))
    assert float(cramer_paired_value_and_grad(X, Y, rng=9)[0]) == pytest.approx(expected, rel=1e-13)


def test_paired_and_halves_estimators_have_the_same_expectation():
    """Both estimate 2 E|X - Y| - E|X - X'| (the halves one minus the constant E|Y - Y'|)."""
    from ppm_array.experiments.losses import cramer_paired_value_and_grad

    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(400, 2)), rng.normal(size=(400, 2)) + 1.0
    paired = np.mean([float(cramer_paired_value_and_grad(X, Y, rng=k)[0]) for k in range(400)])
    halves = np.mean([float(energy_distance_value_and_grad(X, Y, rng=k)[0]) for k in range(50)])
    within_y = np.mean(np.linalg.norm(Y[:, None] - Y[None], axis=-1)) * 400 / 399
    assert paired - within_y == pytest.approx(halves, abs=0.02)

"""The experiments behind the command line: PD distance, PD-Reg, W-PPM-Reg, shape matching."""

from __future__ import annotations

import numpy as np
import pytest
import ripser
from gudhi.wasserstein import wasserstein_distance
from builders import blob_and_circle
from oracles import central_difference

from ppm_array.experiments.diagrams import birth_death, critical_diagrams, pd_reg_value_and_grad
from ppm_array.experiments.metrics import birth_death_diagrams, diagram_distance
from ppm_array.experiments.shape_matching import (ShapeMatchingConfig, distances_under, late_mean, reference_for,
                                                  run_arm, run_seed)
from ppm_array.experiments.shapes import reference_shape
from ppm_array.experiments.timing import w_ppm_reg_value_and_grad


def clouds(seed=0, n_points=60):
    return blob_and_circle(n_points, n_points, seed, noise=0.05)


def finite(diagram):
    return diagram[np.isfinite(diagram[:, 1])]


def test_w2_sum_and_paper_metrics_equal_ripser_and_gudhi():
    """Diagrams from an independent library (ripser.py) give the same distances."""
    X, Y = clouds()
    dgm_x, dgm_y = ripser.ripser(X)["dgms"], ripser.ripser(Y)["dgms"]
    reference = birth_death_diagrams(Y)
    # ripser.py computes in float32; ours recomputes births and deaths in float64.
    w2_sum = sum(wasserstein_distance(finite(a), finite(b), order=2, internal_p=2) for a, b in zip(dgm_x, dgm_y))
    assert diagram_distance(X, reference, "w2-sum") == pytest.approx(w2_sum, rel=1e-5)
    paper = wasserstein_distance(dgm_x[1], dgm_y[1], order=2, internal_p=np.inf)
    assert diagram_distance(X, reference, "paper") == pytest.approx(paper, rel=1e-5)
    for metric in ("paper", "published", "w2-sum"):
        assert diagram_distance(Y, reference, metric) == 0.0


def test_critical_edges_give_ripsers_diagrams_on_clouds_of_the_experiments_size():
    """The births and deaths recomputed from giotto-ph's critical edges are ripser.py's diagrams, call after call,
    at the shape-matching size (512 points), where two giotto-ph threads returned wrong dimension-1 edges in about
    half the calls."""
    def sort(diagram):
        return diagram[np.lexsort(diagram.T[::-1])]

    for seed in range(4):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(512, 2)) if seed % 2 else reference_shape("circle", 512, 0.05, rng)
        expected = [sort(finite(diagram).astype(np.float64)) for diagram in ripser.ripser(X)["dgms"]]
        for _ in range(3):
            for got, want in zip(birth_death_diagrams(X), expected):
                assert got.shape == want.shape
                np.testing.assert_allclose(sort(got), want, rtol=1e-6)  # ripser.py computes in float32


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_published_metric_equals_torch_topological(seed):
    """The published script's metric: torch-topological's WassersteinDistance(p=2) between its
    VietorisRipsComplex(dim=1) diagrams of the two clouds' distance matrices."""
    torch = pytest.importorskip("torch")
    topological = pytest.importorskip("torch_topological.nn")
    X, Y = clouds(seed, 50)
    X, Y = torch.asarray(X), torch.asarray(Y)
    complex_ = topological.VietorisRipsComplex(dim=1)
    expected = topological.WassersteinDistance(p=2)(complex_(torch.cdist(X, X), treat_as_distances=True),
                                                    complex_(torch.cdist(Y, Y), treat_as_distances=True))
    got = diagram_distance(X.numpy(), birth_death_diagrams(Y.numpy()), "published")
    assert got == pytest.approx(float(expected), rel=1e-6)  # torch-topological weighs the transport in float32


def test_pd_reg_gradient_matches_one_sided_differences():
    """PD-Reg is piecewise smooth; where the pairing changes one side jumps, so each
    coordinate must match at least one one-sided difference."""
    X, Y = clouds(1)
    reference = critical_diagrams(Y)
    value, grad = pd_reg_value_and_grad(X, reference)
    eps = 1e-7
    for i, k in [(0, 0), (5, 1), (17, 0), (33, 1), (50, 0)]:
        plus, minus = X.copy(), X.copy()
        plus[i, k] += eps
        minus[i, k] -= eps
        sides = ((pd_reg_value_and_grad(plus, reference)[0] - value) / eps,
                 (value - pd_reg_value_and_grad(minus, reference)[0]) / eps)
        assert min(abs(side - grad[i, k]) for side in sides) <= 1e-4 * max(1.0, abs(grad[i, k]))


def test_w_ppm_reg_gradient_matches_finite_differences():
    X, Y = clouds(2, 30)
    options = dict(dims=(0, 1), weights=(1.0, 10.0), n_subsamples=80)
    _, grad = w_ppm_reg_value_and_grad(X, Y, rng=np.random.default_rng(3), **options)
    numeric = central_difference(lambda x: w_ppm_reg_value_and_grad(x, Y, rng=np.random.default_rng(3), **options)[0], X)
    assert np.max(np.abs(grad - numeric)) <= 1e-6 * np.max(np.abs(numeric))


def test_short_shape_matching_run_is_deterministic_shares_noise_and_moves_towards_the_circle():
    config = ShapeMatchingConfig(n_points=64, steps=200, eval_every=50, n_subsamples=200, metric="w2-sum")
    _, first = run_seed(config)
    _, second = run_seed(config)
    plain, regularized = first
    assert regularized.steps == [0, 50, 100, 150, 200]
    assert regularized.distances == second[1].distances
    # Both arms start from the same cloud and see the same main-loss noise: at step 0 they agree.
    assert plain.distances[0] == regularized.distances[0] and plain.main_losses[0] == regularized.main_losses[0]
    assert plain.ppm_values[0] == regularized.ppm_values[0] and len(plain.ppm_terms[0]) == 2
    # The PD distance rises during the first few hundred steps (as in the paper's runs), so
    # "moves towards the circle" is checked on the radius: it starts near 0.38.
    radius = np.linalg.norm(regularized.cloud, axis=1)
    assert abs(np.mean(radius) - 1) < 0.3


def test_recorded_clouds_give_the_recorded_distances_under_any_metric():
    config = ShapeMatchingConfig(n_points=48, steps=60, eval_every=20, n_subsamples=100, metric="published")
    reference, (plain, _) = run_seed(config)
    assert len(plain.clouds) == len(plain.diagrams) == len(plain.steps) == 4
    diagrams = birth_death_diagrams(reference)
    np.testing.assert_allclose(distances_under(plain, diagrams, "published"), plain.distances, rtol=1e-12)
    paper = distances_under(plain, diagrams, "paper")
    assert late_mean(plain, paper) == pytest.approx(np.mean(paper))  # runs shorter than step 400: all evaluations
    assert paper != pytest.approx(plain.distances)


def test_distances_from_recorded_diagrams_equal_those_recomputed_from_the_clouds(monkeypatch):
    """The cached path (each cloud's diagrams computed once while training, the reference's once for all losses)
    gives exactly the distances of recomputing every diagram per metric, as the table did before."""
    from ppm_array.experiments import metrics

    config = ShapeMatchingConfig(shape="two-circles", n_points=40, steps=30, eval_every=10, n_subsamples=60)
    reference, reference_diagrams = reference_for(config)
    other_loss = reference_for(ShapeMatchingConfig(shape="two-circles", n_points=40, loss="mmd", metric="w2-sum"))
    np.testing.assert_array_equal(other_loss[0], reference)  # the reference depends on shape and seed only
    calls = []
    compute = metrics.critical_diagrams
    monkeypatch.setattr(metrics, "critical_diagrams", lambda X: calls.append(len(X)) or compute(X))
    run = run_arm(config, reference, True, reference_diagrams)
    assert calls == [40] * 4  # one persistence computation per evaluation (steps 0, 10, 20, 30), none of the reference
    cached = {metric: distances_under(run, reference_diagrams, metric) for metric in ("paper", "published", "w2-sum")}
    assert calls == [40] * 4  # every metric from the recorded diagrams
    monkeypatch.setattr(metrics, "critical_diagrams", compute)
    fresh_reference = [birth_death(sample) for sample in critical_diagrams(reference)]
    for metric, distances in cached.items():
        assert distances == [diagram_distance(cloud, fresh_reference, metric) for cloud in run.clouds], metric
    assert cached["paper"] == run.distances  # the training metric too


@pytest.mark.parametrize("shape", ["circle", "two-circles", "boxplus", "sphere"])
def test_reference_shapes(shape):
    points = reference_shape(shape, 400, 0.0, np.random.default_rng(0))
    if shape == "circle":
        np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0)
    elif shape == "two-circles":
        np.testing.assert_allclose(np.linalg.norm(points[:200] - [0.5, 0], axis=1), 1.0)
        np.testing.assert_allclose(np.linalg.norm(points[200:] + [0.5, 0], axis=1), 1.0)
    elif shape == "boxplus":
        assert np.all(np.isin(points[:200, 1], [-1.0, 0.0, 1.0])) and np.all(np.abs(points[:200, 0]) <= 1)
        assert np.all(np.isin(points[200:, 0], [-1.0, 0.0, 1.0])) and np.all(np.abs(points[200:, 1]) <= 1)
    else:
        assert points.shape == (400, 3)
        np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0)


def test_each_timed_row_trains_with_its_regularizer():
    """The "none" row is plain SGD on the Cramér loss (checked against a loop written here); every other row
    adds its regularizer, so its cloud ends elsewhere."""
    from ppm_array.experiments.losses import cramer_paired_value_and_grad
    from ppm_array.experiments.timing import _time_steps

    config = ShapeMatchingConfig(n_points=32)
    rng = np.random.default_rng(0)
    reference = reference_shape(config.shape, 32, config.noise, rng)
    X = 0.3 * rng.normal(size=reference.shape)
    velocity = np.zeros_like(X)
    for _ in range(3):
        velocity = config.momentum * velocity + config.main_loss_weight * cramer_paired_value_and_grad(X, reference, rng=rng)[1]
        X = X - config.learning_rate * velocity
    seconds, plain = _time_steps("none", 32, 64, 3)
    assert seconds > 0
    np.testing.assert_allclose(plain, X, rtol=1e-12)
    for method in ("PPM-Reg", "W-PPM-Reg", "PD-Reg"):
        _, regularized = _time_steps(method, 32, 64, 3)
        assert np.all(np.isfinite(regularized)) and np.max(np.abs(regularized - plain)) > 1e-6, method


def test_published_classifier_has_the_authors_layers():
    """SSL/Model.py's f2cModel(512): 64 -> 512 (bias) -> 512 -> 512 (no biases) -> 10 (bias), leaky ReLU 0.1
    after each of the first three layers, log-probabilities out."""
    torch = pytest.importorskip("torch")
    from ppm_array.experiments.semi_supervised import SemiSupervisedConfig, published_classifier

    model = published_classifier(SemiSupervisedConfig())
    linear = [layer for layer in model if isinstance(layer, torch.nn.Linear)]
    assert [tuple(layer.weight.shape) for layer in linear] == [(512, 64), (512, 512), (512, 512), (10, 512)]
    assert [layer.bias is not None for layer in linear] == [True, False, False, True]
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == ["Linear", "LeakyReLU"] * 3 + ["Linear", "LogSoftmax"]
    assert all(layer.negative_slope == 0.1 for layer in model if isinstance(layer, torch.nn.LeakyReLU))
    with torch.no_grad():
        log_probabilities = model(torch.randn(5, 64))
    torch.testing.assert_close(log_probabilities.exp().sum(dim=1), torch.ones(5))


def test_selection_scores_only_the_evaluated_epochs_and_keeps_the_first_best():
    from ppm_array.experiments.semi_supervised import train_and_select

    trained = []
    accuracy = {1: 0.2, 21: 0.7, 41: 0.7, 61: 0.5}  # a 0.9 at epoch 30 is never evaluated, so never seen

    def train_epoch():
        trained.append(len(trained) + 1)

    def score():
        value = accuracy.get(trained[-1], 0.9)
        return value, value

    assert train_and_select(train_epoch, score, 70, range(1, 71, 20)) == (21, 0.7)
    assert trained == list(range(1, 71))  # every epoch trained, whether evaluated or not


def test_published_classifier_run_reports_the_best_test_accuracy_of_every_twentieth_epoch(monkeypatch):
    """A tiny separable data set: batches of 8 from 20 labels (the partial batch dropped: 2 steps an epoch), the
    test set scored after epochs 1, 21 and 41 of 45, and the run reports the best of those scores."""
    torch = pytest.importorskip("torch")
    from ppm_array.experiments import semi_supervised as ssl

    rng = np.random.default_rng(0)
    centres = 4 * rng.normal(size=(10, 64)).astype(np.float32)
    labels = np.arange(40) % 10
    images = centres[labels] + rng.normal(size=(40, 64)).astype(np.float32)
    config = ssl.SemiSupervisedConfig(published_width=32, published_epochs=45, published_batch=8,
                                      published_learning_rate=1e-2)
    batch_sizes, scores = [], []
    build, score = ssl.published_classifier, ssl._accuracy

    def counted_classifier(config):
        model = build(config)
        model.register_forward_pre_hook(lambda module, inputs: batch_sizes.append(len(inputs[0])))
        return model

    monkeypatch.setattr(ssl, "published_classifier", counted_classifier)
    monkeypatch.setattr(ssl, "_accuracy", lambda *args: scores.append(score(*args)) or scores[-1])
    result = ssl.train_published_classifier(config, torch.nn.Identity(), (images[:20], labels[:20]),
                                            (images[20:], labels[20:]), seed=0, arm="cramer", run=3)
    assert batch_sizes.count(8) == 2 * 45 and batch_sizes.count(20) == len(scores) == 3
    assert result.test_accuracy == max(scores) > 0.5 and result.epoch in (1, 21, 41)
    assert scores[[1, 21, 41].index(result.epoch)] == max(scores)
    assert (result.protocol, result.arm, result.run) == ("published", "cramer", 3)
    assert np.isnan(result.validation_accuracy)


def test_paired_interval_is_the_t_interval():
    from ppm_array.experiments.semi_supervised_report import paired_interval

    low, high = paired_interval(np.array([1.0, 2.0, 3.0]))  # mean 2, std 1, t(0.975, 2) = 4.3027
    assert (low, high) == pytest.approx((2 - 4.302653 / np.sqrt(3), 2 + 4.302653 / np.sqrt(3)))


def test_pretraining_with_ppm_reg_leaves_torch_threads_as_it_found_them():
    """Numba's kernels set the OpenMP thread count torch reads; a classifier after them must keep the caller's."""
    torch = pytest.importorskip("torch")
    from dataclasses import replace

    from ppm_array.experiments import semi_supervised as ssl

    quick = ssl.SemiSupervisedConfig.quick()
    config = replace(quick, gan=replace(quick.gan, steps=2))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ssl.pretrain(config, ssl.load_digits_splits(config, 0).unlabelled, 0, with_ppm=True)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)

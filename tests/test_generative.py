"""The generation experiment's parts: CMMD and WD against slow obvious versions, the shared Cramér GAN loop."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from ppm_array.experiments.embedding_metrics import cmmd, wasserstein


def slow_cmmd(x, y, estimator):
    """1000 * MMD^2 with exp(-|a - b|^2 / 200), one pair at a time (the within sums skip i = j when unbiased)."""
    def kernel(a, b):
        return math.exp(-sum((p - q) ** 2 for p, q in zip(a, b)) / (2 * 10.0**2))

    def within(z):
        pairs = [(i, j) for i in range(len(z)) for j in range(len(z)) if estimator == "v" or i != j]
        return sum(kernel(z[i], z[j]) for i, j in pairs) / len(pairs)

    across = sum(kernel(a, b) for a in x for b in y) / (len(x) * len(y))
    return 1000 * (within(x) + within(y) - 2 * across)


@pytest.mark.parametrize("estimator", ["u", "v"])
@pytest.mark.parametrize("sizes", [(5, 5), (7, 4), (3, 9)])
def test_cmmd_equals_the_pairwise_definition(estimator, sizes):
    rng = np.random.default_rng(sum(sizes))
    # Spread comparable to the kernel's sigma = 10, so that no term is trivially 0 or 1.
    x, y = 6 * rng.normal(size=(sizes[0], 3)), 6 * rng.normal(size=(sizes[1], 3)) + 2
    assert cmmd(x, y, estimator=estimator) == pytest.approx(slow_cmmd(x.tolist(), y.tolist(), estimator), rel=1e-10)


def test_cmmd_estimators_differ_by_the_diagonal_and_the_unbiased_one_centres_on_zero():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 8)), rng.normal(size=(30, 8))
    # The biased within means include n ones: V = (1 + (n - 1) U) / n for each set.
    gram = lambda z: np.exp(-cdist(z, z, "sqeuclidean") / 200)
    u_x, u_y = [(gram(z).sum() - len(z)) / (len(z) * (len(z) - 1)) for z in (x, y)]
    expected = 1000 * ((1 - u_x) / 40 + (1 - u_y) / 30)
    assert cmmd(x, y, estimator="v") - cmmd(x, y) == pytest.approx(expected, rel=1e-8)
    # Same distribution: the unbiased estimate averages to 0, the biased one stays above it.
    draws = [cmmd(rng.normal(size=(20, 8)), rng.normal(size=(20, 8))) for _ in range(200)]
    assert abs(np.mean(draws)) < 3 * np.std(draws) / np.sqrt(len(draws))


def brute_force_wasserstein(x, y):
    """W1 between uniform measures on n and m points: repeat each set to the least common multiple of the sizes,
    then the best of all one-to-one matchings (an optimal coupling of equal uniform masses is a permutation)."""
    size = math.lcm(len(x), len(y))
    x, y = np.repeat(x, size // len(x), axis=0), np.repeat(y, size // len(y), axis=0)
    cost = cdist(x, y)
    return min(cost[range(size), list(permutation)].mean() for permutation in itertools.permutations(range(size)))


@pytest.mark.parametrize("sizes", [(4, 4), (6, 6), (2, 3), (3, 6)])
def test_wasserstein_equals_the_best_matching_over_all_permutations(sizes):
    rng = np.random.default_rng(len(sizes) + sizes[0] * 10 + sizes[1])
    x, y = rng.normal(size=(sizes[0], 3)), rng.normal(size=(sizes[1], 3)) + 0.5
    assert wasserstein(x, y) == pytest.approx(brute_force_wasserstein(x, y), rel=1e-10)


def test_wasserstein_equals_the_optimal_assignment_and_is_a_distance():
    rng = np.random.default_rng(1)
    x, y, z = rng.normal(size=(40, 16)), rng.normal(size=(40, 16)) + 0.3, rng.normal(size=(40, 16))
    cost = cdist(x, y)
    rows, columns = linear_sum_assignment(cost)
    assert wasserstein(x, y) == pytest.approx(cost[rows, columns].mean(), rel=1e-10)
    assert wasserstein(x, x) == 0.0 and wasserstein(x, y) == pytest.approx(wasserstein(y, x), rel=1e-12)
    assert wasserstein(x, z) <= wasserstein(x, y) + wasserstein(y, z) + 1e-12


@pytest.mark.parametrize("bad", [np.zeros((1, 3)), np.zeros(4), np.array([[0.0, np.nan], [1.0, 1.0]])])
def test_metrics_refuse_what_is_not_a_finite_set_of_embeddings(bad):
    good = np.zeros((3, 2))
    for metric in (cmmd, wasserstein):
        with pytest.raises(ValueError, match="finite"):
            metric(bad, good)
    with pytest.raises(ValueError, match="same dimension"):
        cmmd(good, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="estimator"):
        cmmd(good, good, estimator="w")


def test_gan_applies_ppm_reg_in_every_step_of_its_arm_only(monkeypatch):
    """With PPM-Reg, the regularizer is called once per discriminator step and once per generator step, on the
    discriminator's latents of a real and a generated batch; without it, never. Both arms start from the same
    networks."""
    torch = pytest.importorskip("torch")
    import ppm_array.torch as pat
    from ppm_array.experiments.cramer_gan import CramerGANConfig, train_cramer_gan

    calls = []
    build = pat.PPMReg

    class Counted(build):
        def forward(self, X, Y):
            calls.append((tuple(X.shape), tuple(Y.shape)))
            return super().forward(X, Y)

    monkeypatch.setattr(pat, "PPMReg", Counted)
    config = CramerGANConfig(latent_dim=6, noise_dim=3, hidden=8, steps=3, critic_steps=4, batch=10,
                             ppm_subsamples=(32, 32))
    images = np.random.default_rng(0).random((50, 64), dtype=np.float32)
    threads = torch.get_num_threads()
    plain = train_cramer_gan(config, images, 0, with_ppm=False)
    assert calls == []
    regularized = train_cramer_gan(config, images, 0, with_ppm=True)
    assert calls == [((10, 6), (10, 6))] * (3 * (4 + 1))
    assert torch.get_num_threads() == threads
    untrained = [train_cramer_gan(CramerGANConfig(**{**config.__dict__, "steps": 0}), images, 0, with_ppm)
                 for with_ppm in (False, True)]
    for first, second in zip(untrained[0][1].parameters(), untrained[1][1].parameters()):
        torch.testing.assert_close(first, second, rtol=0, atol=0)
    moved = [not torch.equal(a, b) for a, b in zip(plain[1].parameters(), regularized[1].parameters())]
    assert any(moved)  # PPM-Reg's gradient reached the generator


def test_digits_embedding_classifies_held_out_digits_and_embeds_on_the_unit_sphere():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from ppm_array.experiments.digits import held_out_split, load_digits_images
    from ppm_array.experiments.digits_embedding import embed, train_digits_embedding

    images, labels = load_digits_images()
    held_out, train = held_out_split(len(images), 500)
    embedding = train_digits_embedding((images[train], labels[train]), (images[held_out], labels[held_out]),
                                       epochs=8)
    assert embedding.held_out_accuracy > 0.9  # chance is 0.1
    vectors = embed(embedding, images[held_out])
    assert vectors.shape == (500, 128) and vectors.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-12)
    # Digits of a class lie closer to each other than to other classes: what makes the distances meaningful.
    same = labels[held_out][:, None] == labels[held_out][None, :]
    similarity = vectors @ vectors.T
    assert similarity[same].mean() > similarity[~same].mean() + 0.2

"""The paper's semi-supervised experiment (Table 3) at a scale a CPU runs: scikit-learn's digits.

A Cramér GAN (:mod:`.cramer_gan`) whose discriminator maps 8 x 8 images to a 64-d latent is
trained on the unlabelled images, with or without PPM-Reg between the latents of real and
generated batches (added to the generator's loss, subtracted from the discriminator's). Its
frozen discriminator then feeds a linear classifier trained on 200 labels. Three arms:

``labels``
    the published baseline: discriminator and classifier trained from scratch on the
    200 labels alone;
``cramer``
    Cramér GAN pre-training, then the classifier on the frozen latents;
``cramer+ppm``
    the same with PPM-Reg during pre-training.

Each seed draws its own 200 labels (20 per class) and validation set from the images
outside a fixed test split, and its own initialisation; every arm of a seed sees the
same labels. Each frozen discriminator is pre-trained once per seed and then judged
under one or both protocols:

``ours``
    the linear probe above; its epoch is chosen by validation accuracy, and the test
    accuracy is read at that epoch only;
``published``
    the authors' ``SSL_class.py``: an MLP classifier (64 -> 512 -> 512 -> 512 -> 10) trained
    ``published_runs`` times, each run on its own draw of the labels, reporting the best test
    accuracy seen over evaluations every 20 epochs (this selects on the test set). The
    ``labels`` arm (the authors' ``Base_line.py``) is run under ``ours`` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .cramer_gan import CramerGANConfig, networks, train_cramer_gan
from .digits import held_out_split, load_digits_images

__all__ = [
    "ARMS",
    "DigitsSplits",
    "SemiSupervisedConfig",
    "SeedResult",
    "load_digits_splits",
    "published_classifier",
    "progress_steps",
    "run_seed",
    "train_and_select",
    "train_published_classifier",
]

ARMS = ("labels", "cramer", "cramer+ppm")
PRETRAINED_ARMS = (("cramer", False), ("cramer+ppm", True))


@dataclass(frozen=True)
class SemiSupervisedConfig:
    """Sizes and schedules for the digits (1,797 images); ``quick()`` is a smoke-test version."""

    n_labels: int = 200
    n_validation: int = 300
    n_test: int = 500
    # The pre-training: Cramér GAN's defaults (one discriminator step per generator step, one learning rate; the
    # published PPM-Reg weights (1, 90) with trade-off 0.05, docs/choosing_parameters.md).
    gan: CramerGANConfig = field(default_factory=CramerGANConfig)
    classifier_epochs: int = 300
    classifier_learning_rate: float = 1e-2
    validate_every: int = 10
    # The published protocol (SSL_class.py and its shell scripts): Adam (1e-4, betas 0.1, 0.99), batches of
    # 2 x 96 labelled images (the last, partial one dropped), 2,000 epochs, the test set every 20 epochs.
    published_runs: int = 10
    published_width: int = 512
    published_epochs: int = 2000
    published_batch: int = 192
    published_learning_rate: float = 1e-4
    published_betas: tuple = (0.1, 0.99)
    published_test_every: int = 20

    @classmethod
    def quick(cls) -> SemiSupervisedConfig:
        return cls(
            gan=CramerGANConfig(steps=60, ppm_subsamples=(256, 512)),
            classifier_epochs=40,
            published_runs=2,
            published_epochs=41,
        )


@dataclass
class SeedResult:
    """One classifier run of one arm, seed and protocol: the chosen epoch's validation accuracy (NaN under
    ``published``, which has none) and test accuracy."""

    arm: str
    seed: int
    validation_accuracy: float
    test_accuracy: float
    epoch: int
    protocol: str = "ours"
    run: int = 0


class DigitsSplits(NamedTuple):
    """Images (float32, ``(n, 64)`` in [0, 1]) and labels (int64) of one seed's splits."""

    unlabelled: np.ndarray
    unlabelled_labels: np.ndarray  # never trained on; the published protocol draws each run's labels by them
    labelled: tuple
    validation: tuple
    test: tuple


def _first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Positions of the first ``per_class`` entries of each of the ten classes in ``labels``."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(10)])


def load_digits_splits(config: SemiSupervisedConfig, seed: int) -> DigitsSplits:
    """The unlabelled pool, ``(labelled images, labels)``, ``(validation images, labels)``, ``(test images, labels)``.

    The test split is the same for every seed; the labels (``n_labels / 10`` per class)
    and the validation set are drawn per seed from the rest, and the GAN trains on the
    images that are neither test nor validation (the labelled ones included, without labels).
    """
    images, labels = load_digits_images()
    test, rest = held_out_split(len(images), config.n_test)
    rng = np.random.default_rng([seed, 7])
    rest = rng.permutation(rest)
    validation, pool = rest[: config.n_validation], rest[config.n_validation :]
    labelled = pool[_first_per_class(labels[pool], config.n_labels // 10)]
    return DigitsSplits(
        images[pool],
        labels[pool],
        (images[labelled], labels[labelled]),
        (images[validation], labels[validation]),
        (images[test], labels[test]),
    )


def pretrain(config: SemiSupervisedConfig, unlabelled: np.ndarray, seed: int, with_ppm: bool, progress=None):
    """A Cramér GAN on ``unlabelled`` (:mod:`.cramer_gan`); returns its discriminator (the latent map)."""
    discriminator, _ = train_cramer_gan(config.gan, unlabelled, seed, with_ppm, progress)
    return discriminator


def _accuracy(model, images, labels) -> float:
    import torch

    with torch.no_grad():
        return float((model(torch.tensor(images)).argmax(dim=1) == torch.tensor(labels)).float().mean())


def train_and_select(train_epoch, score, n_epochs: int, evaluated_epochs) -> tuple[int, Any]:
    """Call ``train_epoch()`` ``n_epochs`` times; after each epoch in ``evaluated_epochs`` (counted from 1) call
    ``score() -> (criterion, payload)``. Returns the epoch and payload of the first highest criterion."""
    evaluated = set(evaluated_epochs)
    best_criterion, best = -math.inf, (0, None)
    for epoch in range(1, n_epochs + 1):
        train_epoch()
        if epoch in evaluated:
            criterion, payload = score()
            if criterion > best_criterion:
                best_criterion, best = criterion, (epoch, payload)
    return best


def train_classifier(
    config: SemiSupervisedConfig, features, labelled, validation, test, seed: int, arm: str
) -> SeedResult:
    """A linear classifier on ``features`` (a frozen latent map), or, with ``features=None``, a fresh
    discriminator and the classifier trained together on the labels; the epoch of the best validation
    accuracy, and the test accuracy there."""
    import torch

    torch.manual_seed(seed + 1)
    if features is None:
        features, _ = networks(config.gan)
        trainable = features
    else:
        trainable = None
    with torch.no_grad():
        latents = features(torch.tensor(labelled[0]))
        centre, spread = latents.mean(dim=0), latents.std(dim=0) + 1e-6
    classifier = torch.nn.Linear(config.gan.latent_dim, 10)

    def model(x):
        return classifier((features(x) - centre) / spread)

    parameters = list(classifier.parameters()) + ([] if trainable is None else list(trainable.parameters()))
    optimiser = torch.optim.Adam(parameters, lr=config.classifier_learning_rate)
    x, y = torch.tensor(labelled[0]), torch.tensor(labelled[1])

    def train_epoch():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    def score():
        validation_accuracy = _accuracy(model, *validation)
        return validation_accuracy, (validation_accuracy, _accuracy(model, *test))

    evaluated = {
        *range(config.validate_every, config.classifier_epochs + 1, config.validate_every),
        config.classifier_epochs,
    }
    epoch, (validation_accuracy, test_accuracy) = train_and_select(
        train_epoch, score, config.classifier_epochs, evaluated
    )
    return SeedResult(arm, seed, validation_accuracy, test_accuracy, epoch)


def published_classifier(config: SemiSupervisedConfig):
    """The authors' classifier on the latents (``f2cModel(512)`` of ``SSL/Model.py``): linear
    ``latent_dim -> width`` with bias, two ``width -> width`` without, ``width -> 10`` with bias, a leaky ReLU
    (slope 0.1) after each of the first three, and log-probabilities out."""
    import torch

    width = config.published_width
    return torch.nn.Sequential(
        torch.nn.Linear(config.gan.latent_dim, width),
        torch.nn.LeakyReLU(0.1),
        torch.nn.Linear(width, width, bias=False),
        torch.nn.LeakyReLU(0.1),
        torch.nn.Linear(width, width, bias=False),
        torch.nn.LeakyReLU(0.1),
        torch.nn.Linear(width, 10),
        torch.nn.LogSoftmax(dim=1),
    )


def train_published_classifier(
    config: SemiSupervisedConfig, features, labelled, test, seed: int, arm: str, run: int, progress=None
) -> SeedResult:
    """One run of ``SSL_class.py`` on the frozen latent map ``features``: the published classifier trained with
    negative log-likelihood on shuffled batches of the labels (the last, partial batch dropped), Adam; the
    test accuracy after epochs 1, 21, 41, ... (every ``published_test_every``), and the best of them."""
    import torch

    torch.manual_seed(seed * 1000 + run + 2)  # by seed and run only: both arms' run r start alike
    classifier = published_classifier(config)
    optimiser = torch.optim.Adam(
        classifier.parameters(), lr=config.published_learning_rate, betas=config.published_betas
    )
    with torch.no_grad():  # the latent map is frozen: its latents are computed once
        latents = features(torch.tensor(labelled[0]))
    targets = torch.tensor(labelled[1])
    n_batches = len(targets) // config.published_batch
    if n_batches == 0:
        raise ValueError(f"{len(targets)} labels do not fill one batch of {config.published_batch}")

    def train_epoch():
        order = torch.randperm(len(targets))
        for batch in order[: n_batches * config.published_batch].view(n_batches, -1):
            loss = torch.nn.functional.nll_loss(classifier(latents[batch]), targets[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if progress is not None:
            progress()

    def score():
        accuracy = _accuracy(lambda x: classifier(features(x)), *test)
        return accuracy, accuracy

    evaluated = range(1, config.published_epochs + 1, config.published_test_every)
    epoch, test_accuracy = train_and_select(train_epoch, score, config.published_epochs, evaluated)
    return SeedResult(arm, seed, math.nan, test_accuracy, epoch, "published", run)


def _published_runs(
    config: SemiSupervisedConfig, features, splits: DigitsSplits, seed: int, arm: str, progress=None
) -> list[SeedResult]:
    """``published_runs`` runs of the published classifier, each on its own draw of ``n_labels`` labels from the
    unlabelled pool (as ``SSL_class.py`` redraws them); run ``r`` draws the same labels for every arm."""
    results = []
    for run in range(config.published_runs):
        order = np.random.default_rng([seed, 13, run]).permutation(len(splits.unlabelled))
        chosen = order[_first_per_class(splits.unlabelled_labels[order], config.n_labels // 10)]
        labelled = (splits.unlabelled[chosen], splits.unlabelled_labels[chosen])
        results.append(train_published_classifier(config, features, labelled, splits.test, seed, arm, run, progress))
    return results


def progress_steps(config: SemiSupervisedConfig, protocols) -> int:
    """How many times :func:`run_seed` calls ``progress``: GAN steps, then published classifier epochs."""
    published = "published" in protocols
    return len(PRETRAINED_ARMS) * (config.gan.steps + published * config.published_runs * config.published_epochs)


def run_seed(config: SemiSupervisedConfig, seed: int, progress=None, protocols=("ours",)) -> list[SeedResult]:
    """The arms of one seed on the same splits: each discriminator is pre-trained once and judged under every
    protocol in ``protocols`` (``"ours"``: the three arms; ``"published"``: the two pre-trained ones)."""
    splits = load_digits_splits(config, seed)
    results = []
    if "ours" in protocols:
        results.append(train_classifier(config, None, splits.labelled, splits.validation, splits.test, seed, "labels"))
    for arm, with_ppm in PRETRAINED_ARMS:
        features = pretrain(config, splits.unlabelled, seed, with_ppm, progress)
        if "ours" in protocols:
            results.append(
                train_classifier(config, features, splits.labelled, splits.validation, splits.test, seed, arm)
            )
        if "published" in protocols:
            results += _published_runs(config, features, splits, seed, arm, progress)
    return results

"""The paper's unconditional image generation (Section 6.3) at a scale a CPU runs: scikit-learn's digits.

Two arms per seed, trained from the same initialisation, batches and noise:

``none``
    a Cramér GAN (:mod:`.cramer_gan`);
``ppm-reg``
    the same with PPM-Reg between the discriminator's latents of a real and a generated
    batch, as the authors' ``UCIG/main_small.py`` applies it.

The settings follow ``main_small.py`` where the data allow: 5 discriminator steps per
generator step, Adam at 1e-4 with betas (0, 0.99) for the generator and (0.5, 0.99)
for the discriminator, PPM-Reg on 192 real and 192 generated latents with dims (0, 1),
weights (0.001, 0.6) (AnimeFace) and 1024 subsamples per dimension. Their width 1.0
(``h = sqrt(0.5)``) belongs to the scale of their latents, so the bandwidth follows
the data here (``"median"``).

Each generator is judged as the authors judge theirs (``UCIG/ComputeQualityWD.py``),
by CMMD and WD (:mod:`.embedding_metrics`) between the embeddings of generated and real
images, with a digits classifier (:mod:`.digits_embedding`) in place of CLIP. The
digits are split once: 1,297 training images (the GAN's data, unlabelled, and the
classifier's, labelled) and 500 held-out images, the real set every generator is
compared with. Each generator contributes as many samples as there are training images,
so the training images themselves, compared with the held-out ones, give the score of a
generator that reproduced its data exactly: the floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .cramer_gan import CramerGANConfig, train_cramer_gan
from .digits import held_out_split, load_digits_images
from .digits_embedding import DigitsEmbedding, embed, train_digits_embedding
from .embedding_metrics import cmmd, wasserstein

__all__ = [
    "ARMS",
    "GenerateConfig",
    "GenerationResult",
    "Reference",
    "prepare",
    "progress_steps",
    "run_seed",
    "sample_images",
    "scores",
]

ARMS = ("none", "ppm-reg")


def _published_gan() -> CramerGANConfig:
    return CramerGANConfig(
        latent_dim=64,
        noise_dim=16,
        hidden=128,
        steps=2000,
        critic_steps=5,
        batch=192,
        learning_rate=1e-4,
        generator_betas=(0.0, 0.99),
        discriminator_betas=(0.5, 0.99),
        ppm_weights=(0.001, 0.6),
        ppm_bandwidth="median",
        ppm_subsamples=(1024, 1024),
    )


@dataclass(frozen=True)
class GenerateConfig:
    """The experiment's settings; ``quick()`` is a smoke-test version."""

    n_held_out: int = 500
    gan: CramerGANConfig = field(default_factory=_published_gan)
    embedding_epochs: int = 60
    embedding_seed: int = 0
    n_shown: int = 64  # samples per arm kept for the figure
    late_steps: int = 200  # the generator's loss terms are averaged over its last steps, to show their sizes

    @classmethod
    def quick(cls) -> GenerateConfig:
        from dataclasses import replace

        return cls(gan=replace(_published_gan(), steps=10, ppm_subsamples=(256, 256)), embedding_epochs=5)


class Scores(NamedTuple):
    """CMMD (unbiased, and the reference code's biased estimator) and WD of one set of images."""

    cmmd: float
    cmmd_biased: float
    wd: float


class Reference(NamedTuple):
    """What every seed shares: the split, the embedding network, the held-out embeddings and the floor."""

    train: np.ndarray
    held_out: np.ndarray
    embedding: DigitsEmbedding
    held_out_embeddings: np.ndarray
    floor: Scores


@dataclass
class GenerationResult:
    """One arm of one seed: its scores against the held-out digits, a few of its samples, and the two terms of its
    generator's objective (Cramér loss, PPM-Reg; NaN in the ``none`` arm) averaged over the last steps."""

    arm: str
    seed: int
    scores: Scores
    samples: np.ndarray  # (n_shown, 64) in [0, 1]
    cramer_loss: float = math.nan
    ppm_reg: float = math.nan


def scores(embeddings: np.ndarray, reference_embeddings: np.ndarray) -> Scores:
    """CMMD (both estimators) and WD between two sets of embeddings."""
    return Scores(
        cmmd(embeddings, reference_embeddings),
        cmmd(embeddings, reference_embeddings, estimator="v"),
        wasserstein(embeddings, reference_embeddings),
    )


def prepare(config: GenerateConfig, progress=None) -> Reference:
    """Split the digits, train the embedding classifier (``progress`` once per epoch), embed the held-out digits
    and score the training digits against them."""
    images, labels = load_digits_images()
    held_out, train = held_out_split(len(images), config.n_held_out)
    embedding = train_digits_embedding(
        (images[train], labels[train]),
        (images[held_out], labels[held_out]),
        epochs=config.embedding_epochs,
        seed=config.embedding_seed,
        progress=progress,
    )
    held_out_embeddings = embed(embedding, images[held_out])
    floor = scores(embed(embedding, images[train]), held_out_embeddings)
    return Reference(images[train], images[held_out], embedding, held_out_embeddings, floor)


def sample_images(generator, n: int, noise_dim: int, seed: int) -> np.ndarray:
    """``n`` images from ``generator``, from noise drawn by ``seed`` alone (both arms of a seed get the same)."""
    import torch

    noise = np.random.default_rng([seed, 17]).standard_normal((n, noise_dim)).astype(np.float32)
    with torch.no_grad():
        return generator(torch.as_tensor(noise)).numpy()


def progress_steps(config: GenerateConfig) -> int:
    """How many times :func:`run_seed` calls ``progress``: generator steps, both arms."""
    return len(ARMS) * config.gan.steps


def run_seed(config: GenerateConfig, reference: Reference, seed: int, progress=None) -> list[GenerationResult]:
    """Both arms of ``seed``: train each GAN on the training digits, draw as many images as there are, score them."""
    results = []
    for arm in ARMS:
        losses: list[Any] = []
        _, generator = train_cramer_gan(config.gan, reference.train, seed, arm == "ppm-reg", progress, losses)
        images = sample_images(generator, len(reference.train), config.gan.noise_dim, seed)
        cramer_loss, ppm_reg = np.mean(losses[-config.late_steps :], axis=0)
        results.append(
            GenerationResult(
                arm,
                seed,
                scores(embed(reference.embedding, images), reference.held_out_embeddings),
                images[: config.n_shown],
                float(cramer_loss),
                float(ppm_reg),
            )
        )
    return results

"""A Cramér GAN on flattened images, with or without PPM-Reg on the discriminator's latents.

Shared by the semi-supervised experiment (whose frozen discriminator is the product)
and the generation experiment (whose generator is). The discriminator ``h`` maps an
image to a latent vector; the critic is that of Bellemare et al. (2017),
``f(x) = |h(x) - h(x'_g)| - |h(x)|`` with ``x'_g`` an independent generated batch,
with a gradient penalty on interpolates between real and generated images.

PPM-Reg enters as in the authors' code (``SSL/SSL_gen.py``, ``UCIG/main_small.py``):
between the latents of a real and a generated batch, subtracted from the
discriminator's loss (it looks for latents whose topology tells real from generated)
and added to the generator's. Each generator step follows ``critic_steps``
discriminator steps (the authors update the generator at every sixth iteration: 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CramerGANConfig", "networks", "train_cramer_gan"]


@dataclass(frozen=True)
class CramerGANConfig:
    """Sizes, schedule and PPM-Reg settings of one Cramér GAN training run."""

    image_dim: int = 64
    latent_dim: int = 64
    noise_dim: int = 16
    hidden: int = 128
    steps: int = 2000  # generator steps
    critic_steps: int = 1  # discriminator steps before each generator step
    batch: int = 128
    learning_rate: float = 2e-4
    generator_betas: tuple = (0.5, 0.9)
    discriminator_betas: tuple = (0.5, 0.9)
    gradient_penalty: float = 10.0
    ppm_weights: tuple = (0.05, 4.5)
    ppm_bandwidth: float | str = "median"
    ppm_subsamples: tuple = (1024, 4096)


def networks(config: CramerGANConfig):
    """A fresh ``(discriminator, generator)``: image -> hidden -> hidden -> latent (leaky ReLU), and
    noise -> hidden -> hidden -> image (ReLU, sigmoid output: pixels in [0, 1])."""
    import torch

    discriminator = torch.nn.Sequential(
        torch.nn.Linear(config.image_dim, config.hidden),
        torch.nn.LeakyReLU(0.2),
        torch.nn.Linear(config.hidden, config.hidden),
        torch.nn.LeakyReLU(0.2),
        torch.nn.Linear(config.hidden, config.latent_dim),
    )
    generator = torch.nn.Sequential(
        torch.nn.Linear(config.noise_dim, config.hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(config.hidden, config.hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(config.hidden, config.image_dim),
        torch.nn.Sigmoid(),
    )
    return discriminator, generator


def _critic(h, x, reference_fake):
    """The Cramér GAN critic ``f(x) = |h(x) - h(x'_g)| - |h(x)|`` (Bellemare et al. 2017)."""
    return (h(x) - h(reference_fake)).norm(dim=1) - h(x).norm(dim=1)


def train_cramer_gan(
    config: CramerGANConfig, images: np.ndarray, seed: int, with_ppm: bool, progress=None, losses: list | None = None
):
    """Train on ``images`` (float32, ``(n, image_dim)``) from ``seed``; returns ``(discriminator, generator)``,
    both frozen (no gradients, eval mode). ``progress`` is called once per generator step; ``losses``, if given,
    receives the two terms of each generator step's objective, ``(Cramér loss, PPM-Reg)`` (NaN without it).

    The two arms of a seed (``with_ppm`` False and True) start from the same networks and draw the same
    batches and noise: PPM-Reg's subsamples come from a generator of their own.
    """
    import torch

    import ppm_array.torch as pat

    threads = torch.get_num_threads()
    torch.manual_seed(seed)
    discriminator, generator = networks(config)
    optimise_d = torch.optim.Adam(discriminator.parameters(), lr=config.learning_rate, betas=config.discriminator_betas)
    optimise_g = torch.optim.Adam(generator.parameters(), lr=config.learning_rate, betas=config.generator_betas)
    regularizer = (
        pat.PPMReg(
            bandwidth=config.ppm_bandwidth, weights=config.ppm_weights, n_subsamples=config.ppm_subsamples, seed=seed
        )
        if with_ppm
        else None
    )
    data = torch.tensor(images)
    batches = np.random.default_rng([seed, 11])

    def sample():
        real = data[torch.as_tensor(batches.integers(0, len(data), config.batch))]
        noise = torch.randn(2, config.batch, config.noise_dim)
        return real, generator(noise[0]), generator(noise[1])

    for _ in range(config.steps):
        for _ in range(config.critic_steps):
            real, fake, other = sample()
            fake, other = fake.detach(), other.detach()
            surrogate = _critic(discriminator, real, other).mean() - _critic(discriminator, fake, other).mean()
            mix = torch.rand(config.batch, 1)
            between = (mix * real + (1 - mix) * fake).requires_grad_(True)
            slope = torch.autograd.grad(_critic(discriminator, between, other).sum(), between, create_graph=True)[0]
            loss_d = -surrogate + config.gradient_penalty * ((slope.norm(dim=1) - 1) ** 2).mean()
            if regularizer is not None:  # the discriminator looks for latents whose topology tells real from fake
                loss_d = loss_d - regularizer(discriminator(real), discriminator(fake))
            optimise_d.zero_grad()
            loss_d.backward()
            optimise_d.step()

        real, fake, other = sample()
        cramer = _critic(discriminator, real, other).mean() - _critic(discriminator, fake, other).mean()
        ppm = regularizer(discriminator(real), discriminator(fake)) if regularizer is not None else None
        loss_g = cramer if ppm is None else cramer + ppm
        if losses is not None:
            losses.append((float(cramer.detach()), math.nan if ppm is None else float(ppm.detach())))
        optimise_g.zero_grad()
        loss_g.backward()
        optimise_g.step()
        if progress is not None:
            progress()
    # PPM-Reg's Numba kernels set the OpenMP thread count that torch shares: restore the caller's (two threads
    # instead of one made the published classifier 8x slower here, 460 against 57 ms a step).
    torch.set_num_threads(threads)
    return discriminator.requires_grad_(False).eval(), generator.requires_grad_(False).eval()

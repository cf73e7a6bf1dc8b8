"""Shape matching (paper Section 6.2, Figure 2) with the library's explicit gradients.

A training cloud ``0.3 N(0, I)`` is pulled towards a reference shape by SGD with
momentum on a main loss (Cramér or RBF-MMD), with and without PPM-Reg, from the
same seed. Every ``eval_every`` steps the PD distance — the 2-Wasserstein distance
between the full Vietoris–Rips diagrams of dimensions 0 and 1, summed — between the
trained and the reference cloud is recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import ppm_reg_value_and_grad
from .losses import energy_distance_value_and_grad, rbf_mmd_value_and_grad
from .diagrams import critical_diagrams, pd_distance

__all__ = ["ShapeMatchingConfig", "TrainingRun", "reference_shape", "run_arm"]

SHAPES = ("circle", "two-circles")
LOSSES = ("cramer", "mmd")


@dataclass(frozen=True)
class ShapeMatchingConfig:
    """The paper's settings by default (Section 6.2 and Appendix E.1)."""

    shape: str = "circle"
    loss: str = "cramer"
    n_points: int = 512
    noise: float = 0.01
    steps: int = 2420
    eval_every: int = 20
    learning_rate: float = 0.05
    momentum: float = 0.9
    n_subsamples: int = 2000
    bandwidth: float = math.sqrt(0.05)
    dims: tuple = (0, 1)
    ppm_weights: tuple = (1.0, 6000.0)
    mmd_width: float = 0.1
    seed: int = 0

    @property
    def main_weight(self) -> float:
        return 1.6 if self.loss == "cramer" else 5.0

    def arms(self) -> tuple[str, str]:
        return self.loss, f"{self.loss}+ppm"


@dataclass
class TrainingRun:
    """One arm: its PD distance trace and final cloud."""

    arm: str
    steps: list = field(default_factory=list)
    pd_distances: list = field(default_factory=list)
    cloud: np.ndarray | None = None


def reference_shape(shape: str, n_points: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """A noisy unit circle, or two unit circles centred at (-0.5, 0) and (0.5, 0)."""
    angle = rng.uniform(0, 2 * np.pi, n_points)
    points = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    if shape == "two-circles":
        points[:, 0] += np.where(np.arange(n_points) % 2 == 0, -0.5, 0.5)
    return points + noise * rng.normal(size=points.shape)


def _main_loss_grad(config: ShapeMatchingConfig, X, Y, rng):
    if config.loss == "cramer":
        _, grad, _ = energy_distance_value_and_grad(X, Y, rng=rng)
    else:
        _, grad, _ = rbf_mmd_value_and_grad(X, Y, width=config.mmd_width)
    return config.main_weight * grad


def run_arm(config: ShapeMatchingConfig, reference: np.ndarray, with_ppm: bool, progress=None,
            reference_diagrams=None) -> TrainingRun:
    """Train one arm from the configuration's seed; ``progress`` is called once per step.

    ``reference_diagrams`` (from :func:`critical_diagrams` of ``reference``) may be
    passed to share them between arms.
    """
    if reference_diagrams is None:
        reference_diagrams = critical_diagrams(reference)
    # One stream per purpose, so both arms share the initial cloud and the main loss's noise at every step.
    init_rng, main_rng, ppm_rng = (np.random.default_rng(seed) for seed in np.random.SeedSequence([config.seed, 1]).spawn(3))
    X = 0.3 * init_rng.normal(size=reference.shape)
    velocity = np.zeros_like(X)
    run = TrainingRun(config.arms()[1 if with_ppm else 0])
    for step in range(config.steps + 1):
        if step % config.eval_every == 0 or step == config.steps:
            run.steps.append(step)
            run.pd_distances.append(pd_distance(X, reference_diagrams))
        if step == config.steps:
            break
        grad = _main_loss_grad(config, X, reference, main_rng)
        if with_ppm:
            _, grad_ppm, _ = ppm_reg_value_and_grad(
                X, reference, bandwidth=config.bandwidth, dims=config.dims, weights=config.ppm_weights,
                n_subsamples=config.n_subsamples, rng=ppm_rng)
            grad = grad + grad_ppm
        velocity = config.momentum * velocity + grad
        X = X - config.learning_rate * velocity
        if progress is not None:
            progress()
    run.cloud = X
    return run

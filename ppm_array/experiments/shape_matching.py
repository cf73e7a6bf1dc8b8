"""Shape matching (paper Section 6.2, Figure 2) with the library's explicit gradients.

A training cloud ``0.3 N(0, I)`` is pulled towards a reference shape by SGD with
momentum on a main loss (Cramér or RBF-MMD), with and without PPM-Reg. Both arms of
a seed start from the same cloud and see the same main-loss noise at every step:
each purpose draws from its own random stream (initial cloud, main loss, PPM-Reg's
subsamples, logging). Every ``eval_every`` steps a run records the distance between
the diagrams of the trained and the reference cloud (:mod:`.metrics`), the main loss,
and PPM-Reg's value and per-dimension terms (drawn from the logging stream, so both
arms are logged alike and training is not disturbed).

Persistence diagrams are the costly part of an evaluation, so each is computed once:
a run keeps its clouds' diagrams, and :func:`distances_under` evaluates any other
metric from them; a reference shape's diagrams (:func:`reference_for`) serve every
run against that shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import ppm_reg, ppm_reg_value_and_grad
from .losses import cramer_paired_value_and_grad, energy_distance_value_and_grad, rbf_mmd_value_and_grad
from .metrics import birth_death_diagrams, distance_between
from .shapes import reference_shape

__all__ = ["ShapeMatchingConfig", "TrainingRun", "distances_under", "late_mean", "reference_for", "run_arm", "run_seed"]
# The paper compares arms after the initial transient; late means average from this step on.
LATE_FROM_STEP = 400


@dataclass(frozen=True)
class ShapeMatchingConfig:
    """The paper's settings by default (Section 6.2 and Appendix E.1, and the published script)."""

    shape: str = "circle"
    loss: str = "cramer"
    cramer: str = "paired"
    metric: str = "paper"
    n_points: int = 512
    noise: float = 0.01
    steps: int = 2420
    eval_every: int = 20
    learning_rate: float = 0.05
    momentum: float = 0.9
    n_subsamples: int = 2000
    bandwidth: float | str = math.sqrt(0.05)
    dims: tuple = (0, 1)
    ppm_weights: tuple = (1.0, 6000.0)
    main_weight: float | None = None
    mmd_width: float = 0.1
    seed: int = 0

    @property
    def main_loss_weight(self) -> float:
        """The published script's weights unless set: 1.6 for Cramér, 5 for the RBF-MMD."""
        if self.main_weight is not None:
            return self.main_weight
        return 1.6 if self.loss == "cramer" else 5.0

    def arms(self) -> tuple[str, str]:
        return self.loss, f"{self.loss}+ppm"

    def ppm_options(self) -> dict:
        return dict(bandwidth=self.bandwidth, dims=self.dims, weights=self.ppm_weights, n_subsamples=self.n_subsamples)


@dataclass
class TrainingRun:
    """One arm of one seed: what it recorded at each evaluation, and its final cloud."""

    arm: str
    seed: int
    steps: list = field(default_factory=list)
    distances: list = field(default_factory=list)
    main_losses: list = field(default_factory=list)
    ppm_values: list = field(default_factory=list)
    ppm_terms: list = field(default_factory=list)
    clouds: list = field(default_factory=list)  # the cloud at each evaluation, for other metrics afterwards
    diagrams: list = field(default_factory=list)  # its diagrams (birth_death_diagrams), for other diagram metrics
    cloud: np.ndarray | None = None


def late_mean(run: TrainingRun, distances=None) -> float:
    """Mean distance over the evaluations from step ``LATE_FROM_STEP`` on (all of them for shorter runs): of
    the run's own metric, or of ``distances`` (one per evaluation, e.g. from :func:`distances_under`)."""
    steps = np.asarray(run.steps)
    values = np.asarray(run.distances if distances is None else distances)
    late = steps >= LATE_FROM_STEP
    return float(values[late].mean() if late.any() else values.mean())


def distances_under(run: TrainingRun, reference_diagrams, metric: str) -> list:
    """The distance under ``metric`` at each of the run's evaluations, from the diagrams it recorded (no
    persistence is recomputed)."""
    return [distance_between(diagrams, reference_diagrams, metric) for diagrams in run.diagrams]


def _main_loss(config: ShapeMatchingConfig, X, Y, rng):
    if config.loss == "mmd":
        value, grad, _ = rbf_mmd_value_and_grad(X, Y, width=config.mmd_width)
    elif config.cramer == "paired":
        value, grad, _ = cramer_paired_value_and_grad(X, Y, rng=rng)
    else:
        value, grad, _ = energy_distance_value_and_grad(X, Y, rng=rng)
    return config.main_loss_weight * float(value), config.main_loss_weight * grad


def _streams(seed: int):
    """Initial cloud, main loss, PPM-Reg subsamples, logging: independent, and the same in both arms."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 1]).spawn(4)]


def run_arm(
    config: ShapeMatchingConfig, reference: np.ndarray, with_ppm: bool, reference_diagrams, progress=None
) -> TrainingRun:
    """Train one arm from the configuration's seed against ``reference`` and its diagrams (from
    :func:`reference_for`); ``progress`` is called once per step."""
    init_rng, main_rng, ppm_rng, log_rng = _streams(config.seed)
    X = 0.3 * init_rng.normal(size=reference.shape)
    velocity = np.zeros_like(X)
    run = TrainingRun(config.arms()[1 if with_ppm else 0], config.seed)
    for step in range(config.steps + 1):
        evaluate = step % config.eval_every == 0 or step == config.steps
        main_value, grad = _main_loss(config, X, reference, main_rng)
        if evaluate:
            value, terms = ppm_reg(X, reference, rng=log_rng, return_terms=True, **config.ppm_options())
            run.steps.append(step)
            diagrams = birth_death_diagrams(X)
            run.distances.append(distance_between(diagrams, reference_diagrams, config.metric))
            run.clouds.append(X.copy())
            run.diagrams.append(diagrams)
            run.main_losses.append(main_value)
            run.ppm_values.append(float(value))
            run.ppm_terms.append(tuple(float(t) for t in terms.mmd))
        if step == config.steps:
            break
        if with_ppm:
            grad = grad + ppm_reg_value_and_grad(X, reference, rng=ppm_rng, **config.ppm_options())[1]
        velocity = config.momentum * velocity + grad
        X = X - config.learning_rate * velocity
        if progress is not None:
            progress()
    run.cloud = X
    return run


def reference_for(config: ShapeMatchingConfig):
    """The reference cloud of ``config`` and its diagrams (:func:`~.metrics.birth_death_diagrams`). It depends on
    the shape, size, noise and seed only, so configurations that differ in loss or metric share it."""
    reference = reference_shape(config.shape, config.n_points, config.noise, np.random.default_rng([config.seed, 0]))
    return reference, birth_death_diagrams(reference)


def run_seed(config: ShapeMatchingConfig, progress=None):
    """Both arms of ``config.seed``: the reference shape, and the (plain, regularized) runs."""
    reference, reference_diagrams = reference_for(config)
    return reference, [run_arm(config, reference, with_ppm, reference_diagrams, progress) for with_ppm in (False, True)]

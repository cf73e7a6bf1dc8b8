"""The paper's timing table (Table 1): 100 gradient steps of Cramér + regularizer.

Three regularizers, each with explicit gradients through the critical edges:

- PPM-Reg (ours): :func:`~ppm_array.ppm_reg_value_and_grad`.
- W-PPM-Reg: the squared 2-Wasserstein distance between the two PPMs as uniform
  measures on (birth, lifetime) points, by exact optimal transport (POT ``emd``);
  the gradient of each point is ``2 sum_j pi_ij (z_i - y_j)``.
- PD-Reg: the squared 2-Wasserstein distance between the full Vietoris–Rips
  diagrams (giotto-ph; gudhi's Wasserstein matching with POT); it does not depend on ``s``.

A row with the main loss alone shows how much of each time is the Cramér loss itself.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import ot

from .. import persistence_vjp, ppm_reg_value_and_grad, principal_persistence
from ._format import mean_std
from ._output import atomic_path
from .diagrams import critical_diagrams, pd_reg_value_and_grad
from .losses import cramer_paired_value_and_grad
from .shape_matching import ShapeMatchingConfig
from .shapes import reference_shape

__all__ = ["run_table", "w_ppm_reg_value_and_grad"]

METHODS = ("PPM-Reg", "W-PPM-Reg", "PD-Reg", "none")
# POT's default (1e5) stops the network simplex before optimality at s = 2048.
EMD_MAX_ITERATIONS = 10**8


def w_ppm_reg_value_and_grad(X, Y, *, dims, weights, n_subsamples, rng):
    """W-PPM-Reg value and gradient with respect to X (exact OT between the PPMs)."""
    value, grad = 0.0, np.zeros_like(X)
    for q, weight in zip(dims, weights):
        P = principal_persistence(X, q, n_subsamples=n_subsamples, rng=rng)
        Q = principal_persistence(Y, q, n_subsamples=n_subsamples, rng=rng)
        zp, zq = np.stack([P.birth, P.lifetime], 1), np.stack([Q.birth, Q.lifetime], 1)
        cost = ot.dist(zp, zq)
        plan = ot.emd(P.mass, Q.mass, cost, numItermax=EMD_MAX_ITERATIONS)
        value += weight * float(np.sum(plan * cost))
        grad_z = 2 * (zp * plan.sum(axis=1)[:, None] - plan @ zq)
        grad += weight * persistence_vjp(X, P, grad_z[:, 0], grad_z[:, 1])
    return value, grad


def _time_steps(method: str, n_points: int, n_subsamples: int, n_steps: int) -> tuple[float, np.ndarray]:
    """Seconds of ``n_steps`` SGD steps of Cramér + ``method``'s regularizer, and the cloud they reach."""
    config = ShapeMatchingConfig(n_points=n_points, n_subsamples=n_subsamples)
    rng = np.random.default_rng(0)
    reference = reference_shape(config.shape, n_points, config.noise, rng)
    reference_diagrams = critical_diagrams(reference) if method == "PD-Reg" else None
    X = 0.3 * rng.normal(size=reference.shape)
    velocity = np.zeros_like(X)
    start = time.perf_counter()
    for _ in range(n_steps):
        _, grad, _ = cramer_paired_value_and_grad(X, reference, rng=rng)
        grad = config.main_loss_weight * grad
        if method == "PPM-Reg":
            grad += ppm_reg_value_and_grad(
                X,
                reference,
                bandwidth=config.bandwidth,
                dims=config.dims,
                weights=config.ppm_weights,
                n_subsamples=n_subsamples,
                rng=rng,
            )[1]
        elif method == "W-PPM-Reg":
            grad += w_ppm_reg_value_and_grad(
                X, reference, dims=config.dims, weights=config.ppm_weights, n_subsamples=n_subsamples, rng=rng
            )[1]
        elif method == "PD-Reg":
            assert reference_diagrams is not None  # computed above for PD-Reg
            grad += pd_reg_value_and_grad(X, reference_diagrams)[1]
        velocity = config.momentum * velocity + grad
        X = X - config.learning_rate * velocity
    return time.perf_counter() - start, X


def run_table(out: Path, *, quick: bool = False, n_steps: int | None = None, repeats: int | None = None) -> str:
    """Time every (method, N, s) cell ``repeats`` times; return the markdown table (mean +- standard deviation
    over the repeats) and save ``bench.png`` in ``out``.

    The grid is N in {128, 256, 512, 1024} and s in {512, 1024, 2048}; ``quick`` keeps
    N in {128, 256} and s = 512. Each cell times ``n_steps`` steps (default 100, 10
    with ``quick``) and reports the time scaled to 100 steps. The repeats (default 3, 2
    with ``quick``) run the whole grid in turn, so that a slow spell of a shared machine
    spreads over all cells instead of inflating one. Every timed cell follows one
    untimed step of the same cell (a warm-up).
    """
    from tqdm import tqdm

    sizes = (128, 256) if quick else (128, 256, 512, 1024)
    subsamples = (512,) if quick else (512, 1024, 2048)
    n_steps = n_steps or (10 if quick else 100)
    repeats = repeats or (2 if quick else 3)
    cells: list[tuple[str, int, int | None]] = [
        (method, n_points, None) for n_points in sizes for method in METHODS[2:]
    ]
    cells += [(method, n_points, s) for n_points in sizes for s in subsamples for method in METHODS[:2]]  # by s
    seconds: dict[tuple[str, int, int | None], list[float]] = {cell: [] for cell in cells}
    # The bar moves between timed sections only, so it costs the clocks nothing.
    with tqdm(total=repeats * len(cells), desc="bench", unit="cell", file=sys.stderr) as bar:
        for _ in range(repeats):
            for method, n_points, s in cells:
                # One untimed step first: compilation, first imports and cold caches stay outside the clock.
                _time_steps(method, n_points, s or 0, 1)
                seconds[method, n_points, s].append(_time_steps(method, n_points, s or 0, n_steps)[0] * 100 / n_steps)
                bar.update()
    header = "| method | s | " + " | ".join(f"N={n}" for n in sizes) + " |"
    scaled = f", {n_steps} steps timed and scaled to 100" if n_steps != 100 else ""
    lines = [
        f"Wall time (s) of 100 gradient steps, Cramér + regularizer: mean +- standard deviation over "
        f"{repeats} repeats{scaled}",
        "",
        header,
        "|---|---:|" + "---:|" * len(sizes),
    ]
    for method in METHODS:
        for s in subsamples if method in METHODS[:2] else (None,):
            row = " | ".join(mean_std(seconds[method, n, s], digits=2, plus_minus="±") for n in sizes)
            name = "Cramér alone (no regularizer)" if method == "none" else method
            lines.append(f"| {name} | {s if s else '—'} | {row} |")
    _plot(out / "bench.png", seconds, sizes, subsamples)
    return "\n".join(lines)


def _plot(path: Path, seconds, sizes, subsamples) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for method in METHODS:
        for s in subsamples if method in METHODS[:2] else (None,):
            label = (method if method != "none" else "Cramér alone") if s is None else f"{method}, s={s}"
            times = [seconds[method, n, s] for n in sizes]
            axis.errorbar(
                sizes, [np.mean(t) for t in times], yerr=[np.std(t) for t in times], marker="o", capsize=2, label=label
            )
    axis.set(xscale="log", yscale="log", xlabel="N", ylabel="seconds per 100 steps", title="ppm-array bench")
    axis.legend(fontsize=7)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    plt.close(figure)

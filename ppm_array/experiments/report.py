"""CSV, figure and printed summary of shape-matching runs over one or more seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._format import mean_std as _mean_std
from ._output import atomic_path, write_csv
from .shape_matching import LATE_FROM_STEP, late_mean

__all__ = ["late_mean_ratios", "summarise", "write_shape_matching"]

METRIC_LABELS = {
    "paper": "W2 between dimension-1 diagrams (paper)",
    "published": "torch-topological W (p=2), dims 0 + 1 (published script)",
    "w2-sum": "W2, dims 0 + 1 summed",
}


def late_mean_ratios(seeds) -> np.ndarray:
    """Per seed, the late mean of the regularized arm over that of the plain arm (below 1: PPM-Reg helps)."""
    return np.array([late_mean(regularized) / late_mean(plain) for plain, regularized in seeds])


def summarise(config, seeds, wall_time: float) -> str:
    """``seeds`` is a list of ``(plain, regularized)`` runs, one pair per seed."""
    lines = [
        f"shape-match: shape={config.shape} loss={config.loss}"
        + (f" ({config.cramer} estimator)" if config.loss == "cramer" else "")
        + f" metric={config.metric} n_points={config.n_points} steps={config.steps} "
        f"n_subsamples={config.n_subsamples} bandwidth={config.bandwidth} weights={config.ppm_weights} "
        f"seeds={[plain.seed for plain, _ in seeds]}",
        f"{'arm':<12} {'late mean (from step ' + str(LATE_FROM_STEP) + ')':>30} {'final':>16}",
    ]
    for arm in (0, 1):
        late = np.array([late_mean(pair[arm]) for pair in seeds])
        final = np.array([pair[arm].distances[-1] for pair in seeds])
        lines.append(f"{seeds[0][arm].arm:<12} {_mean_std(late):>30} {_mean_std(final):>16}")
    ratios = late_mean_ratios(seeds)
    lines.append(
        f"late-mean ratio ({seeds[0][1].arm} / {seeds[0][0].arm}): {_mean_std(ratios)} "
        f"over {len(ratios)} seed(s); below 1 in {int(np.sum(ratios < 1))}"
    )
    lines.append(f"wall time {wall_time:.1f} s")
    return "\n".join(lines)


def write_shape_matching(out: Path, config, reference: np.ndarray, seeds) -> tuple[Path, Path]:
    """``shape_match.csv`` (a row per seed, arm and evaluation) and ``shape_match.png``, written atomically."""
    csv_path, png_path = out / "shape_match.csv", out / "shape_match.png"
    term_names = [f"ppm_q{q}" for q in config.dims]
    rows = [
        (run.seed, step, run.arm, f"{distance:.8g}", f"{main:.8g}", f"{ppm:.8g}", *(f"{t:.8g}" for t in terms))
        for pair in seeds
        for run in pair
        for step, distance, main, ppm, terms in zip(
            run.steps, run.distances, run.main_losses, run.ppm_values, run.ppm_terms
        )
    ]
    write_csv(csv_path, ("seed", "step", "arm", config.metric, "main_loss", "ppm_reg", *term_names), rows)
    _plot(png_path, config, reference, seeds)
    return csv_path, png_path


def _plot(path: Path, config, reference: np.ndarray, seeds) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(14, 4.2), constrained_layout=True)
    for arm in (0, 1):
        steps = np.asarray(seeds[0][arm].steps)
        curves = np.array([pair[arm].distances for pair in seeds])
        mean = curves.mean(axis=0)
        axes[0].plot(steps, mean, label=seeds[0][arm].arm)
        if len(seeds) > 1:
            spread = curves.std(axis=0, ddof=1)
            axes[0].fill_between(steps, mean - spread, mean + spread, alpha=0.25)
    title = f"{config.shape}, {config.loss}" + (f" (mean +- std of {len(seeds)} seeds)" if len(seeds) > 1 else "")
    axes[0].set(xlabel="step", ylabel=METRIC_LABELS.get(config.metric, config.metric), title=title)
    axes[0].legend()
    # The same limits in both scatter panels (first two coordinates; the sphere is projected).
    clouds = [reference[:, :2]] + [pair.cloud[:, :2] for pair in seeds[0]]
    low, high = np.min([c.min(axis=0) for c in clouds], axis=0), np.max([c.max(axis=0) for c in clouds], axis=0)
    margin = 0.05 * np.max(high - low)
    for axis, run in zip(axes[1:], seeds[0]):
        axis.scatter(*reference[:, :2].T, s=4, c="0.7", label="reference")
        axis.scatter(*run.cloud[:, :2].T, s=4, label="trained")
        axis.set(
            xlim=(low[0] - margin, high[0] + margin),
            ylim=(low[1] - margin, high[1] + margin),
            aspect="equal",
            title=f"{run.arm}, seed {run.seed}: final {run.distances[-1]:.3f}",
        )
        axis.legend(loc="upper right")
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    plt.close(figure)

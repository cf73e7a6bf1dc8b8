"""CSV, figure and printed summary of a shape-matching run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._output import atomic_path, write_csv

__all__ = ["late_mean", "summarise", "write_shape_matching"]

# The paper compares arms after the initial transient; we average from this step on.
LATE_FROM_STEP = 400


def late_mean(run) -> float:
    """Mean PD distance over the evaluations from step ``LATE_FROM_STEP`` on (all of them for shorter runs)."""
    steps, values = np.asarray(run.steps), np.asarray(run.pd_distances)
    late = steps >= LATE_FROM_STEP
    return float(values[late].mean() if late.any() else values.mean())


def summarise(config, runs, wall_time: float) -> str:
    lines = [f"shape-match: shape={config.shape} loss={config.loss} n_points={config.n_points} "
             f"steps={config.steps} n_subsamples={config.n_subsamples} seed={config.seed}",
             f"{'arm':<12} {'mean PD':>9} {f'mean from {LATE_FROM_STEP}':>15} {'final PD':>9}"]
    for run in runs:
        lines.append(f"{run.arm:<12} {np.mean(run.pd_distances):9.4f} {late_mean(run):15.4f} {run.pd_distances[-1]:9.4f}")
    lines.append(f"wall time {wall_time:.1f} s")
    return "\n".join(lines)


def write_shape_matching(out: Path, config, reference: np.ndarray, runs) -> tuple[Path, Path]:
    """``shape_match.csv`` (step, arm, pd_distance) and ``shape_match.png``, each written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    csv_path, png_path = out / "shape_match.csv", out / "shape_match.png"
    rows = [(step, run.arm, f"{value:.8g}") for run in runs for step, value in zip(run.steps, run.pd_distances)]
    write_csv(csv_path, ("step", "arm", "pd_distance"), rows)
    figure, axes = plt.subplots(1, 1 + len(runs), figsize=(5 + 4 * len(runs), 4), constrained_layout=True)
    for run in runs:
        axes[0].plot(run.steps, run.pd_distances, label=run.arm)
    axes[0].set(xlabel="step", ylabel="PD distance (W2, dims 0 + 1)", title=f"{config.shape}, {config.loss}")
    axes[0].legend()
    for axis, run in zip(axes[1:], runs):
        axis.scatter(*reference.T, s=4, c="0.7", label="reference")
        axis.scatter(*run.cloud.T, s=4, label="trained")
        axis.set(aspect="equal", title=f"{run.arm}: final PD {run.pd_distances[-1]:.3f}")
        axis.legend(loc="upper right")
    with atomic_path(png_path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    plt.close(figure)
    return csv_path, png_path

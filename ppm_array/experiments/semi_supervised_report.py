"""CSV, figure and printed summary of the semi-supervised runs (:mod:`.semi_supervised`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._format import mean_std as _mean_std
from ._output import atomic_path, write_csv
from .semi_supervised import ARMS

__all__ = ["summarise", "write_semi_supervised"]


def _accuracies(results, arm: str) -> np.ndarray:
    return np.array([r.test_accuracy for r in sorted(results, key=lambda r: r.seed) if r.arm == arm])


def summarise(results, wall_time: float) -> str:
    """Test accuracy per arm (mean +- std over seeds), and each pre-trained arm against the others, paired by
    seed: the mean difference and whether it exceeds the standard deviation of the differences."""
    seeds = sorted({r.seed for r in results})
    lines = [f"semi-supervised: digits, {len(seeds)} seed(s) {seeds}; test accuracy at the epoch of the best "
             f"validation accuracy", f"{'arm':<12} {'test accuracy':>22}"]
    for arm in ARMS:
        lines.append(f"{arm:<12} {_mean_std(_accuracies(results, arm)):>22}")
    for better, baseline in (("cramer+ppm", "cramer"), ("cramer+ppm", "labels"), ("cramer", "labels")):
        difference = _accuracies(results, better) - _accuracies(results, baseline)
        if difference.size > 1:
            spread = difference.std(ddof=1)
            verdict = "exceeds" if abs(difference.mean()) > spread else "does not exceed"
            lines.append(f"{better} - {baseline}: {_mean_std(difference)} (paired by seed; the mean {verdict} "
                         f"the spread)")
    lines.append(f"wall time {wall_time:.1f} s")
    return "\n".join(lines)


def write_semi_supervised(out: Path, results) -> tuple[Path, Path]:
    """``semi_supervised.csv`` (a row per seed and arm) and ``semi_supervised.png``, written atomically."""
    csv_path, png_path = out / "semi_supervised.csv", out / "semi_supervised.png"
    rows = [(r.seed, r.arm, f"{r.validation_accuracy:.6f}", f"{r.test_accuracy:.6f}", r.epoch) for r in results]
    write_csv(csv_path, ("seed", "arm", "validation_accuracy", "test_accuracy", "epoch"), rows)
    _plot(png_path, results)
    return csv_path, png_path


def _plot(path: Path, results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for position, arm in enumerate(ARMS):
        values = _accuracies(results, arm)
        axis.bar(position, values.mean(), color="0.85", edgecolor="0.4")
        axis.scatter(np.full(values.size, position), values, color="C0", zorder=3)
    axis.set_xticks(range(len(ARMS)), ARMS)
    lowest = min(r.test_accuracy for r in results)
    axis.set(ylabel="test accuracy (200 labels)", ylim=(max(0.0, lowest - 0.05), 1.0),
             title="digits: labels only, Cramér GAN, Cramér GAN + PPM-Reg")
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)

"""CSV, figure and printed summary of the semi-supervised runs (:mod:`.semi_supervised`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import SSL_PROTOCOLS
from ._format import mean_std as _mean_std
from ._format import paired_interval
from ._output import atomic_path, write_csv
from .semi_supervised import ARMS

__all__ = ["paired_interval", "summarise", "write_semi_supervised"]

_SELECTION = {
    "ours": "linear probe, test accuracy at the epoch of the best validation accuracy",
    "published": "the published MLP, best test accuracy over evaluations every 20 epochs (selects on the test set), "
    "mean of the runs of each seed",
}
_DIFFERENCES = (("cramer+ppm", "cramer"), ("cramer+ppm", "labels"), ("cramer", "labels"))


def _groups(results) -> list[tuple[str, str]]:
    """The ``(protocol, arm)`` pairs present in ``results``, in a fixed order."""
    present = {(r.protocol, r.arm) for r in results}
    return [(protocol, arm) for protocol in SSL_PROTOCOLS for arm in ARMS if (protocol, arm) in present]


def _accuracies(results, protocol: str, arm: str) -> np.ndarray:
    """Test accuracy per seed (ascending), the mean over the seed's classifier runs."""
    seeds = sorted({r.seed for r in results})
    return np.array(
        [
            np.mean([r.test_accuracy for r in results if (r.seed, r.protocol, r.arm) == (seed, protocol, arm)])
            for seed in seeds
        ]
    )


def _protocol_lines(results, protocol: str) -> list[str]:
    arms = [arm for group, arm in _groups(results) if group == protocol]
    lines = [f"protocol {protocol}: {_SELECTION[protocol]}", f"{'arm':<12} {'test accuracy':>22}"]
    lines += [f"{arm:<12} {_mean_std(_accuracies(results, protocol, arm)):>22}" for arm in arms]
    for better, baseline in _DIFFERENCES:
        if better not in arms or baseline not in arms:
            continue
        difference = _accuracies(results, protocol, better) - _accuracies(results, protocol, baseline)
        line = f"{better} - {baseline}: {_mean_std(difference)}"
        if difference.size > 1:
            low, high = paired_interval(difference)
            line += f", 95% CI [{low:+.4f}, {high:+.4f}] (t over {difference.size} seeds, paired by seed)"
        lines.append(line)
    return lines


def summarise(results, wall_time: float) -> str:
    """Per protocol: test accuracy per arm (mean +- std over seeds), and the paired differences between arms
    with their 95% t-intervals over seeds."""
    seeds = sorted({r.seed for r in results})
    lines = [f"semi-supervised: digits, {len(seeds)} seed(s) {seeds}"]
    for protocol in SSL_PROTOCOLS:
        if any(r.protocol == protocol for r in results):
            lines += _protocol_lines(results, protocol)
    lines.append(f"wall time {wall_time:.1f} s")
    return "\n".join(lines)


def write_semi_supervised(out: Path, results) -> tuple[Path, Path]:
    """``semi_supervised.csv`` (a row per protocol, seed, arm and classifier run) and ``semi_supervised.png``,
    written atomically."""
    csv_path, png_path = out / "semi_supervised.csv", out / "semi_supervised.png"
    rows = [
        (r.protocol, r.seed, r.arm, r.run, f"{r.validation_accuracy:.6f}", f"{r.test_accuracy:.6f}", r.epoch)
        for r in results
    ]
    write_csv(csv_path, ("protocol", "seed", "arm", "run", "validation_accuracy", "test_accuracy", "epoch"), rows)
    _plot(png_path, results)
    return csv_path, png_path


def _plot(path: Path, results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(results)
    figure, axis = plt.subplots(figsize=(1.6 * len(groups) + 1.5, 4), constrained_layout=True)
    for position, (protocol, arm) in enumerate(groups):
        values = _accuracies(results, protocol, arm)
        axis.bar(position, values.mean(), color="0.85", edgecolor="0.4")
        axis.scatter(np.full(values.size, position), values, color=f"C{SSL_PROTOCOLS.index(protocol)}", zorder=3)
    axis.set_xticks(range(len(groups)), [f"{protocol}\n{arm}" for protocol, arm in groups])
    lowest = min(r.test_accuracy for r in results)
    axis.set(
        ylabel="test accuracy (dots: seeds)",
        ylim=(max(0.0, lowest - 0.05), 1.0),
        title="digits: labels only, Cramér GAN, Cramér GAN + PPM-Reg",
    )
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)

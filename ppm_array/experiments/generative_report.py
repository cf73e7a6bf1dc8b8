"""CSV, figure and printed summary of the generation runs (:mod:`.generative`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._format import mean_std, paired_interval
from ._output import atomic_path, write_csv
from .generative import ARMS

__all__ = ["summarise", "write_generative"]

_METRICS = (("cmmd", "CMMD"), ("wd", "WD"))


def _values(results, arm: str, metric: str) -> np.ndarray:
    """``metric`` of ``arm`` per seed, in ascending seed order."""
    by_seed = {r.seed: getattr(r.scores, metric) for r in results if r.arm == arm}
    return np.array([by_seed[seed] for seed in sorted(by_seed)])


def summarise(results, reference, wall_time: float) -> str:
    """Per metric: each arm's mean +- std over seeds, and the paired difference ppm-reg - none with its 95%
    t-interval; then the floor (the training digits scored as if generated) and the run time."""
    seeds = sorted({r.seed for r in results})
    lines = [
        f"generate: digits, Cramér GAN with and without PPM-Reg, {len(seeds)} seed(s) {seeds}; lower is better",
        f"{'metric':<6} {'none':>22} {'ppm-reg':>22} {'ppm-reg - none':>22}  95% CI (t, paired by seed)",
    ]
    for metric, label in _METRICS:
        none, ppm = _values(results, "none", metric), _values(results, "ppm-reg", metric)
        difference = ppm - none
        interval = "n/a (one seed)"
        if difference.size > 1:
            low, high = paired_interval(difference)
            interval = f"[{low:+.4f}, {high:+.4f}]"
        lines.append(f"{label:<6} {mean_std(none):>22} {mean_std(ppm):>22} {mean_std(difference):>22}  {interval}")
    floor = reference.floor
    lines.append(
        f"floor (the {len(reference.train)} training digits against the {len(reference.held_out)} held-out): "
        f"CMMD {floor.cmmd:.4f}, WD {floor.wd:.4f}"
    )
    regularized = [r for r in results if r.arm == "ppm-reg"]
    ratio = np.array([r.ppm_reg / abs(r.cramer_loss) for r in regularized])
    lines.append(
        "ppm-reg arm, generator objective over its last steps: Cramér loss "
        f"{mean_std([r.cramer_loss for r in regularized])}, PPM-Reg {mean_std([r.ppm_reg for r in regularized], 6)} "
        f"(PPM-Reg / |Cramér loss| {mean_std(ratio, 6)})"
    )
    lines.append(
        f"embedding classifier (stand-in for CLIP): held-out accuracy {reference.embedding.held_out_accuracy:.4f}"
    )
    lines.append(f"wall time {wall_time:.1f} s")
    return "\n".join(lines)


def write_generative(out: Path, results, reference) -> tuple[Path, Path]:
    """``generate.csv`` (a row per seed and arm: its scores and its generator's late loss terms; and one for the
    floor) and ``generate.png``, written atomically."""
    csv_path, png_path = out / "generate.csv", out / "generate.png"
    rows = [
        (
            r.seed,
            r.arm,
            f"{r.scores.cmmd:.8g}",
            f"{r.scores.cmmd_biased:.8g}",
            f"{r.scores.wd:.8g}",
            f"{r.cramer_loss:.8g}",
            f"{r.ppm_reg:.8g}",
        )
        for r in results
    ]
    floor = reference.floor
    rows.append(("", "floor", f"{floor.cmmd:.8g}", f"{floor.cmmd_biased:.8g}", f"{floor.wd:.8g}", "", ""))
    write_csv(csv_path, ("seed", "arm", "cmmd", "cmmd_biased", "wd", "late_cramer_loss", "late_ppm_reg"), rows)
    _plot(png_path, results, reference)
    return csv_path, png_path


def _grid(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """Tile ``(n, 64)`` images into one array, ``columns`` per row, 8 x 8 each with a 1-pixel gap."""
    rows = -(-len(images) // columns)
    grid = np.full((rows * 9 - 1, columns * 9 - 1), 0.25)  # light grey gaps between the tiles
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[row * 9 : row * 9 + 8, column * 9 : column * 9 + 8] = image.reshape(8, 8)
    return grid


def _plot(path: Path, results, reference) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = min(r.seed for r in results)
    shown = {r.arm: r for r in results if r.seed == first}
    n_shown = len(shown[ARMS[0]].samples)
    panels = [("real (held-out)", reference.held_out[:n_shown])]
    panels += [
        (f"{arm}, seed {first}: CMMD {shown[arm].scores.cmmd:.3f}, WD {shown[arm].scores.wd:.3f}", shown[arm].samples)
        for arm in ARMS
    ]
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.6), constrained_layout=True)
    for axis, (title, images) in zip(axes, panels):
        # Digits are dark strokes on white in the usual display; pixels here are intensities in [0, 1].
        axis.imshow(_grid(images), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        axis.set_title(title, fontsize=9)
        axis.axis("off")
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)

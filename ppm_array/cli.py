"""The ``ppm-array`` command line: the paper's experiments, reproduced with the library."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

__all__ = ["main"]

DESCRIPTION = """Reproduce the experiments of Wong, Lee & Yan, "Towards Scalable Topological
Regularizers" (ICLR 2025) with ppm_array: shape matching (Figure 2) and the timing table
(Table 1). Each command writes a CSV and a figure to --out and prints a summary."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite non-negative number, got {value}")
    return value


def _bandwidth(text: str):
    if text == "median":
        return text
    value = _non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a positive number or 'median', got 0")
    return value


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in every option's help, descriptions as written."""


def _version() -> str:
    from . import __version__

    return f"ppm-array {__version__}"


def _parser() -> argparse.ArgumentParser:
    from .experiments import CRAMER_ESTIMATORS, LOSSES, METRICS, SHAPES

    parser = argparse.ArgumentParser(prog="ppm-array", description=DESCRIPTION, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shape = commands.add_parser(
        "shape-match", formatter_class=_Formatter, help="the paper's shape-matching experiment (Figure 2)",
        description="""Train 0.3 N(0, I) towards a reference shape with SGD (momentum 0.9, step 0.05),
with and without PPM-Reg, from the same seeds, tracking a distance between the
persistence diagrams of the trained and the reference cloud. Writes shape_match.csv
(distance, main loss, PPM-Reg and its terms at every evaluation) and shape_match.png
to --out, and prints the late-mean ratio (regularized arm / plain arm, mean of the
evaluations from step 400) over the seeds.""")
    shape.add_argument("--shape", choices=SHAPES, default="circle", help="reference shape")
    shape.add_argument("--loss", choices=LOSSES, default="cramer",
                       help="main loss: Cramér (energy distance) or RBF-MMD (width 0.1)")
    shape.add_argument("--cramer", choices=CRAMER_ESTIMATORS, default="paired",
                       help="Cramér estimator: rows paired at random as the published script does, or all pairs "
                            "of random halves")
    shape.add_argument("--metric", choices=METRICS, default="paper",
                       help="paper: W2 between dimension-1 diagrams; published: the published script's "
                            "torch-topological distance over dimensions 0 and 1; w2-sum: W2 summed over 0 and 1")
    shape.add_argument("--seeds", type=_positive_int, default=1, help="number of seeds, from --seed on")
    shape.add_argument("--seed", type=_non_negative_int, default=0, help="first seed")
    shape.add_argument("--steps", type=_positive_int, default=2420, help="SGD steps per arm")
    shape.add_argument("--eval-every", type=_positive_int, default=20, help="steps between evaluations")
    shape.add_argument("--n-points", type=_positive_int, default=512, help="points in each cloud")
    shape.add_argument("--n-subsamples", type=_positive_int, default=2000, help="PPM-Reg subsamples per dimension")
    shape.add_argument("--bandwidth", type=_bandwidth, default=math.sqrt(0.05),
                       help="PPM-Reg kernel bandwidth h (the published width 0.1 is h = sqrt(0.05)), or 'median'")
    shape.add_argument("--ppm-weights", type=_non_negative_float, nargs=2, default=(1.0, 6000.0),
                       metavar=("W0", "W1"), help="PPM-Reg weights of dimensions 0 and 1")
    shape.add_argument("--main-weight", type=_non_negative_float, default=None,
                       help="main loss weight (default: 1.6 for Cramér, 5 for MMD, as published)")
    shape.add_argument("--out", type=Path, default=Path("results"), help="output directory")
    bench = commands.add_parser(
        "bench", formatter_class=_Formatter, help="the paper's timing table (Table 1)",
        description="""Wall time of 100 gradient steps of Cramér + regularizer for PPM-Reg (ours),
W-PPM-Reg (exact optimal transport between the PPMs, POT) and PD-Reg (full
Vietoris-Rips persistence, giotto-ph, and Wasserstein matching, gudhi/POT). Prints a
markdown table and saves a PNG.""")
    bench.add_argument("--quick", action="store_true", help="a reduced grid in about a minute")
    bench.add_argument("--steps", type=_positive_int, default=None,
                       help="steps timed per cell, scaled to 100 (default 100; 10 with --quick)")
    bench.add_argument("--out", type=Path, default=Path("results"), help="output directory")
    return parser


def _shape_match(args) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from .experiments._output import output_directory
    from .experiments.report import summarise, write_shape_matching
    from .experiments.shape_matching import ShapeMatchingConfig, run_seed

    out = output_directory(args.out)
    config = ShapeMatchingConfig(
        shape=args.shape, loss=args.loss, cramer=args.cramer, metric=args.metric, n_points=args.n_points,
        steps=args.steps, eval_every=args.eval_every, n_subsamples=args.n_subsamples, bandwidth=args.bandwidth,
        ppm_weights=tuple(args.ppm_weights), main_weight=args.main_weight, seed=args.seed)
    start = time.perf_counter()
    seeds, references = [], []
    with tqdm(total=2 * args.steps * args.seeds, desc="shape-match", unit="step", file=sys.stderr) as bar:
        for seed in range(args.seed, args.seed + args.seeds):
            bar.set_postfix_str(f"seed {seed}")
            reference, runs = run_seed(replace(config, seed=seed), bar.update)
            seeds.append(runs)
            references.append(reference)
    csv_path, png_path = write_shape_matching(out, config, references[0], seeds)
    print(summarise(config, seeds, time.perf_counter() - start))
    print(f"wrote {csv_path} and {png_path}")
    return 0


def _bench(args) -> int:
    from .experiments._output import output_directory
    from .experiments.timing import run_table

    out = output_directory(args.out)
    print(run_table(out, quick=args.quick, n_steps=args.steps))
    return 0


def main(argv=None) -> int:
    """Entry point of the ``ppm-array`` console script."""
    args = _parser().parse_args(argv)
    try:
        return _shape_match(args) if args.command == "shape-match" else _bench(args)
    except OSError as error:
        print(f"ppm-array {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

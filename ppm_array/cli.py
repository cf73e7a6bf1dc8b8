"""The ``ppm-array`` command line: ``shape-match`` (paper Figure 2) and ``bench`` (paper Table 1)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main"]


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ppm-array", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shape = commands.add_parser(
        "shape-match", help="reproduce the paper's shape-matching experiment (Figure 2)",
        description="Train 0.3 N(0, I) towards a reference shape with SGD (momentum 0.9, step 0.05), with and "
                    "without PPM-Reg, tracking the 2-Wasserstein distance between full Vietoris-Rips diagrams "
                    "(dimensions 0 and 1) of the trained and the reference cloud. Writes shape_match.csv and "
                    "shape_match.png to --out.")
    shape.add_argument("--shape", choices=("circle", "two-circles"), default="circle")
    shape.add_argument("--loss", choices=("cramer", "mmd"), default="cramer",
                       help="main loss: Cramér (energy distance, weight 1.6) or RBF-MMD (width 0.1, weight 5)")
    shape.add_argument("--steps", type=_positive_int, default=2420)
    shape.add_argument("--eval-every", type=_positive_int, default=20)
    shape.add_argument("--n-points", type=_positive_int, default=512)
    shape.add_argument("--n-subsamples", type=_positive_int, default=2000)
    shape.add_argument("--seed", type=_non_negative_int, default=0)
    shape.add_argument("--out", type=Path, default=Path("results"))
    bench = commands.add_parser(
        "bench", help="reproduce the paper's timing table (Table 1)",
        description="Wall time of 100 gradient steps of Cramér + regularizer for PPM-Reg (ours), W-PPM-Reg "
                    "(exact optimal transport between the PPMs, POT) and PD-Reg (full Vietoris-Rips persistence, "
                    "giotto-ph, and Wasserstein matching, gudhi/POT). Prints a markdown table and saves a PNG.")
    bench.add_argument("--quick", action="store_true", help="a reduced grid in about a minute")
    bench.add_argument("--steps", type=_positive_int, default=None,
                       help="steps timed per cell, scaled to 100 (default 100; 10 with --quick)")
    bench.add_argument("--out", type=Path, default=Path("results"))
    return parser


def _shape_match(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from .experiments._output import output_directory
    from .experiments.diagrams import critical_diagrams
    from .experiments.report import summarise, write_shape_matching
    from .experiments.shape_matching import ShapeMatchingConfig, reference_shape, run_arm

    out = output_directory(args.out)
    config = ShapeMatchingConfig(shape=args.shape, loss=args.loss, n_points=args.n_points, steps=args.steps,
                                 eval_every=args.eval_every, n_subsamples=args.n_subsamples, seed=args.seed)
    start = time.perf_counter()
    reference = reference_shape(config.shape, config.n_points, config.noise, np.random.default_rng([config.seed, 0]))
    reference_diagrams = critical_diagrams(reference)
    runs = []
    with tqdm(total=2 * config.steps, desc="shape-match", unit="step", file=sys.stderr) as bar:
        for with_ppm in (False, True):
            bar.set_postfix_str(config.arms()[int(with_ppm)])
            runs.append(run_arm(config, reference, with_ppm, bar.update, reference_diagrams))
    csv_path, png_path = write_shape_matching(out, config, reference, runs)
    print(summarise(config, runs, time.perf_counter() - start))
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

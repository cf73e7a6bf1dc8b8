"""The ``ppm-array`` command line's arguments: the subcommands, their options and the checks of their values."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

__all__ = ["parser"]

DESCRIPTION = """Reproduce the experiments of Wong, Lee & Yan, "Towards Scalable Topological
Regularizers" (ICLR 2025) with ppm_array: shape matching (Figure 2), the timing table
(Table 1) and, at a small scale, the semi-supervised result (Table 3) and unconditional
generation (Section 6.3). Each command
writes its results and a figure to --out, and prints a summary that it also writes there."""


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
    """Defaults in every option's help, descriptions as written. An option whose default depends on another
    (``None`` here, its help saying what it becomes) shows no ``(default: None)``."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def _add_ppm_weights(command: argparse.ArgumentParser, default: tuple, help: str) -> None:
    """``--ppm-weights W0 W1``: PPM-Reg's weights of dimensions 0 and 1."""
    command.add_argument(
        "--ppm-weights", type=_non_negative_float, nargs=2, default=default, metavar=("W0", "W1"), help=help
    )


def _version() -> str:
    from . import __version__

    return f"ppm-array {__version__}"


def parser() -> argparse.ArgumentParser:
    from .experiments import CRAMER_ESTIMATORS, LOSSES, METRICS, SHAPES, SSL_PROTOCOLS

    parser = argparse.ArgumentParser(prog="ppm-array", description=DESCRIPTION, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shape = commands.add_parser(
        "shape-match",
        formatter_class=_Formatter,
        help="the paper's shape-matching experiment (Figure 2)",
        description="""Train 0.3 N(0, I) towards a reference shape with SGD (momentum 0.9, step 0.05),
with and without PPM-Reg, from the same seeds, tracking a distance between the
persistence diagrams of the trained and the reference cloud. Writes shape_match.csv
(distance, main loss, PPM-Reg and its terms at every evaluation) and shape_match.png
to --out, and prints the late-mean ratio (regularized arm / plain arm, mean of the
evaluations from step 400) over the seeds, mean +- std, also written to
shape_match_summary.txt.""",
    )
    shape.add_argument("--shape", choices=SHAPES, default="circle", help="reference shape")
    shape.add_argument(
        "--loss", choices=LOSSES, default="cramer", help="main loss: Cramér (energy distance) or RBF-MMD (width 0.1)"
    )
    shape.add_argument(
        "--cramer",
        choices=CRAMER_ESTIMATORS,
        default="paired",
        help="Cramér estimator: rows paired at random as the published script does, or all pairs of random halves",
    )
    shape.add_argument(
        "--metric",
        choices=METRICS,
        default="paper",
        help="paper: W2 between dimension-1 diagrams; published: the published script's "
        "torch-topological distance over dimensions 0 and 1; w2-sum: W2 summed over 0 and 1",
    )
    shape.add_argument("--seeds", type=_positive_int, default=1, help="number of seeds, from --seed on")
    shape.add_argument("--seed", type=_non_negative_int, default=0, help="first seed")
    shape.add_argument("--steps", type=_positive_int, default=2420, help="SGD steps per arm")
    shape.add_argument("--eval-every", type=_positive_int, default=20, help="steps between evaluations")
    shape.add_argument("--n-points", type=_positive_int, default=512, help="points in each cloud")
    shape.add_argument("--n-subsamples", type=_positive_int, default=2000, help="PPM-Reg subsamples per dimension")
    shape.add_argument(
        "--bandwidth",
        type=_bandwidth,
        default=math.sqrt(0.05),
        help="PPM-Reg kernel bandwidth h (the published width 0.1 is h = sqrt(0.05)), or 'median'",
    )
    _add_ppm_weights(shape, (1.0, 6000.0), "PPM-Reg weights of dimensions 0 and 1")
    shape.add_argument(
        "--main-weight",
        type=_non_negative_float,
        default=None,
        help="main loss weight (default: 1.6 for Cramér, 5 for MMD, as published)",
    )
    shape.add_argument("--out", type=Path, default=Path("results"), help="output directory")
    bench = commands.add_parser(
        "bench",
        formatter_class=_Formatter,
        help="the paper's timing table (Table 1)",
        description="""Wall time of 100 gradient steps of Cramér + regularizer for PPM-Reg (ours),
W-PPM-Reg (exact optimal transport between the PPMs, POT) and PD-Reg (full
Vietoris-Rips persistence, giotto-ph, and Wasserstein matching, gudhi/POT), each cell
timed --repeats times. Prints a markdown table of mean +- std, written to bench.md, and
saves bench.png.""",
    )
    bench.add_argument("--quick", action="store_true", help="a reduced grid in about a minute")
    bench.add_argument(
        "--steps",
        type=_positive_int,
        default=None,
        help="steps timed per cell, scaled to 100 (default 100; 10 with --quick)",
    )
    bench.add_argument(
        "--repeats",
        type=_positive_int,
        default=None,
        help="times the whole grid is timed; cells show mean +- std (default 3; 2 with --quick)",
    )
    bench.add_argument("--out", type=Path, default=Path("results"), help="output directory")
    semi = commands.add_parser(
        "semi-supervised",
        formatter_class=_Formatter,
        help="the paper's semi-supervised experiment (Table 3) on scikit-learn's digits",
        description="""A Cramér GAN with a 64-d discriminator latent is pre-trained on the unlabelled
digits with and without PPM-Reg between real and generated latents, once per seed; each
frozen discriminator is then judged on 200 labels under one or both protocols.
ours: a linear classifier, its epoch chosen on a validation split and the test accuracy
read there, against the baseline that trains the discriminator and classifier on the
labels alone. published: the authors' SSL_class.py, an MLP (64-512-512-512-10) trained 10
times, each reporting the best test accuracy seen over evaluations every 20 epochs.
Needs torch and scikit-learn. Writes semi_supervised.csv (per protocol, seed, arm and
run) and semi_supervised.png to --out and prints mean +- std over the seeds and the
paired differences with 95% t-intervals, also written to semi_supervised_summary.txt.""",
    )
    semi.add_argument(
        "--seeds", type=_positive_int, default=None, help="number of seeds, from --seed on (default: 5; 2 with --quick)"
    )
    semi.add_argument("--seed", type=_non_negative_int, default=0, help="first seed")
    semi.add_argument(
        "--gan-steps",
        type=_positive_int,
        default=None,
        help="Cramér GAN steps per pre-training (default: 2000; 60 with --quick)",
    )
    semi.add_argument(
        "--protocol",
        choices=(*SSL_PROTOCOLS, "both"),
        default="ours",
        help="how the frozen discriminators are judged: our linear probe, the published MLP with "
        "best-test selection, or both on the same pre-trained models",
    )
    semi.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test (about a minute): short pre-training and classifier training, 2 published runs of 41 epochs",
    )
    semi.add_argument("--out", type=Path, default=Path("results"), help="output directory")
    generate = commands.add_parser(
        "generate",
        formatter_class=_Formatter,
        help="the paper's unconditional image generation (CMMD and WD), on scikit-learn's digits",
        description="""A Cramér GAN is trained on 1,297 of the digits, with and without PPM-Reg between the
discriminator's latents of a real and a generated batch (as the authors' UCIG/main_small.py: 5
discriminator steps per generator step, weights (0.001, 0.6), 1024 subsamples per dimension),
from the same seeds. Each generator's images are compared with the 500 held-out digits by CMMD
(Gaussian RBF, sigma 10, x 1000, unbiased) and WD (exact optimal transport, POT) between their
embeddings by a digits classifier trained here (our stand-in for CLIP). Needs torch, scikit-learn
and POT. Writes generate.csv (per seed and arm: CMMD, CMMD with the biased estimator, WD, and the
generator's Cramér loss and PPM-Reg over its last 200 steps; and the floor, the training digits
scored as if generated) and generate.png (samples of each arm) to --out, and prints mean +- std
over the seeds and the paired difference with its 95% t-interval, also written to
generate_summary.txt.""",
    )
    generate.add_argument(
        "--seeds", type=_positive_int, default=None, help="number of seeds, from --seed on (default: 5; 2 with --quick)"
    )
    generate.add_argument("--seed", type=_non_negative_int, default=0, help="first seed")
    generate.add_argument(
        "--gan-steps", type=_positive_int, default=None, help="generator steps per GAN (default: 2000; 10 with --quick)"
    )
    _add_ppm_weights(generate, (0.001, 0.6), "PPM-Reg weights of dimensions 0 and 1 (the published AnimeFace setting)")
    generate.add_argument(
        "--bandwidth",
        type=_bandwidth,
        default="median",
        help="PPM-Reg kernel bandwidth h, or 'median' (chosen from the latents at every step)",
    )
    generate.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test (under a minute): 10 generator steps, fewer subsamples and classifier epochs",
    )
    generate.add_argument("--out", type=Path, default=Path("results"), help="output directory")
    return parser

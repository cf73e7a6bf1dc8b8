"""The ``ppm-array`` command line: the paper's experiments, reproduced with the library."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from .cli_arguments import parser

__all__ = ["main"]


def _report(summary: str, summary_path: Path, *written: Path) -> None:
    """Print ``summary``, write it to ``summary_path``, and say which files were written."""
    from .experiments._output import write_text

    print(summary)
    write_text(summary_path, summary)
    print(f"wrote {', '.join(str(path) for path in (*written, summary_path))}")


def _shape_match(args) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from .experiments._output import output_directory
    from .experiments.report import summarise, write_shape_matching
    from .experiments.shape_matching import ShapeMatchingConfig, run_seed

    out = output_directory(args.out)
    config = ShapeMatchingConfig(
        shape=args.shape,
        loss=args.loss,
        cramer=args.cramer,
        metric=args.metric,
        n_points=args.n_points,
        steps=args.steps,
        eval_every=args.eval_every,
        n_subsamples=args.n_subsamples,
        bandwidth=args.bandwidth,
        ppm_weights=tuple(args.ppm_weights),
        main_weight=args.main_weight,
        seed=args.seed,
    )
    start = time.perf_counter()
    seeds, references = [], []
    with tqdm(total=2 * args.steps * args.seeds, desc="shape-match", unit="step", file=sys.stderr) as bar:
        for seed in range(args.seed, args.seed + args.seeds):
            bar.set_postfix_str(f"seed {seed}")
            reference, runs = run_seed(replace(config, seed=seed), bar.update)
            seeds.append(runs)
            references.append(reference)
    csv_path, png_path = write_shape_matching(out, config, references[0], seeds)
    _report(summarise(config, seeds, time.perf_counter() - start), out / "shape_match_summary.txt", csv_path, png_path)
    return 0


def _bench(args) -> int:
    from .experiments._output import output_directory
    from .experiments.timing import run_table

    out = output_directory(args.out)
    _report(
        run_table(out, quick=args.quick, n_steps=args.steps, repeats=args.repeats), out / "bench.md", out / "bench.png"
    )
    return 0


def _semi_supervised(args) -> int:
    from dataclasses import replace

    import torch
    from tqdm import tqdm

    from .experiments import SSL_PROTOCOLS
    from .experiments._output import output_directory
    from .experiments.semi_supervised import SemiSupervisedConfig, progress_steps, run_seed
    from .experiments.semi_supervised_report import summarise, write_semi_supervised

    # Models this small run fastest on one thread; two threads with another busy process took 8x longer here.
    torch.set_num_threads(1)
    out = output_directory(args.out)
    config = SemiSupervisedConfig.quick() if args.quick else SemiSupervisedConfig()
    if args.gan_steps is not None:
        config = replace(config, gan=replace(config.gan, steps=args.gan_steps))
    seeds = range(args.seed, args.seed + (args.seeds or (2 if args.quick else 5)))
    protocols = SSL_PROTOCOLS if args.protocol == "both" else (args.protocol,)
    start = time.perf_counter()
    results = []
    # One step: a GAN step or an epoch of a published classifier run.
    with tqdm(
        total=progress_steps(config, protocols) * len(seeds), desc="semi-supervised", unit="step", file=sys.stderr
    ) as bar:
        for seed in seeds:
            bar.set_postfix_str(f"seed {seed}")
            results += run_seed(config, seed, bar.update, protocols)
    csv_path, png_path = write_semi_supervised(out, results)
    _report(summarise(results, time.perf_counter() - start), out / "semi_supervised_summary.txt", csv_path, png_path)
    return 0


def _generate(args) -> int:
    from dataclasses import replace

    import torch
    from tqdm import tqdm

    from .experiments._output import output_directory
    from .experiments.generative import GenerateConfig, prepare, progress_steps, run_seed
    from .experiments.generative_report import summarise, write_generative

    torch.set_num_threads(1)  # as semi-supervised: models this small run fastest on one thread
    out = output_directory(args.out)
    config = GenerateConfig.quick() if args.quick else GenerateConfig()
    config = replace(
        config,
        gan=replace(
            config.gan,
            ppm_weights=tuple(args.ppm_weights),
            ppm_bandwidth=args.bandwidth,
            steps=args.gan_steps or config.gan.steps,
        ),
    )
    seeds = range(args.seed, args.seed + (args.seeds or (2 if args.quick else 5)))
    start = time.perf_counter()
    with tqdm(total=config.embedding_epochs, desc="embedding classifier", unit="epoch", file=sys.stderr) as bar:
        reference = prepare(config, bar.update)
    results = []
    with tqdm(total=progress_steps(config) * len(seeds), desc="generate", unit="step", file=sys.stderr) as bar:
        for seed in seeds:
            bar.set_postfix_str(f"seed {seed}")
            results += run_seed(config, reference, seed, bar.update)
    csv_path, png_path = write_generative(out, results, reference)
    _report(
        summarise(results, reference, time.perf_counter() - start), out / "generate_summary.txt", csv_path, png_path
    )
    return 0


_COMMANDS = {"shape-match": _shape_match, "bench": _bench, "semi-supervised": _semi_supervised, "generate": _generate}

# The modules each command imports beyond ppm_array's own dependencies (some only at its end, to plot), checked
# before it starts; and the distribution and extra that bring each one.
_REQUIRES = {
    "shape-match": ("tqdm", "gph", "gudhi", "ot", "matplotlib"),
    "bench": ("tqdm", "gph", "gudhi", "ot", "matplotlib"),
    "semi-supervised": ("torch", "sklearn", "tqdm", "matplotlib"),
    "generate": ("torch", "sklearn", "ot", "tqdm", "matplotlib"),
}
_DISTRIBUTIONS = {
    "tqdm": ("tqdm", "cli"),
    "gph": ("giotto-ph", "cli"),
    "gudhi": ("gudhi", "cli"),
    "ot": ("pot", "cli"),
    "matplotlib": ("matplotlib", "cli"),
    "torch": ("torch", "experiments"),
    "sklearn": ("scikit-learn", "experiments"),
}


def _missing_module(command: str) -> str | None:
    """The first module ``command`` needs that cannot be imported, or None."""
    return next((module for module in _REQUIRES[command] if importlib.util.find_spec(module) is None), None)


def _missing_message(command: str, module: str) -> str:
    distribution, extra = _DISTRIBUTIONS.get(module, (module, None))
    install = (
        f"pip install 'ppm-array[{extra}]' (or pip install {distribution})" if extra else f"pip install {distribution}"
    )
    return f"ppm-array {command}: error: needs {distribution} (module {module!r} is not installed): {install}"


def main(argv=None) -> int:
    """Entry point of the ``ppm-array`` console script."""
    args = parser().parse_args(argv)
    missing = _missing_module(args.command)
    if missing is not None:
        print(_missing_message(args.command, missing), file=sys.stderr)
        return 2
    try:
        return _COMMANDS[args.command](args)
    except ModuleNotFoundError as error:  # a module that one of those needs in turn
        module = (error.name or "").partition(".")[0]
        if module in ("", "ppm_array"):  # not a missing extra: a defect, shown in full
            raise
        print(_missing_message(args.command, module), file=sys.stderr)
        return 2
    except OSError as error:
        print(f"ppm-array {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

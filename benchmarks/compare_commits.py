"""Two commits of ppm_array side by side in one process: the paper step, a small call (cold, and five in a row)
and a large exact step, before and after.

Each commit's ``ppm_array`` is exported (``git archive``) into a temporary folder under a name of its own
(every import inside the package is relative), both are imported into this process, and their calls are
taken in turn, round after round, so that a busy spell of a shared machine falls on both. The table gives
the median of each call; the large step (``s = 16384``, ``method="direct"``: the exact kernels' pairs dominate)
has rounds of its own. Usage::

    python benchmarks/compare_commits.py BEFORE [AFTER]      # AFTER defaults to the working tree
    python benchmarks/compare_commits.py 15de4d9 HEAD --rounds 200
"""

from __future__ import annotations

import argparse
import importlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import machine, median_times  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAPER = dict(bandwidth=float(np.sqrt(0.05)), dims=(0, 1), weights=(1.0, 6000.0), n_subsamples=2048,
             method="direct", rng=0)


def export(commit: str | None, folder: Path, name: str):
    """``ppm_array`` of ``commit`` (the working tree for None) as the package ``name`` in ``folder``."""
    target = folder / name
    if commit is None:
        shutil.copytree(ROOT / "ppm_array", target, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "ppm_array"], check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder / "export", filter="data")
        (folder / "export" / "ppm_array").rename(target)
    return importlib.import_module(name)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default=None, help="a commit; the working tree by default")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--large-rounds", type=int, default=15, help="rounds of the s = 16384 step")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    small = [rng.normal(size=(16, 2)) for _ in range(2)]
    small32 = [a.astype(np.float32) for a in small]
    X64, Y64 = (rng.normal(size=(512, 2)) for _ in range(2))
    X32, Y32 = X64.astype(np.float32), Y64.astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        sys.path.insert(0, folder)
        before = export(args.before, Path(folder), "ppm_array_before")
        after = export(args.after, Path(folder), "ppm_array_after")
        calls, large = {}, {}
        for label, pa in (("before", before), ("after", after)):
            calls[label, "paper step, float32"] = lambda pa=pa: pa.ppm_reg_value_and_grad(X32, Y32, **PAPER)
            calls[label, "paper step, float64"] = lambda pa=pa: pa.ppm_reg_value_and_grad(X64, Y64, **PAPER)
            calls[label, "16-point call"] = lambda pa=pa: pa.ppm_reg_value_and_grad(
                *small, bandwidth=0.2, n_subsamples=16, rng=0)
            # The same call warm: the first of five pays for what the steps before it pushed out of the caches.
            calls[label, "five 16-point calls in a row, float32"] = lambda pa=pa: [
                pa.ppm_reg_value_and_grad(*small32, bandwidth=0.2, n_subsamples=16, rng=0) for _ in range(5)]
            for name, (X, Y) in (("float32", (X32, Y32)), ("float64", (X64, Y64))):
                large[label, f"s = 16384 step, {name}"] = lambda pa=pa, X=X, Y=Y: pa.ppm_reg_value_and_grad(
                    X, Y, **{**PAPER, "n_subsamples": 16384})
        medians = dict(zip(calls, median_times(list(calls.values()), args.rounds)))
        medians.update(zip(large, median_times(list(large.values()), args.large_rounds)))
    print(f"Machine: {machine()}. {args.before} against {args.after or 'the working tree'}, median of "
          f"{args.rounds} rounds ({args.large_rounds} for s = 16384), the calls taken in turn.\n")
    print("| call | before (ms) | after (ms) | after / before |")
    print("|---|---:|---:|---:|")
    for what in dict.fromkeys(what for _, what in medians):
        b, a = medians["before", what], medians["after", what]
        print(f"| {what} | {1e3 * b:.3f} | {1e3 * a:.3f} | {a / b:.3f} |")


if __name__ == "__main__":
    main()

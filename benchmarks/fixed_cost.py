"""Where the fixed cost of a small call goes (issue 22): the 16-point call of ``bench_cliffs.py``, whole and with
the results of one stage replayed, each against the paper step, side by side in one process.

A replayed stage returns the results it computed in the first call of the row (the same draws each call, as
``rng=0`` gives), so its cost drops out and the rest of the call runs as it does: the row's time is what the
call would cost if that stage took no time at all. The rows bound what a faster stage could save, and the last
one (every stage replayed) is the orchestration alone: validation, draws, uploads, results and refusal flags.

Every time is the median of ``--repeat`` calls after one warm-up; "cold" calls follow a paper step
(``timing.median_times`` of the small call and the step, in turn: how ``bench_cliffs.py`` takes them), "warm"
ones follow another small call. The machine is printed first. Usage::

    python benchmarks/fixed_cost.py            # about half a minute
    python benchmarks/fixed_cost.py --repeat 400
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ppm_array._regularizer.assembly as assembly  # noqa: E402
from bench_cliffs import clouds, small_call, step  # noqa: E402
from timing import machine, median_times  # noqa: E402

# The device stages of a call, as the regularizer calls them: per homology dimension a PPM of each cloud and
# their MMD, then one VJP per cloud.
STAGES = {"MMD": "kernel_mmd", "PPM": "monte_carlo_persistence", "VJP": "persistence_vjp"}


class Replay:
    """While :attr:`active`, the stages named in :attr:`replayed` return what their calls of the first active
    call returned, in the order they were made."""

    def __init__(self) -> None:
        self.active, self.replayed = False, set()
        self.recorded: dict[str, list] = {name: [] for name in STAGES.values()}
        self.position = dict.fromkeys(STAGES.values(), 0)
        for name in STAGES.values():
            setattr(assembly, name, self._stage(name, getattr(assembly, name)))

    def _stage(self, name: str, function):
        def stage(*args, **kwargs):
            if not self.active:
                return function(*args, **kwargs)
            k, self.position[name] = self.position[name], self.position[name] + 1
            if k == len(self.recorded[name]):  # the first active call: computed once, and recorded
                self.recorded[name].append(function(*args, **kwargs))
                return self.recorded[name][k]
            return self.recorded[name][k] if name in self.replayed else function(*args, **kwargs)

        return stage

    @contextlib.contextmanager
    def call(self):
        self.active, self.position = True, dict.fromkeys(STAGES.values(), 0)
        try:
            yield
        finally:
            self.active = False


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    repeat = parser.parse_args(argv).repeat
    print(f"Machine: {machine()}; {numba.get_num_threads()} Numba threads; numpy {np.__version__}, "
          f"numba {numba.__version__}. 16-point call: float64, dims (0, 1), s = 16, value and both gradients; "
          f"paper step: float32, N = 512, s = 2048, method='direct'. Median of {repeat} calls.\n")
    print("| 16-point call | cold (ms) | warm (ms) | paper step (ms) | cold / paper step |")
    print("|---|---:|---:|---:|---:|")
    replay = Replay()
    small, paper = small_call(*clouds(16, np.float64)), step(*clouds(512))

    def call():
        with replay.call():
            small()

    rows = [("as it is", set())]
    rows += [(f"{label} replayed (its cost removed)", {name}) for label, name in STAGES.items()]
    rows += [("MMD, PPM and VJP replayed (the orchestration alone)", set(STAGES.values()))]
    for label, replayed in rows:
        replay.replayed = replayed
        cold, step_time = median_times([call, paper], repeat)
        (warm,) = median_times([call], repeat)
        print(f"| {label} | {1e3 * cold:.3f} | {1e3 * warm:.3f} | {1e3 * step_time:.3f} | {cold / step_time:.3f} |")


if __name__ == "__main__":
    main()

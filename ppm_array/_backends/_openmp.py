"""How the OpenMP runtimes we load wait between parallel regions.

Numba's kernels and FINUFFT each load an OpenMP runtime (libgomp). By default a
libgomp worker spins for about 300,000 iterations after every parallel region. On a
machine whose cores are busy with other processes, every region's end then waits
for a descheduled worker (measured: 120 ms for a call that takes 0.5 ms), and two
runtimes in one process spin against each other's workers. With no spinning at all,
every region pays about 48 us to wake its workers. So we load them with a short
spin (10,000 iterations) and then sleep, unless the user set either variable.
libgomp reads the variables once, when it is loaded; they are removed again right
after, so nothing else in the process sees them.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

__all__ = ["WAITING", "short_spin"]

WAITING = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "10000"}


@contextmanager
def short_spin():
    """Load an OpenMP runtime inside this block to give it the short spin (unless the user chose)."""
    chosen = {} if any(name in os.environ for name in WAITING) else dict(WAITING)
    os.environ.update(chosen)
    try:
        yield
    finally:
        for name in chosen:
            del os.environ[name]

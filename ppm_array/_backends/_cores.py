"""How many cores other processes leave free right now (Linux; elsewhere: unknown).

A parallel region ends when its slowest thread does. When other processes keep
every core busy, a worker thread waits for the CPU scheduler at every region's
end (a time slice, several milliseconds), and one thread alone is faster. The
kernels therefore use only the cores that no other process is running on: the
runnable threads of the whole system (``/proc/loadavg``) minus this process's own
(``/proc/self/task``, which counts PyTorch's spinning workers and our own), read at
most every ``REFRESH_SECONDS``.
"""

from __future__ import annotations

import os
import time

__all__ = ["free_cores"]

REFRESH_SECONDS = 0.1

_last = {"when": -float("inf"), "free": None}


def _count() -> int | None:
    try:
        with open("/proc/loadavg") as stream:
            running = int(stream.read().split()[3].split("/")[0])
        own = 0
        for task in os.scandir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task.name}/stat", "rb") as stream:
                    own += stream.read().rsplit(b")", 1)[1].split()[0] == b"R"
            except OSError:  # a thread that ended while we looked
                continue
        return len(os.sched_getaffinity(0)) - (running - own)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def free_cores() -> int | None:
    """Cores not running another process's threads (at most ``REFRESH_SECONDS`` old); None where unknown."""
    now = time.monotonic()
    if now - _last["when"] > REFRESH_SECONDS:
        _last["when"], _last["free"] = now, _count()
    return _last["free"]

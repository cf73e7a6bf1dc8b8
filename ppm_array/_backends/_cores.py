"""How many threads the CPU kernels may use right now (Linux; elsewhere: as many as Numba has).

In order, the first that applies:

1. ``PPM_ARRAY_NUM_THREADS=n`` (a positive integer), or else ``NUMBA_NUM_THREADS=n``: the
   user's choice, used as given (never more than Numba's pool, ``numba.get_num_threads()``).
2. A cgroup CPU quota (a container limited to, say, one CPU: cgroup v2 ``cpu.max``, v1
   ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``): the quota rounded up. Within its quota a
   process is not slowed by other tenants, whose runnable threads ``/proc/loadavg`` counts
   too, so the load is not subtracted; beyond it, the kernel throttles every thread.
3. Otherwise the cores that no other process is running on: a parallel region ends when
   its slowest thread does, and when other processes keep every core busy, a worker waits
   for the CPU scheduler at every region's end (a time slice, several milliseconds), so one
   thread alone is faster. Counted as the runnable threads of the whole system
   (``/proc/loadavg``) minus this process's own (``/proc/self/task``, which counts
   PyTorch's spinning workers and our own), out of the cores this process may run on.

The files are read at most every ``REFRESH_SECONDS``.
"""

from __future__ import annotations

import functools
import math
import os
import time
from typing import Any

__all__ = ["ENVIRONMENT", "cgroup_cores", "free_cores", "requested_threads", "thread_limit"]

REFRESH_SECONDS = 0.1
ENVIRONMENT = "PPM_ARRAY_NUM_THREADS"
# cgroup v2, then v1 (its CPU controller is mounted under either name).
CGROUP_V2_MAX = "/sys/fs/cgroup/cpu.max"
CGROUP_V1_DIRECTORIES = ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct")

_last: dict[str, Any] = {"when": -float("inf"), "limit": None}


@functools.cache
def _positive_integer(name: str, text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"the environment variable {name} must be a positive integer (a number of threads); got {text!r}"
        )
    return value


def requested_threads() -> int | None:
    """The thread count the user set: ``PPM_ARRAY_NUM_THREADS`` (validated), else ``NUMBA_NUM_THREADS`` (which
    Numba validates when it starts), else None."""
    for name in (ENVIRONMENT, "NUMBA_NUM_THREADS"):
        text = os.environ.get(name)
        if text is not None:
            return _positive_integer(name, text)
    return None


def _read(path: str) -> str | None:
    try:
        with open(path) as stream:
            return stream.read()
    except OSError:
        return None


def cgroup_cores() -> int | None:
    """The CPUs this process's cgroup quota allows, rounded up (at least 1); None without a quota."""
    text = _read(CGROUP_V2_MAX)
    if text is not None:
        quota, _, period = text.strip().partition(" ")
        if quota == "max":
            return None
        return _cores_of(quota, period)
    for directory in CGROUP_V1_DIRECTORIES:
        quota_text, period_text = _read(f"{directory}/cpu.cfs_quota_us"), _read(f"{directory}/cpu.cfs_period_us")
        if quota_text is not None and period_text is not None:
            return _cores_of(quota_text, period_text)  # a quota of -1: none
    return None


def _cores_of(quota: str, period: str) -> int | None:
    """``ceil(quota / period)``, at least 1, for a positive quota; None for none (or an unreadable file)."""
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        return None
    return max(1, math.ceil(quota_us / period_us)) if quota_us > 0 and period_us > 0 else None


def free_cores() -> int | None:
    """Cores (of those this process may run on) not running another process's threads; None where unknown."""
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


def thread_limit() -> int | None:
    """The most threads a kernel may use now (see the module's docstring); None where there is no limit.

    The user's choice is read at every call (a changed variable applies at once); the files
    at most every ``REFRESH_SECONDS``. Raises ``ValueError`` for a ``PPM_ARRAY_NUM_THREADS``
    that is not a positive integer.
    """
    requested = requested_threads()
    if requested is not None:
        return requested
    now = time.monotonic()
    if now - _last["when"] > REFRESH_SECONDS:
        quota = cgroup_cores()
        _last["when"], _last["limit"] = now, quota if quota is not None else free_cores()
    return _last["limit"]

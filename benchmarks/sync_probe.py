"""Whether a CuPy computation makes the host wait for the device: measured, not read from the code.

A kernel that spins for a known time is queued on CuPy's current stream, then the
call under test is made. A call that never synchronises only queues work: it
returns while the spinning kernel still runs. One that reads a device value, or
waits for a stream, returns only after the spin has ended.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import cupy

__all__ = ["Waiting", "waits_for_device"]

_SPIN = cupy.RawKernel(r"""
extern "C" __global__ void spin(long long cycles) {
    long long start = clock64();
    while (clock64() - start < cycles) { }
}
""", "spin")


class Waiting(NamedTuple):
    """``waited``: whether the call returned only after the spin ended; the host time of the call, and of the
    spin (both in seconds)."""

    waited: bool
    call_seconds: float
    spin_seconds: float


def _spin(seconds: float) -> None:
    clock_khz = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["clockRate"]
    _SPIN((1,), (1,), (cupy.int64(seconds * clock_khz * 1e3),))


def waits_for_device(call, spin_seconds: float = 0.5) -> Waiting:
    """Run ``call()`` (warm: compiled and cached) behind a ``spin_seconds`` kernel on the current stream."""
    stream = cupy.cuda.get_current_stream()
    stream.synchronize()
    _spin(spin_seconds)
    start = time.perf_counter()
    call()
    returned = time.perf_counter() - start
    stream.synchronize()
    spun = time.perf_counter() - start
    return Waiting(returned >= 0.9 * spun, returned, spun)

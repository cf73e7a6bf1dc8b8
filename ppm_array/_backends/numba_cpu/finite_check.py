"""The NaN/inf check of a cloud: one vectorised pass, no temporary."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange

from .threads import jit_cached_with, run

__all__ = ["all_finite", "finite_kernel"]

_jit = jit_cached_with(__file__)


@_jit(parallel=True, fastmath={"reassoc"})
def finite_kernel(flat, sums):
    """``sums[c]`` is 0 if chunk ``c`` of ``flat`` is finite and NaN otherwise: ``x - x`` is 0 exactly for
    finite ``x`` and NaN for NaN and infinities, and NaN survives the (vectorised) sum."""
    n_chunks = sums.shape[0]
    for chunk in prange(n_chunks):
        part = flat[flat.shape[0] * chunk // n_chunks : flat.shape[0] * (chunk + 1) // n_chunks]
        total = sums[chunk]
        for i in range(part.shape[0]):
            total += part[i] - part[i]
        sums[chunk] = total


# Entries below which NumPy's check (a temporary of X's size) is faster than a kernel's dispatch.
_KERNEL_ENTRIES = 4096


def all_finite(X: Any, *, xp: Any) -> bool:
    X = np.asarray(X)
    # Small or not contiguous and writeable: no copy, and no second compiled specialisation.
    if X.size < _KERNEL_ENTRIES or not (X.flags.c_contiguous and X.flags.writeable):
        return bool(np.isfinite(X).all())
    flat = X.reshape(-1)
    sums = np.zeros(8, dtype=X.dtype)
    run(finite_kernel, 0.3 * flat.shape[0], flat, sums)
    return bool(sums.sum() == 0)

"""Measuring persistence points in a unit that is a power of two, and multiplying results back, in closed form.

The kernel sums are computed on the points divided by a power of two near their
largest coordinate (the *unit*), and the bandwidth with them: exact in floating
point, and no product of weights and moments can overflow or underflow unless the
result itself does. A result of degree ``k`` in the coordinates is then multiplied
by ``unit**k``, split into factors that each stay in the dtype's range.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from .._boundary.namespace import array_namespace, largest
from .._persistence.sample import PersistenceSample

__all__ = ["power_factors", "power_of_two_unit", "times", "times_power"]


def power_of_two_unit(P: PersistenceSample, Q: PersistenceSample, xp: Any, pool: Any = None) -> Any:
    """A power of two near the largest coordinate of either sample (1 if there is none), as a 0-d array (one
    per item, shape ``(B,)``, for samples of a batch); with a pool, of every rank's samples, so that all ranks
    compute in the same units.

    The kernel sums are computed on the points divided by it (and the bandwidth with
    them): exact in floating point, and no product of weights and moments can
    overflow or underflow unless the result itself does.
    """
    top = xp.max(
        xp.stack([largest(xp.abs(S.birth), xp) for S in (P, Q)] + [largest(S.lifetime, xp) for S in (P, Q)]), axis=0
    )
    if pool is not None:
        top = pool.max(xp.reshape(top, (1,)))[0]
    usable = (top > 0) & xp.isfinite(top)
    exponent = xp.floor(xp.log2(xp.where(usable, top, xp.ones_like(top))))
    return xp.where(usable, 2.0**exponent, xp.ones_like(top))


def times_power(x: Any, base: Any, exponent: float) -> Any:
    """``x * base**exponent`` for a power of two ``base`` (a 0-d array), in closed form (:func:`power_factors`)."""
    return times(x, power_factors(base, exponent, x.dtype, array_namespace(x, base)))


def times(x: Any, factors: tuple) -> Any:
    """``x`` multiplied by each of ``factors`` in turn (:func:`power_factors`)."""
    for factor in factors:
        x = x * factor
    return x


@functools.cache
def _exponent_range(dtype, xp) -> tuple[int, int]:
    """``(span, step)``: the number of binary exponents of ``dtype``, subnormals included, and the largest
    exponent of a factor that is a finite number (one below the largest finite number's)."""
    info = xp.finfo(dtype)
    # Exponents of the largest finite number and of the smallest subnormal (smallest normal times eps).
    largest = math.floor(math.log2(float(info.max)))
    smallest = round(math.log2(float(info.smallest_normal)) + math.log2(float(info.eps)))
    return largest - smallest + 1, largest - 1


def power_factors(base: Any, exponent: float, dtype: Any, xp: Any) -> tuple:
    """0-d arrays of ``dtype`` whose product is ``base**exponent`` for a power of two ``base`` (a 0-d array).

    ``base**exponent = 2^E`` is split into factors ``2^E_k`` with ``E_k`` within
    the dtype's exponent range, so every factor is representable and, multiplied
    into ``x`` one after the other, every intermediate lies between ``x`` and the
    result: none overflows or underflows unless the result does. Beyond the dtype's
    whole exponent range (subnormals included) the result is 0 or infinite for any
    representable ``x``, so ``E`` is clipped to it and the number of factors is fixed
    by the dtype (three for float32 and float64), whatever ``exponent`` is. The
    factors depend on ``base`` and ``exponent`` only: one split serves every array
    multiplied by the same power.
    """
    span, step = _exponent_range(dtype, xp)
    remaining = _clamp(xp.round(xp.log2(xp.astype(base, dtype))) * exponent, span, xp)
    factors = []
    for _ in range(math.ceil(span / step) - 1):
        part = _clamp(remaining, step, xp)
        factors.append(2.0**part)
        remaining = remaining - part
    # What is left is within one step: |E| <= span <= (number of factors) * step.
    return (*factors, 2.0**remaining)


def _clamp(x, bound: float, xp):
    """``x`` clipped to ``[-bound, bound]``; not ``xp.clip``, which array-api-compat implements with boolean-mask
    assignments: a host synchronisation on a GPU, and none can be captured in a CUDA graph."""
    high = xp.full_like(x, bound)
    return xp.minimum(xp.maximum(x, -high), high)

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
    top = largest(xp.abs(xp.concat([P.birth, Q.birth, P.lifetime, Q.lifetime], axis=-1)), xp)
    if pool is not None:
        top = pool.max(xp.reshape(top, (1,)))[0]
    usable = (top > 0) & xp.isfinite(top)
    return 2.0 ** xp.floor(xp.log2(xp.where(usable, top, xp.ones_like(top))))


def times_power(x: Any, base: Any, exponent: float) -> Any:
    """``x * base**exponent`` for a power of two ``base`` (a 0-d array), in closed form (:func:`power_factors`)."""
    return times(x, power_factors(base, exponent, x.dtype, array_namespace(x, base)))


def times(x: Any, factors: tuple) -> Any:
    """``x`` multiplied by each of ``factors`` in turn (:func:`power_factors`)."""
    for factor in factors:
        x = x * factor
    return x


@functools.cache
def _split(dtype, xp, exponent: float) -> tuple[int, int | None]:
    """``(parts, bound)`` for :func:`power_factors`: how many factors of a power of two keep every factor finite,
    and the bound ``|E|`` is clipped to (None where no power of a base in the dtype's range can exceed it).

    ``|E| = |exponent| |log2 base|`` is at most the dtype's whole exponent span (subnormals included): beyond
    it the result is 0 or infinite for any representable ``x``. Each of ``n`` factors has an exponent of at
    most ``|E| / n + n - 1``, which must stay below the largest finite number's.
    """
    info = xp.finfo(dtype)
    # Exponents of the largest finite number and of the smallest subnormal (smallest normal times eps).
    largest = math.floor(math.log2(float(info.max)))
    smallest = round(math.log2(float(info.smallest_normal)) + math.log2(float(info.eps)))
    span, step = largest - smallest + 1, largest - 1  # step: the largest exponent of a finite factor, with room
    reach = abs(exponent) * max(largest, -smallest)  # the largest |E| of a base within the dtype
    bound = span if reach > span else None
    extent = min(reach, span)
    if extent == 0:
        return 0, None
    parts = 1
    while extent / parts + parts - 1 > step:
        parts += 1
    return parts, bound


def power_factors(base: Any, exponent: float, dtype: Any, xp: Any) -> tuple:
    """0-d arrays of ``dtype`` whose product is ``base**exponent`` for a power of two ``base`` (a 0-d array).

    ``base**exponent = 2^E`` is split into ``n`` factors: ``n - 1`` of ``2^trunc(E / n)`` and the rest, all
    with exponents of the sign of ``E`` and within the dtype's range, so every factor
    is representable and, multiplied into ``x`` one after the other, every intermediate
    lies between ``x`` and the result: none overflows or underflows unless the result
    does. Beyond the dtype's whole exponent range (subnormals included) the result is 0
    or infinite for any representable ``x``, so ``E`` is clipped to it. ``n`` depends on
    the dtype and ``exponent`` only, never on the data (no factor for ``exponent = 0``, two
    for ``|exponent| <= 1``, three at most in float32 and float64). The factors depend on
    ``base`` and ``exponent`` only: one split serves every array multiplied by the same power.
    """
    parts, bound = _split(dtype, xp, exponent)
    if parts == 0:
        return ()
    total = xp.round(xp.log2(xp.astype(base, dtype))) * exponent
    if bound is not None:
        total = _clamp(total, bound, xp)
    if parts == 1:
        return (2.0**total,)
    part = xp.trunc(total / parts)
    return (*(2.0**part,) * (parts - 1), 2.0 ** (total - (parts - 1) * part))


def _clamp(x, bound: float, xp):
    """``x`` clipped to ``[-bound, bound]``; not ``xp.clip``, which array-api-compat implements with boolean-mask
    assignments: a host synchronisation on a GPU, and none can be captured in a CUDA graph."""
    high = xp.full_like(x, bound)
    return xp.minimum(xp.maximum(x, -high), high)

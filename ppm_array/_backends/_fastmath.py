"""A branch-free ``exp(-x)`` that LLVM can vectorise.

Numba without SVML calls libm's ``exp`` one element at a time. This version uses
only arithmetic, a float-to-int conversion and a bit cast, so loops over
contiguous arrays that call it become SIMD loops.
"""

from __future__ import annotations

import math

from numba import njit, types
from numba.extending import intrinsic

__all__ = ["exp_neg"]

_LOG2E = 1.4426950408889634
# ln 2 split in two (Cody-Waite) so that x - n ln2 is exact for |n| < 2^11.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# Below exp(-708.39) = 2^-1022 the result would be subnormal; it is flushed to 0.
_X_MAX = 708.0


@intrinsic
def _float_from_bits(typingctx, bits):
    """Reinterpret the 64 bits of an int64 as a float64."""
    signature = types.float64(types.int64)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return signature, codegen


@njit(inline="always")
def exp_neg(x):
    """``exp(-x)`` for ``x >= 0`` to about 2 ulp; 0 for ``x > 708``.

    ``exp(-x) = 2^-n exp(-r)`` with ``n = round(x log2 e)`` and ``|r| <= ln2 / 2``;
    ``exp(-r)`` is its Taylor polynomial of degree 13 in Horner form.
    """
    xc = min(x, _X_MAX)
    n = math.floor(xc * _LOG2E + 0.5)
    r = (n * _LN2_HI - xc) + n * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    scale = _float_from_bits((1023 - int(n)) << 52)
    return p * scale if x <= _X_MAX else 0.0

"""A branch-free ``exp(-x)`` in float32 and float64 that LLVM can vectorise.

Numba without SVML calls libm's ``exp`` one element at a time. :func:`exp_neg`
uses only arithmetic, a float-to-int conversion and a bit cast, so loops over
contiguous arrays that call it become SIMD loops. It is generic: in float32
code it computes in float32 (twice the SIMD lanes of float64), in float64 code
in float64; call it from jitted code compiled with the kernels' fastmath flags.

``exp(-x) = 2^-n exp(-r)`` with ``n = round(x log2 e)`` and ``|r| <= ln2 / 2``
(Cody-Waite: ``ln 2`` is split in two so that ``x - n ln 2`` is exact);
``exp(-r)`` is its Taylor polynomial in Horner form, of degree 13 (float64, about
2 ulp) or 7 (float32, about 1.3 ulp). Results that would be subnormal are
flushed to 0: ``x > 708`` (float64) or ``x > 87`` (float32).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["exp_neg"]

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_X_MAX = 708.0

_F32 = np.float32
_LOG2E_32 = _F32(_LOG2E)
_LN2_HI_32 = _F32(0.693145751953125)  # 17 significant bits: n * _LN2_HI_32 is exact for |n| < 2^7
_LN2_LO_32 = _F32(1.428606765330187e-06)
_X_MAX_32 = _F32(87.0)
_HALF_32 = _F32(0.5)
_C7, _C6, _C5, _C4, _C3, _C2, _C1, _C0 = (_F32(1.0 / math.factorial(k)) for k in range(7, -1, -1))


@intrinsic
def _float64_from_bits(typingctx, bits):
    """Reinterpret the 64 bits of an int64 as a float64."""
    signature = types.float64(types.int64)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return signature, codegen


@intrinsic
def _float32_from_bits(typingctx, bits):
    """Reinterpret the low 32 bits of an int64 as a float32."""
    signature = types.float32(types.int64)

    def codegen(context, builder, sig, args):
        return builder.bitcast(builder.trunc(args[0], ir.IntType(32)), context.get_value_type(types.float32))

    return signature, codegen


def exp_neg(x):
    """``exp(-x)`` for ``x >= 0``, in the precision of ``x`` (jitted code only)."""
    raise NotImplementedError("exp_neg is compiled into Numba kernels; use numpy.exp(-x) in Python")


def _exp_neg_float64(x):
    xc = min(x, _X_MAX)
    n = np.floor(xc * _LOG2E + 0.5)
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
    scale = _float64_from_bits((1023 - int(n)) << 52)
    return p * scale * np.float64(x <= _X_MAX)  # a product, not a branch: the inlined IR stays one block


def _exp_neg_float32(x):
    xc = min(x, _X_MAX_32)
    n = np.floor(xc * _LOG2E_32 + _HALF_32)
    r = (n * _LN2_HI_32 - xc) + n * _LN2_LO_32
    p = _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + _C1
    p = p * r + _C0
    scale = _float32_from_bits((127 - int(n)) << 23)
    return p * scale * np.float32(x <= _X_MAX_32)


@overload(exp_neg, inline="always")
def _exp_neg_overload(x):
    if x == types.float32:
        return _exp_neg_float32
    if x == types.float64:
        return _exp_neg_float64
    return None

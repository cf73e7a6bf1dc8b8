"""A branch-free ``2^-y`` in float32 and float64 that LLVM can vectorise.

Numba without SVML calls libm's ``exp`` one element at a time. :func:`exp2_neg`
uses only arithmetic, a rounding, a float-to-int conversion and a bit cast, so
loops over contiguous arrays that call it become SIMD loops. It is generic: in
float32 code it computes in float32 (twice the SIMD lanes of float64), in
float64 code in float64; call it from jitted code compiled with the kernels'
fastmath flags. A kernel computes ``exp(-x)`` as ``exp2_neg(x log2 e)``, with
``log2 e`` folded into the constant that already scales ``x`` (one rounding, as
before the fold).

``2^-y = 2^-n 2^f`` with ``n = rint(y)`` and ``f = n - y`` in ``[-1/2, 1/2]``
(exact: no range reduction error). ``2^f`` is a polynomial in Horner form: the
Taylor polynomial of degree 13 in float64 (about 1 ulp), a degree-6 polynomial
in float32 (exact at ``f = 0``, the other coefficients minimising the largest
relative error on the interval, Lawson's iteration in float64; under 1 ulp).
``2^-n`` is built from exponent bits, with its bias moved into the polynomial's
coefficients (an exact power of two), so that ``y`` clamped to 513 (float64) or
65 (float32) gives exponent bits 0 and the result 0: results below ``2^-512.5``
(``y > 512.5``) or ``2^-64.5`` (``y > 64.5``, 3e-20) are 0, without a
comparison. A kernel value that small changes no float32 sum with a term above
``2^-40``, and it keeps the kernels' products of weights and kernel values
away from subnormal numbers, which cost a microcode assist per operation on
x86 (a float32 step with ``s = 16384`` took 0.64 s with the flush at
``2^-126``, 0.29 s with one at ``2^-100``; ``docs/benchmarks.md``).

The loop-invariant constants are few (float32: the clamp, seven coefficients
and the exponent bits' bias), so that the moment kernels' inner loops keep them in
registers alongside their own.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable

__all__ = ["LOG2_E", "exp2_neg"]

LOG2_E = 1.4426950408889634  # exp(-x) = 2^-(x log2 e)

# Results below 2^-512.5 (float64) and 2^-64.5 (float32) are 0: the clamp makes n at most _FLUSH, where the
# scale's exponent bits (_FLUSH - n) are 0; below it the scale is 2^(_FLUSH - n - bias) and P carries the
# power of two that remains: P(f) approximates 2^(bias - _FLUSH + f).
_FLUSH_64 = 513
_TAYLOR_64 = tuple(2.0 ** (1023 - _FLUSH_64) * math.log(2.0) ** k / math.factorial(k) for k in range(14))

_F32 = np.float32
_FLUSH_32 = 65
# 2^(1+f) on [-1/2, 1/2], degree 6, P(0) = 2 exactly, largest relative error 2e-9 in exact arithmetic; times
# 2^(126 - _FLUSH_32) (exact).
_P = tuple(
    _F32(2.0 ** (126 - _FLUSH_32) * p)
    for p in (2.0, 1.3862944, 0.48045295, 0.11100665, 0.019236874, 0.002679775, 0.00030706724)
)


def _power_of_two(flush, mantissa_bits, float_type, int_type):
    """An intrinsic: for an integral float ``n`` in ``[0, flush]``, the float whose exponent bits are
    ``flush - n`` and whose mantissa is 0, computed in the float's own width: ``2^(flush - n - bias)`` (bias
    127 or 1023), and 0 for ``n = flush``."""

    @intrinsic
    def power(typingctx, n):
        signature = float_type(float_type)

        def codegen(context, builder, sig, args):
            integer = ir.IntType(int_type)
            bits = builder.shl(
                builder.sub(ir.Constant(integer, flush), builder.fptosi(args[0], integer)),
                ir.Constant(integer, mantissa_bits),
            )
            return builder.bitcast(bits, context.get_value_type(float_type))

        return signature, codegen

    return power


_scale_32 = _power_of_two(_FLUSH_32, 23, types.float32, 32)
_scale_64 = _power_of_two(_FLUSH_64, 52, types.float64, 64)


def exp2_neg(y):
    """``2^-y`` for ``y >= 0``, in the precision of ``y`` (jitted code only)."""
    raise NotImplementedError("exp2_neg is compiled into Numba kernels; use numpy.exp2(-y) in Python")


@register_jitable(inline="always")
def _horner(f, coefficients):
    """``sum_k coefficients[k] f^k`` in Horner form (a loop of constant length, unrolled by LLVM)."""
    p = coefficients[-1]
    for k in range(len(coefficients) - 2, -1, -1):
        p = p * f + coefficients[k]
    return p


def _exp2_neg_float64(y):
    clamped = min(y, np.float64(_FLUSH_64))
    n = np.rint(clamped)
    return _horner(n - clamped, _TAYLOR_64) * _scale_64(n)


def _exp2_neg_float32(y):
    clamped = min(y, _F32(_FLUSH_32))
    n = np.rint(clamped)
    return _horner(n - clamped, _P) * _scale_32(n)


@overload(exp2_neg, inline="always")
def _exp2_neg_overload(y):
    if y == types.float32:
        return _exp2_neg_float32
    if y == types.float64:
        return _exp2_neg_float64
    return None

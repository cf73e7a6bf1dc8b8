"""PPM-Reg's results in the caller's dtype, and the refusals of results beyond the dtype's range."""

from __future__ import annotations

from typing import Any, NamedTuple

from .._boundary.namespace import cast
from .._boundary.validation import Points
from .assembly import Regularized

__all__ = ["PPMRegTerms", "refuse", "refusal_flags", "require_finite_results", "results_in_caller_dtype"]


class PPMRegTerms(NamedTuple):
    """PPM-Reg's terms, one entry per entry of ``dims``, returned with ``return_terms=True``.

    Attributes
    ----------
    mmd : array, shape (len(dims),)
        ``MMD^2(PPM_q(X), PPM_q(Y))`` (or the MMD with ``squared=False``), before the
        weights: the value is ``sum(weights * mmd)``.
    bandwidth : array, shape (len(dims),)
        The bandwidth each term used: the ``bandwidth`` given, or the median rule's choice.
    """

    mmd: Any
    bandwidth: Any


def results_in_caller_dtype(
    result: Regularized, cloud_x: Points, cloud_y: Points, with_grad: bool, options: Any, xp: Any, *, check_inputs: bool
) -> tuple:
    """``(results, refusals)`` from :func:`~.assembly.regularizer`'s result: the value, the gradients, the terms
    and the bandwidths in the caller's dtype, and with ``check_finite`` the flags of :func:`refusal_flags`."""
    dtype = cloud_x.result_dtype
    gradients = (result.grad_x, result.grad_y) if with_grad else ()
    results = (
        xp.asarray(cast(result.value, dtype, xp)),
        *(cast(g.grad, cloud.result_dtype, xp) for g, cloud in zip(gradients, (cloud_x, cloud_y))),
        cast(result.terms, dtype, xp),
        cast(result.bandwidths, dtype, xp),
    )
    refusals = None
    if options.check_finite:
        refusals = refusal_flags(cloud_x, cloud_y, results[0], gradients, xp, check_inputs=check_inputs)
    return results, refusals


def refusal_flags(cloud_x, cloud_y, value, gradients, xp, *, check_inputs: bool):
    """A device bool array ``[X not finite, Y not finite, result out of range]`` (the first two False when
    the inputs were checked already): read once by :func:`refuse`.

    Finite inputs give finite results unless a result itself exceeds the dtype's
    range. The gradients are checked through their ``O(s)`` bound, without reading them.
    """
    dtype = cloud_x.result_dtype
    false = xp.zeros((), dtype=xp.bool, device=cloud_x.device)
    inputs = [xp.logical_not(xp.all(xp.isfinite(c.array))) if check_inputs else false for c in (cloud_x, cloud_y)]
    too_large = xp.logical_not(xp.all(xp.isfinite(value)))
    for g in gradients:
        too_large = too_large | xp.logical_not(g.fits_on_device(dtype, xp))
    return xp.stack([*inputs, too_large])


def refuse(flags, weight_power: float, dtype) -> None:
    """Raise the refusal the host copy of :func:`refusal_flags` names, if any (the inputs first)."""
    x_bad, y_bad, too_large = (bool(f) for f in flags)
    for name, bad in (("X", x_bad), ("Y", y_bad)):
        if bad:
            raise ValueError(f"{name} contains NaN or infinite values")
    if too_large:
        raise too_large_error(dtype, weight_power)


def too_large_error(dtype, weight_power: float) -> ValueError:
    return ValueError(
        f"X and Y are too large for results in {dtype}: PPM-Reg grows like lifetime^(2 weight_power) "
        f"(weight_power={weight_power:g}); rescale X, Y and the bandwidth together, or use float64"
    )


def require_finite_results(results, dtype, weight_power: float, xp) -> None:
    """Results computed in float32 for float16 or bfloat16 clouds and cast back to ``dtype`` by an adapter:
    refuse any that overflowed there, with the error of :func:`evaluate` (one reduction each; host reads)."""
    if not all(bool(xp.all(xp.isfinite(r))) for r in results):
        raise too_large_error(dtype, weight_power)

"""The one schema of options shared by the core functions and the framework adapters.

:meth:`RegularizerOptions.check` lists every option of PPM-Reg with its default;
the signatures of :func:`~ppm_array.ppm_reg` and
:func:`~ppm_array.ppm_reg_value_and_grad` spell out the same list (a test holds
them equal), and the adapters pass their keywords through
:meth:`RegularizerOptions.from_keywords`, which names the adapter in its errors.
"""

from __future__ import annotations

import functools
import inspect
from typing import NamedTuple

from . import _validation as v

__all__ = ["MAX_WEIGHT_POWER", "METHODS", "MMDOptions", "RegularizerOptions"]


METHODS = ("auto", "direct", "fft")


class MMDOptions(NamedTuple):
    """Validated kernel, estimator and method options of the MMD."""

    bandwidth: float
    weight_power: float
    unbiased: bool
    squared: bool
    method: str
    tol: float

    @classmethod
    def check(cls, *, bandwidth, weight_power=1.0, estimator="v", squared=True, method="auto",
              tol=1e-10) -> "MMDOptions":
        return cls(
            v.check_bandwidth(bandwidth),
            _check_weight_power(weight_power),
            v.check_estimator(estimator) == "u",
            v.check_bool(squared, "squared"),
            v.check_choice(method, "method", METHODS),
            _check_tol(tol),
        )


# The largest weight_power: with p = 16 a lifetime half the largest already weighs 2^-16 of it in w(l) = l^p
# (2^-32 in a kernel product), and beyond, every lifetime but the largest drops below float32's rounding.
MAX_WEIGHT_POWER = 16.0


def _check_weight_power(weight_power) -> float:
    if not v.is_real(weight_power):
        raise TypeError(f"weight_power must be a real number in [1, {MAX_WEIGHT_POWER:g}]; got {weight_power!r}")
    weight_power = float(weight_power)
    if not 1 <= weight_power <= MAX_WEIGHT_POWER:  # also refuses NaN
        raise ValueError(f"weight_power must be a finite number in [1, {MAX_WEIGHT_POWER:g}] (the kernel's weight "
                         f"is lifetime^weight_power; the paper uses 1); got {weight_power}")
    return weight_power


# Below this, float64 rounding in the transforms, not tol, sets the Fourier method's error.
SMALLEST_TOL = 1e-12


def _check_tol(tol) -> float:
    tol = v.check_positive_real(tol, "tol")
    if not SMALLEST_TOL <= tol < 1:
        raise ValueError(f"tol must lie in [{SMALLEST_TOL:g}, 1) (float64 rounding limits the Fourier method's "
                         f"error to about 1e-13 relative); got {tol}")
    return tol


def _per_dimension_subsamples(n_subsamples, dims: tuple) -> tuple:
    """One positive ``s`` per entry of ``dims``, from one integer or a sequence of them."""
    if v.is_integer(n_subsamples):
        return tuple(v.check_n_subsamples(n_subsamples, q) for q in dims)
    if isinstance(n_subsamples, str) or not hasattr(n_subsamples, "__iter__"):
        raise TypeError(f"n_subsamples must be a positive integer or one per entry of dims; got {n_subsamples!r}")
    n_subsamples = tuple(n_subsamples)
    if len(n_subsamples) != len(dims):
        raise ValueError(f"n_subsamples must have one entry per entry of dims ({len(dims)}); got {len(n_subsamples)}")
    return tuple(v.check_n_subsamples(s, q) for s, q in zip(n_subsamples, dims))


class RegularizerOptions(NamedTuple):
    """Validated options of PPM-Reg: everything but the clouds and the randomness."""

    dims: tuple
    weights: tuple
    n_subsamples: tuple
    replace: bool
    mmd: MMDOptions
    backend: str
    check_finite: bool
    return_terms: bool

    @classmethod
    def check(cls, *, bandwidth, dims=(0, 1), weights=None, n_subsamples=1024, replace=True, weight_power=1.0,
              estimator="v", squared=True, method="auto", tol=1e-10, backend="auto", check_finite=True,
              return_terms=False) -> "RegularizerOptions":
        """Validate every option; the keyword defaults here are the library's defaults."""
        dims, weights = v.check_dims_and_weights(dims, weights)
        mmd_options = MMDOptions.check(bandwidth=bandwidth, weight_power=weight_power, estimator=estimator,
                                       squared=squared, method=method, tol=tol)
        n_subsamples = _per_dimension_subsamples(n_subsamples, dims)
        if mmd_options.unbiased and min(n_subsamples) < 2:
            raise ValueError(f"estimator='u' needs n_subsamples >= 2; got {min(n_subsamples)}")
        return cls(dims, weights, n_subsamples, v.check_bool(replace, "replace"), mmd_options,
                   v.check_backend(backend), v.check_bool(check_finite, "check_finite"),
                   v.check_bool(return_terms, "return_terms"))

    def check_sizes(self, sizes: dict) -> None:
        """Without replacement every subsample needs ``2q + 2`` distinct points of each cloud.

        ``sizes`` maps a cloud's name to its number of points; checked before anything is computed.
        """
        if self.replace:
            return
        m = 2 * max(self.dims) + 2
        for name, n_points in sizes.items():
            if n_points < m:
                raise ValueError(f"replace=False needs at least 2q+2={m} points (q={max(self.dims)}) in {name}; "
                                 f"got {n_points}")

    @classmethod
    @functools.cache
    def names(cls) -> tuple[str, ...]:
        """The option keywords, in the order of :meth:`check` (read once: adapters check keywords every call)."""
        return tuple(inspect.signature(cls.check).parameters)

    @classmethod
    def from_keywords(cls, owner: str, keywords: dict, *, exclude: tuple[str, ...] = ()) -> "RegularizerOptions":
        """:meth:`check` for keywords collected by an adapter; errors name ``owner`` (e.g. ``PPMReg``).

        ``exclude`` lists keywords the adapter takes itself (such as ``rng``) and
        must not reach here.
        """
        unknown = sorted(set(keywords) - set(cls.names()))
        if unknown:
            hint = f" ({owner} takes {', '.join(exclude)} separately)" if set(unknown) & set(exclude) else ""
            raise TypeError(f"{owner} got unexpected keyword arguments: {', '.join(unknown)}{hint}; "
                            f"the options are {', '.join(cls.names())}")
        if "bandwidth" not in keywords:
            raise TypeError(f"{owner} missing required keyword argument: 'bandwidth'")
        return cls.check(**keywords)

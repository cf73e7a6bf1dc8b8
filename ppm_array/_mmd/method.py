"""The MMD's method: the backend's direct sums, or the Fourier method around the backend's transforms."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .._backends._nufft import Explicit
from .._backends.contract import Backend
from .._boundary.namespace import device as device_of
from . import fourier, pooled

__all__ = ["FOURIER_CROSSOVER", "pair_moments_method", "takes_fourier"]

# "auto" takes the Fourier method from this many points (both PPMs together), about where it was measured to
# overtake the direct sums of the Numba backend in float64 (about 3000 in float32; docs/scaling.md), and only
# with a NUFFT library.
FOURIER_CROSSOVER = 2000


def _auto_takes_fourier(backend: Backend, options: Any, n_points: int, xp: Any) -> bool:
    # The point count first: building the transforms (FINUFFT's) costs more than a small call's work.
    return n_points >= FOURIER_CROSSOVER and not isinstance(backend.fourier_transforms(options.tol, xp=xp), Explicit)


def takes_fourier(backend: Backend, options: Any, n_points: int, xp: Any) -> bool:
    """Whether a single process computes an MMD of ``n_points`` points (both PPMs together) with the MMD
    ``options`` by the Fourier method (else by the backend's direct sums)."""
    if options.method != "auto":
        return options.method == "fft"
    return _auto_takes_fourier(backend, options, n_points, xp)


def pair_moments_method(backend: Backend, options: Any, sets: list, xp: Any, pool: Any = None) -> Callable[..., Any]:
    """The ``pair_moments`` of ``options.method``: the backend's direct sums, or the Fourier method; with a
    pool, against the sets pooled over its ranks.

    ``"auto"`` decides on the arrays' shapes alone (no host synchronisation; with a
    pool, on their sum over the ranks), and falls back to the direct sums when the
    data would need too large a grid.
    """
    direct = backend.pair_moments if pool is None else pooled.direct_pair_moments(pool, backend.pair_moments)
    if options.method == "direct":
        return direct
    if options.method == "auto":
        n_points = sum(s.v.shape[0] for s in sets)
        if pool is not None:
            n_points = pooled.total(pool, n_points, xp, device_of(sets[0].v))
        if not _auto_takes_fourier(backend, options, n_points, xp):
            return direct
    by_fourier = functools.partial(
        fourier.pair_moments, tol=options.tol, transforms=backend.fourier_transforms(options.tol, xp=xp), pool=pool
    )
    return by_fourier if options.method == "fft" else functools.partial(by_fourier, fallback=direct)

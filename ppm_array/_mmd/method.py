"""The MMD's method: the backend's direct sums, or the Fourier method around the backend's transforms."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

from .._backends._nufft import Explicit
from .._backends.contract import (
    Backend,
    BatchedMoments,
    FeaturePersistence,
    FixedShapes,
    KernelPoints,
    Moments,
    offers,
)
from .._boundary.namespace import device as device_of
from . import fourier, fourier_fixed, pooled

__all__ = ["FOURIER_CROSSOVER", "fourier_crossover", "has_transforms", "pair_moments_method", "takes_fourier"]

# "auto" takes the Fourier method from this many points (both PPMs together) by the bits of the dtype, about
# where it was measured to overtake the direct sums of the Numba backend (docs/scaling.md; float32's direct
# sums are about twice as fast), and only with a NUFFT library.
FOURIER_CROSSOVER = {32: 3000, 64: 2000}


def fourier_crossover(dtype: Any, xp: Any) -> int:
    """The points (both PPMs together) from which ``"auto"`` takes the Fourier method for ``dtype``."""
    return FOURIER_CROSSOVER[xp.finfo(dtype).bits]


def has_transforms(backend: Backend, tol: float, xp: Any) -> bool:
    """Whether ``backend`` has a NUFFT library for ``xp``'s arrays (else its transforms are the explicit sums)."""
    return not isinstance(backend.fourier_transforms(tol, xp=xp), Explicit)


def _auto_takes_fourier(backend: Backend, options: Any, n_points: int, dtype: Any, xp: Any) -> bool:
    # The point count first: building the transforms (FINUFFT's) costs more than a small call's work.
    return n_points >= fourier_crossover(dtype, xp) and has_transforms(backend, options.tol, xp)


def takes_fourier(backend: Backend, options: Any, n_points: int, dtype: Any, xp: Any) -> bool:
    """Whether a single process computes an MMD of ``n_points`` points (both PPMs together) of ``dtype`` with
    the MMD ``options`` by the Fourier method (else by the backend's direct sums)."""
    if options.method != "auto":
        return options.method == "fft"
    return _auto_takes_fourier(backend, options, n_points, dtype, xp)


def pair_moments_method(backend: Backend, options: Any, sets: list, xp: Any, pool: Any = None) -> Callable[..., Any]:
    """The ``pair_moments`` of ``options.method``: the backend's direct sums, or the Fourier method; with a
    pool, against the sets pooled over its ranks.

    ``"auto"`` decides on the arrays' shapes alone (no host synchronisation; with a
    pool, on their sum over the ranks), and falls back to the direct sums when the
    data would need too large a grid. A backend of fixed shapes (:class:`FixedShapes`, JAX's) runs the
    Fourier method on its fixed grid, and falls back to the direct sums on the data for ``"fft"`` too:
    a traced computation cannot refuse. There ``"auto"`` decides once more on the data, inside the
    computation: the shapes count the subsamples without a feature too, which the direct sums skip.
    """
    if sets[0].v.ndim == 2:
        return _batched_method(backend, options, sets, xp)
    direct = backend.pair_moments if pool is None else pooled.direct_pair_moments(pool, backend.pair_moments)
    if options.method == "direct":
        return direct
    if options.method == "auto":
        n_points = sum(s.v.shape[0] for s in sets)
        if pool is not None:
            n_points = pooled.total(pool, n_points, xp, device_of(sets[0].v))
        if not _auto_takes_fourier(backend, options, n_points, sets[0].v.dtype, xp):
            return direct
    transforms = backend.fourier_transforms(options.tol, xp=xp)
    if offers(backend, FixedShapes):
        fixed = cast(FixedShapes, backend)
        return functools.partial(
            fourier_fixed.pair_moments,
            tol=options.tol,
            transforms=transforms,
            modes=fixed.FOURIER_MODES,
            branch=fixed.branch,
            fallback=direct,
            least_points=fourier_crossover(sets[0].v.dtype, xp) if options.method == "auto" else 0,
        )
    by_fourier = functools.partial(fourier.pair_moments, tol=options.tol, transforms=transforms, pool=pool)
    return by_fourier if options.method == "fft" else functools.partial(by_fourier, fallback=direct)


def _batched_method(backend: Backend, options: Any, sets: list, xp: Any) -> Callable[..., Any]:
    """:func:`pair_moments_method` for the sets of a batch (``(B, n)`` arrays, one item a row): the backend's
    batched kernel where it has one (one parallel loop over the items), else its ``pair_moments`` item by item;
    the Fourier method item by item (its grids differ between items). ``"auto"`` decides as for one set, on
    the largest number of points of an item (:func:`_points_per_item`)."""
    direct = (
        cast(BatchedMoments, backend).batched_pair_moments
        if offers(backend, BatchedMoments)
        else _item_by_item(backend.pair_moments)
    )
    if options.method == "direct" or (
        options.method == "auto"
        and not _auto_takes_fourier(backend, options, _points_per_item(backend, sets, xp), sets[0].v.dtype, xp)
    ):
        return direct
    by_fourier = functools.partial(
        fourier.pair_moments, tol=options.tol, transforms=backend.fourier_transforms(options.tol, xp=xp)
    )
    if options.method == "auto":
        by_fourier = functools.partial(by_fourier, fallback=backend.pair_moments)
    return _item_by_item(by_fourier)


def _points_per_item(backend: Backend, sets: list, xp: Any) -> int:
    """The most points an item of a batch brings to the kernel sums: on a host backend (one that selects the
    subsamples with a feature for single sets, so that ``"auto"`` decides on the same count there) those
    with a weight, read from the data; on a device, every point (the shapes: no host synchronisation)."""
    if not offers(backend, FeaturePersistence):
        return sum(s.v.shape[-1] for s in sets)
    weighted = sum(xp.sum(xp.astype(s.v != 0, xp.int64), axis=-1) for s in sets)
    return int(xp.max(weighted))


def _item_by_item(pair_moments: Callable[..., Any]) -> Callable[..., Any]:
    """A ``pair_moments`` of the sets of a batch from one of single sets, called on each item's row in turn."""

    def batched(A: KernelPoints, B: KernelPoints, *, same_set: bool, inv_two_h2: Any, xp: Any) -> tuple:
        rows = []
        for b in range(A.v.shape[0]):
            row_a = KernelPoints(*(a[b, ...] for a in A))
            row_b = row_a if same_set else KernelPoints(*(a[b, ...] for a in B))
            rows.append(pair_moments(row_a, row_b, same_set=same_set, inv_two_h2=inv_two_h2[b, ...], xp=xp))
        return tuple(Moments(*(xp.stack([row[side][k] for row in rows]) for k in range(3))) for side in (0, 1))

    return batched

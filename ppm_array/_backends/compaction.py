"""Point compaction: the kernel sums run over the points with a weight only.

A point with weight ``v = 0`` (a subsample without a feature: ``w(0) = 0``) adds
nothing to any sum, and the contract lets its own moments be 0, so the moment
computations drop such points first and put the results back in place after. On
the host (the Numba CPU backend, the Fourier method) that is :func:`weighted` and
:func:`expand`: a selection whose size depends on the data. The CUDA backend
compacts on the device instead, into buffers of the full size with the count kept on
the device (``numba_cuda.compact_kernel``), because a CUDA graph needs shapes that
do not depend on the data and the host must not wait for the device.
"""

from __future__ import annotations

from typing import Any

from .._boundary.namespace import device as device_of
from .contract import KernelPoints, Moments

__all__ = ["expand", "weighted"]


def weighted(points: KernelPoints, xp: Any) -> tuple[Any, KernelPoints]:
    """The increasing indices of the points with ``v != 0`` (None when every point has one) and those points.

    The selection reads the weights on the host (a synchronisation on a GPU).
    """
    rows = xp.nonzero(points.v != 0)[0]
    if rows.shape[0] == points.v.shape[0]:
        return None, points
    return rows, KernelPoints(*(xp.take(a, rows) for a in points))


def expand(rows: Any, moments: Moments, n: int, xp: Any) -> Moments:
    """The moments of all ``n`` points from those of the points ``rows`` (:func:`weighted`), 0 for the others."""
    if rows is None:
        return moments
    device = device_of(moments.m0)
    if rows.shape[0] == 0:
        zeros = xp.zeros((n,), dtype=moments.m0.dtype, device=device)
        return Moments(zeros, zeros, zeros)
    everyone = xp.arange(n, dtype=rows.dtype, device=device)
    position = xp.clip(xp.searchsorted(rows, everyone), 0, rows.shape[0] - 1)
    present = xp.take(rows, position) == everyone
    return Moments(*(xp.where(present, xp.take(m, position), xp.zeros_like(xp.take(m, position))) for m in moments))

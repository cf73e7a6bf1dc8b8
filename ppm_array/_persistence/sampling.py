"""Drawing the subsamples of ``2q + 2`` points that a PPM is built from, on the host.

Indices are always drawn with a NumPy ``Generator`` and then moved to the caller's
namespace and device, so one seed gives the same subsamples on every backend and device.
"""

from __future__ import annotations

import numpy as np

__all__ = ["draw_indices"]


def draw_indices(generator: np.random.Generator, n_points: int, q: int, n_subsamples: int, replace: bool) -> np.ndarray:
    """``(n_subsamples, 2q + 2)`` int64 row indices, drawn on the host (see :func:`~ppm_array.subsample_indices`)."""
    m = 2 * q + 2
    if replace:
        return generator.integers(0, n_points, size=(n_subsamples, m), dtype=np.int64)
    if n_points < m:
        raise ValueError(f"replace=False needs at least 2q+2={m} points; got n_points={n_points}")
    return _floyd_subsets(generator, n_points, m, n_subsamples)


def _floyd_subsets(generator: np.random.Generator, n_points: int, m: int, n_subsamples: int) -> np.ndarray:
    """Uniform ``m``-subsets of ``range(n_points)`` by Floyd's algorithm, one per row.

    ``O(s m^2)`` work and no ``O(N)`` memory, whatever ``N`` is. The order of
    entries inside a row is not uniform; persistence does not depend on it.
    """
    rows = np.empty((n_subsamples, m), dtype=np.int64)
    for column, top in enumerate(range(n_points - m, n_points)):
        candidate = generator.integers(0, top + 1, size=n_subsamples, dtype=np.int64)
        taken = np.any(rows[:, :column] == candidate[:, None], axis=1)
        rows[:, column] = np.where(taken, top, candidate)
    return rows

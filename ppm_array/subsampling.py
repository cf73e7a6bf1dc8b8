"""Drawing the subsamples of ``2q + 2`` points that a PPM is built from.

Indices are always drawn on the host with a NumPy ``Generator`` and then moved to
the caller's namespace and device, so one seed gives the same subsamples on every
backend and device.
"""

from __future__ import annotations

import numpy as np

from . import _validation as v

__all__ = ["subsample_indices"]


def subsample_indices(n_points, q, n_subsamples, *, rng=None, replace=True, xp=None, device=None):
    """Draw ``n_subsamples`` index tuples of ``2q + 2`` points.

    Parameters
    ----------
    n_points : int
        Number of points ``N`` in the cloud; indices lie in ``[0, N)``.
    q : int
        Homology dimension; each row has ``m = 2q + 2`` entries.
    n_subsamples : int
        Number of rows ``s``.
    rng : None, int or numpy.random.Generator, optional
        Source of randomness. An ``int`` is a seed; a ``Generator`` is advanced.
    replace : bool, default True
        ``True`` draws each row uniformly from ``{0..N-1}^m`` (the paper's
        definition; rows may repeat a point and then have no feature).
        ``False`` draws uniform ``m``-subsets (needs ``N >= m``).
    xp : Array-API namespace, optional
        Namespace of the result; NumPy when omitted.
    device : optional
        Device of the result in ``xp``.

    Returns
    -------
    indices : integer array, shape (n_subsamples, 2q + 2), dtype int64

    Examples
    --------
    >>> import ppm_array as pa
    >>> pa.subsample_indices(10, 1, 3, rng=0).shape
    (3, 4)
    """
    if not v.is_integer(n_points) or n_points <= 0:
        raise ValueError(f"n_points must be a positive integer; got {n_points!r}")
    q = v.check_q(q)
    n_subsamples = v.check_n_subsamples(n_subsamples, q)
    replace = v.check_bool(replace, "replace")
    generator = v.check_rng(rng)
    indices = _draw(generator, int(n_points), 2 * q + 2, n_subsamples, replace)
    if xp is None:
        return indices
    return xp.asarray(indices, device=device)


def _draw(generator: np.random.Generator, n_points: int, m: int, n_subsamples: int, replace: bool) -> np.ndarray:
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

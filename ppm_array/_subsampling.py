"""Drawing the subsamples of ``2q + 2`` points that a PPM is built from.

Indices are always drawn on the host with a NumPy ``Generator`` and then moved to
the caller's namespace and device, so one seed gives the same subsamples on every
backend and device.
"""

from __future__ import annotations

from . import _validation as v
from ._core import draw_indices

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
    n_points = v.check_n_points(n_points)
    q = v.check_q(q)
    n_subsamples = v.check_n_subsamples(n_subsamples, q)
    replace = v.check_bool(replace, "replace")
    generator = v.check_rng(rng)
    indices = draw_indices(generator, n_points, q, n_subsamples, replace)
    if xp is None:
        return indices
    return xp.asarray(indices, device=device)


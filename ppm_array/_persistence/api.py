"""The public functions of principal persistence: subsamples, closed-form PH of many small subsamples, its VJP,
and exact PPMs of small clouds."""

from __future__ import annotations

import itertools
import math

import numpy as np

from .._backends import select_backend
from .._backends.host_views import on_host_kernels
from .._boundary import validation as v
from .._boundary.namespace import cast
from .checks import check_sample, check_sample_edges, check_upstream
from .persistence import Upstream, persistence
from .persistence import persistence_vjp as vjp
from .sample import PersistenceSample
from .sampling import draw_indices

__all__ = [
    "PersistenceSample",
    "exact_principal_persistence",
    "persistence_vjp",
    "principal_persistence",
    "subsample_indices",
]

# Exact PPMs enumerate every m-subset; beyond this many the enumeration is refused.
MAX_EXACT_SUBSETS = 2_000_000


def _in_dtype(sample: PersistenceSample, dtype, xp) -> PersistenceSample:
    return sample._replace(
        birth=cast(sample.birth, dtype, xp),
        lifetime=cast(sample.lifetime, dtype, xp),
        mass=cast(sample.mass, dtype, xp),
    )


@on_host_kernels
def principal_persistence(
    X, q, *, n_subsamples=None, indices=None, rng=None, replace=True, backend="auto", check_finite=True
):
    """Monte Carlo principal persistence measure ``PPM_q(X)``.

    Each subsample of ``m = 2q + 2`` points has the closed-form ``PH_q`` of
    Gómez & Mémoli: with ``f1(i)``/``f2(i)`` the largest/second-largest distance
    from point ``i``, ``birth = max_i f2(i)`` and
    ``lifetime = max(min_i f1(i) - birth, 0)``; for ``q = 0``, ``birth = 0`` and
    ``lifetime = |x0 - x1|``. Cost ``O(s m^2 d)``, independent of ``N``.

    Parameters
    ----------
    X : array, shape (N, d)
        Real floating point cloud (float32 or float64; float16/bfloat16 are
        computed in float32).
    q : int
        Homology dimension, ``q >= 0``.
    n_subsamples : int, optional
        Number ``s`` of subsamples to draw. Exactly one of ``n_subsamples`` and
        ``indices`` is given.
    indices : integer array, shape (s, 2q + 2), optional
        Subsamples chosen by the caller (NumPy, or the namespace of ``X``).
    rng : None, int or numpy.random.Generator, optional
        Randomness for drawing the subsamples.
    replace : bool, default True
        See :func:`subsample_indices`.
    backend : {"auto", "array_api", "numba"}
    check_finite : bool, default True
        Refuse NaN or infinite values in ``X`` (one reduction; a host
        synchronisation on a GPU).

    Returns
    -------
    PersistenceSample
        Arrays in the namespace, device and dtype of ``X``; ``mass = 1/s``.

    Examples
    --------
    >>> import numpy as np, ppm_array as pa
    >>> square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    >>> pd = pa.principal_persistence(square, 1, indices=np.array([[0, 1, 2, 3]]))
    >>> float(pd.birth[0]), round(float(pd.lifetime[0]), 6)
    (1.0, 0.414214)
    """
    cloud = v.points(X, "X", check_finite=False)
    q = v.check_q(q)
    backend = select_backend(v.check_backend(backend), cloud.array)
    if v.check_bool(check_finite, "check_finite"):
        v.require_finite(cloud, "X", backend)
    generator = v.check_rng(rng)
    replace = v.check_bool(replace, "replace")
    n_points = cloud.array.shape[0]
    if (n_subsamples is None) == (indices is None):
        raise ValueError("give exactly one of n_subsamples and indices")
    if indices is None:
        n_subsamples = v.check_n_subsamples(n_subsamples, q)
        host = draw_indices(generator, n_points, q, n_subsamples, replace)
        indices = cloud.xp.asarray(host, device=cloud.device)
    else:
        indices = v.check_indices(indices, n_points, q, cloud.xp, cloud.device)
    return _in_dtype(persistence(backend, cloud, q, indices), cloud.result_dtype, cloud.xp)


@on_host_kernels
def persistence_vjp(X, sample, grad_birth, grad_lifetime, *, backend="auto", check_finite=True):
    """Vector-Jacobian product of :func:`principal_persistence` with respect to ``X``.

    For each subsample with upstream ``(g_b, g_l)`` and ``a = [lifetime > 0]``, the
    birth edge receives ``g_b - a g_l`` and the death edge ``a g_l``; an edge
    ``(i, j)`` with upstream ``g`` adds ``g (x_i - x_j)/|x_i - x_j|`` to row ``i``
    and its negative to row ``j`` (0 when the points coincide). Contributions
    from all subsamples are summed into each row.

    Parameters
    ----------
    X : array, shape (N, d)
        The cloud ``sample`` was computed from.
    sample : PersistenceSample
    grad_birth, grad_lifetime : arrays, shape (s,)
        Upstream gradients with respect to ``sample.birth`` and ``sample.lifetime``.
    backend : {"auto", "array_api", "numba"}
    check_finite : bool, default True
        Refuse NaN or infinite values in ``X`` and in ``sample``'s points.

    The sample's arrays must belong to ``X``'s library and device, and its edges
    must index rows of ``X``: they are checked before any kernel reads them (two
    reductions; a host synchronisation on a GPU).

    Returns
    -------
    grad_X : array, shape (N, d), in the namespace, device and dtype of ``X``.

    Examples
    --------
    >>> import numpy as np, ppm_array as pa
    >>> X = np.array([[0.0, 0.0], [3.0, 4.0]])
    >>> pd = pa.principal_persistence(X, 0, indices=np.array([[0, 1]]))
    >>> pa.persistence_vjp(X, pd, np.zeros(1), np.ones(1))
    array([[-0.6, -0.8],
           [ 0.6,  0.8]])
    """
    check_finite = v.check_bool(check_finite, "check_finite")
    cloud = v.points(X, "X", check_finite=False)
    xp = cloud.xp
    backend = select_backend(v.check_backend(backend), cloud.array)
    if check_finite:
        v.require_finite(cloud, "X", backend)
    sample = check_sample(sample, "sample", xp=xp, device=cloud.device, check_values=check_finite)
    check_sample_edges(sample, "sample", cloud.array.shape[0], xp)
    n_subsamples = sample.birth.shape[0]
    grad_birth = check_upstream(grad_birth, "grad_birth", n_subsamples, cloud)
    grad_lifetime = check_upstream(grad_lifetime, "grad_lifetime", n_subsamples, cloud)
    working = sample._replace(
        lifetime=cast(sample.lifetime, cloud.array.dtype, xp),
        birth_edge=xp.astype(sample.birth_edge, xp.int64),
        death_edge=xp.astype(sample.death_edge, xp.int64),
    )
    gradient = vjp(backend, cloud, [Upstream(working, grad_birth, grad_lifetime)])
    if check_finite and not gradient.fits(cloud.result_dtype, xp):
        raise ValueError(f"grad_birth and grad_lifetime give a gradient beyond the range of {cloud.result_dtype}")
    return cast(gradient.grad, cloud.result_dtype, xp)


@on_host_kernels
def exact_principal_persistence(X, q, *, replace=True, backend="auto", check_finite=True):
    """The exact principal persistence measure of a small cloud.

    Enumerates every ``m``-subset (``m = 2q + 2``). With ``replace=False`` each
    subset has mass ``1 / C(N, m)``. With ``replace=True`` (the measure that
    Monte Carlo sampling with replacement estimates) each subset has mass
    ``m! / N^m`` and the tuples that repeat a point, which have no feature, are
    gathered in one extra row at ``*`` (``lifetime = 0``) carrying the rest of the
    mass.

    Parameters
    ----------
    X : array, shape (N, d)
    q : int
    replace : bool, default True
    backend : {"auto", "array_api", "numba"}
    check_finite : bool, default True

    Returns
    -------
    PersistenceSample
        ``mass`` sums to 1.

    Examples
    --------
    >>> import numpy as np, ppm_array as pa
    >>> X = np.array([[0.0], [1.0], [3.0]])
    >>> pd = pa.exact_principal_persistence(X, 0, replace=False)
    >>> pd.lifetime, pd.mass
    (array([1., 3., 2.]), array([0.33333333, 0.33333333, 0.33333333]))
    """
    cloud = v.points(X, "X", check_finite=False)
    q = v.check_q(q)
    replace = v.check_bool(replace, "replace")
    backend = select_backend(v.check_backend(backend), cloud.array)
    if v.check_bool(check_finite, "check_finite"):
        v.require_finite(cloud, "X", backend)
    xp = cloud.xp
    n_points, m = cloud.array.shape[0], 2 * q + 2
    n_subsets = math.comb(n_points, m)
    if n_subsets > MAX_EXACT_SUBSETS:
        raise ValueError(
            f"an exact PPM of {n_points} points in dimension q={q} has {n_subsets} subsets, more than "
            f"{MAX_EXACT_SUBSETS}; use principal_persistence with n_subsamples"
        )
    if not replace and n_subsets == 0:
        raise ValueError(f"replace=False needs at least 2q+2={m} points; got {n_points}")
    subsets = np.array(list(itertools.combinations(range(n_points), m)), dtype=np.int64).reshape(-1, m)
    subset_mass = math.factorial(m) / n_points**m if replace else 1.0 / n_subsets
    collapsed_mass = 1.0 - n_subsets * subset_mass
    if replace and collapsed_mass > 0:
        subsets = np.concatenate([subsets, np.zeros((1, m), dtype=np.int64)])
    masses = np.full(subsets.shape[0], subset_mass)
    if subsets.shape[0] > n_subsets:
        masses[-1] = collapsed_mass
    indices = xp.asarray(subsets, device=cloud.device)
    mass = xp.asarray(masses, dtype=cloud.array.dtype, device=cloud.device)
    # The collapsed point is the row (0, ..., 0): all distances 0, so birth = lifetime = 0.
    return _in_dtype(persistence(backend, cloud, q, indices, mass), cloud.result_dtype, xp)


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

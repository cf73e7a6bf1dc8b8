"""The internal API: the computations behind the public functions, on validated arguments.

The public functions (``_persistence``, ``_mmd``, ``_regularizer``) check their
arguments with :mod:`ppm_array._validation` and call these functions, which trust
them. Everything here is written once for every backend; a backend (see
:mod:`ppm_array._backends`) supplies only three kernels: persistence of
subsamples, a scatter of per-edge gradients, and kernel moments of point pairs.

Arrays are in the working dtype of the clouds (float32 or float64); casting to the
caller's dtype is the public functions' job.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Sequence

import numpy as np

from . import _fourier, _pool
from ._backends._nufft import Explicit
from ._moments import KernelPoints, Moments, PointSet, assemble, point_set
from ._namespace import array_namespace, device as device_of
from ._sample import PersistenceSample
from ._scatter import segment_sum

__all__ = [
    "CloudGradient",
    "MMDResult",
    "Regularized",
    "Upstream",
    "DeviceDraw",
    "Draw",
    "distinct_pairs",
    "draw",
    "draw_indices",
    "draw_regularizer",
    "monte_carlo_persistence",
    "kernel_mmd",
    "median_bandwidth",
    "persistence",
    "persistence_vjp",
    "regularizer",
    "takes_fourier",
    "upload",
]


# --- Subsamples ----------------------------------------------------------------------------------------------------

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


def distinct_pairs(indices: np.ndarray, n_points: int) -> tuple:
    """The distinct unordered pairs among the rows of ``(s, 2)`` indices, and how often each was drawn.

    Pairs are listed by their smaller, then larger index (a pair ``(a, a)`` stays). One
    counting pass over ``n_points^2`` slots: meant for ``n_points^2 <= s``.
    """
    low, high = np.minimum(indices[:, 0], indices[:, 1]), np.maximum(indices[:, 0], indices[:, 1])
    counts = np.bincount(low * n_points + high, minlength=n_points * n_points)
    drawn = np.flatnonzero(counts)
    return np.stack(np.divmod(drawn, n_points), axis=1), counts[drawn]


def _merges_pairs(q: int, n_points: int, n_subsamples: int, mmd_options) -> bool:
    """Whether PPM-Reg merges repeated pairs of a ``q = 0`` draw into one point with their total mass.

    The measure, and so the V-statistic and its gradients, stays the same (to rounding);
    from ``n_points^2 <= s`` a draw repeats many pairs, and up to ``n_points^2 / 2``
    points replace ``s``. Not for the unbiased estimator, whose diagonal counts draws,
    nor the median rule, which reads a Monte Carlo PPM's first points as a random subset.
    """
    return (q == 0 and n_points * n_points <= n_subsamples and not mmd_options.unbiased
            and mmd_options.bandwidth != "median")


class Draw(NamedTuple):
    """The subsamples of one cloud for one homology dimension, drawn on the host.

    ``indices`` are ``(s', 2q + 2)`` int64 rows; ``mass`` the merged pairs' masses
    (float64, one per row) or None for ``1 / n_total`` each; ``mass_square_sum`` the
    sum of squared masses of the whole measure (a float).
    """

    indices: np.ndarray
    mass: object
    mass_square_sum: float


def draw(generator, n_points: int, q: int, n_subsamples: int, options, world_size: int = 1) -> Draw:
    """PPM-Reg's Monte Carlo draw for ``PPM_q`` of a cloud of ``n_points``, from ``generator``. In a pool of
    ``world_size`` ranks each point has mass ``1 / (world_size * n_subsamples)``: the share of one rank in the
    pooled PPM."""
    indices = draw_indices(generator, n_points, q, n_subsamples, options.replace)
    n_total = world_size * n_subsamples
    if _merges_pairs(q, n_points, n_subsamples, options.mmd):
        indices, counts = distinct_pairs(indices, n_points)
        shares = counts / n_total
        return Draw(indices, shares, float(np.sum(shares * shares)))
    # Pooled over the ranks: n_total points of mass 1 / n_total.
    return Draw(indices, None, 1.0 / n_total)


def draw_regularizer(generator, n_x: int, n_y: int, options, world_size: int = 1) -> tuple:
    """Every draw of one PPM-Reg call, in the order the generator is used: for each ``q`` in ``options.dims``,
    ``X``'s draw then ``Y``'s. A tuple of ``(draw_x, draw_y)`` pairs."""
    return tuple((draw(generator, n_x, q, s, options, world_size), draw(generator, n_y, q, s, options, world_size))
                 for q, s in zip(options.dims, options.n_subsamples))


def monte_carlo_persistence(backend, cloud, q: int, indices, mass, n_total: int) -> PersistenceSample:
    """PPM-Reg's Monte Carlo ``PPM_q`` of ``cloud`` from device ``indices`` and ``mass`` (a device array, or
    None for ``1 / n_total`` each).

    Where the backend drops collapsed points (``backend.DROPS_COLLAPSED``) the sample
    holds only the points with a feature (``lifetime > 0``): the others have weight
    ``w(0) = 0``, add nothing to an MMD, and PPM-Reg's VJP discards their lifetime
    gradient, so dropping them is exact. The masses keep their values (``1/s`` each,
    or the merged pairs' shares), so the sample's masses no longer sum to 1.
    """
    xp = cloud.xp
    dtype, device = cloud.array.dtype, cloud.device
    if backend.DROPS_COLLAPSED:
        birth, lifetime, birth_edge, death_edge, rows = backend.feature_persistence(cloud.array, indices, q, xp=xp)
        mass = None if mass is None else xp.take(mass, rows)
    else:
        birth, lifetime, birth_edge, death_edge = backend.persistence(cloud.array, indices, q, xp=xp)
    if mass is None:
        mass = xp.full((birth.shape[0],), 1.0 / n_total, dtype=dtype, device=device)
    return PersistenceSample(birth, lifetime, birth_edge, death_edge, mass, q, cloud.array.shape[0])


# --- Persistence and its VJP ---------------------------------------------------------------------------------------

def persistence(backend, cloud, q: int, indices, mass=None) -> PersistenceSample:
    """Closed-form ``PH_q`` of every row of ``indices``; ``mass`` defaults to ``1/s`` each."""
    xp = cloud.xp
    birth, lifetime, birth_edge, death_edge = backend.persistence(cloud.array, indices, q, xp=xp)
    if mass is None:
        mass = xp.full((indices.shape[0],), 1.0 / indices.shape[0], dtype=birth.dtype, device=device_of(birth))
    return PersistenceSample(birth, lifetime, birth_edge, death_edge, mass, q, cloud.array.shape[0])


class Upstream(NamedTuple):
    """Upstream gradients with respect to the points of one persistence sample."""

    sample: PersistenceSample
    grad_birth: object
    grad_lifetime: object


class CloudGradient(NamedTuple):
    """``grad_X`` of a VJP, and what bounds its entries without reading it.

    Each edge adds its upstream gradient times a unit vector to two rows, so no
    entry exceeds ``n_edges * largest_edge_gradient`` (a 0-d array): an ``O(s)``
    check that the gradient fits its dtype, where reading ``grad_X`` would cost ``O(N d)``.
    """

    grad: object
    largest_edge_gradient: object
    n_edges: int

    def fits(self, dtype, xp) -> bool:
        """Whether every entry is certainly finite in ``dtype`` (one host read)."""
        return bool(self.fits_on_device(dtype, xp))

    def fits_on_device(self, dtype, xp):
        """:meth:`fits` as a 0-d bool array, computed where the gradient is (no host read)."""
        bound = xp.astype(self.largest_edge_gradient, xp.float64) * float(self.n_edges)
        return bound <= float(xp.finfo(dtype).max)


def persistence_vjp(backend, cloud, upstreams: Sequence[Upstream]) -> CloudGradient:
    """``grad_X`` of ``sum_k (g_b birth + g_l lifetime)`` over every upstream, in one scatter.

    The rule (DESIGN 2.2): with ``a = [lifetime > 0]`` the birth edge carries
    ``g_b - a g_l`` and the death edge ``a g_l``; the VJP is linear, so the edges of
    several samples (several homology dimensions) are scattered together.
    """
    xp = cloud.xp
    edges, lengths = [], []
    for sample, grad_birth, grad_lifetime in upstreams:
        grad_death = xp.where(sample.lifetime > 0, grad_lifetime, xp.zeros_like(grad_lifetime))
        edges += [sample.birth_edge, sample.death_edge]
        lengths += [grad_birth - grad_death, grad_death]
    edges, lengths = xp.concat(edges, axis=0), xp.concat(lengths)
    grad = backend.scatter_edges(cloud.array, edges, lengths, xp=xp)
    return CloudGradient(grad, _largest(xp.abs(lengths), xp), edges.shape[0])


# --- Kernel MMD ----------------------------------------------------------------------------------------------------

def _largest(x, xp):
    """``max(x)`` of a nonnegative array, as a 0-d array; 0 when it is empty."""
    return xp.max(x) if x.shape[0] else xp.zeros((), dtype=x.dtype, device=device_of(x))


def _power_of_two_scale(P: PersistenceSample, Q: PersistenceSample, xp, pool=None):
    """A power of two near the largest coordinate of either sample (1 if there is none), as a 0-d array;
    with a pool, of every rank's samples, so that all ranks compute in the same units.

    The kernel sums are computed on the points divided by it (and the bandwidth with
    them): exact in floating point, and no product of weights and moments can
    overflow or underflow unless the result itself does.
    """
    largest = xp.max(xp.stack([_largest(xp.abs(S.birth), xp) for S in (P, Q)]
                              + [_largest(S.lifetime, xp) for S in (P, Q)]))
    if pool is not None:
        largest = pool.max(xp.reshape(largest, (1,)))[0]
    usable = (largest > 0) & xp.isfinite(largest)
    exponent = xp.floor(xp.log2(xp.where(usable, largest, xp.ones_like(largest))))
    return xp.where(usable, 2.0**exponent, xp.ones_like(largest))


def _times_power(x, base, exponent: float):
    """``x * base**exponent`` for a power of two ``base`` (a 0-d array), in closed form (:func:`_power_factors`)."""
    return _times(x, _power_factors(base, exponent, x.dtype, array_namespace(x, base)))


def _times(x, factors: tuple):
    for factor in factors:
        x = x * factor
    return x


@functools.cache
def _exponent_range(dtype, xp) -> tuple[int, int]:
    """``(span, step)``: the number of binary exponents of ``dtype``, subnormals included, and the largest
    exponent of a factor that is a finite number (one below the largest finite number's)."""
    info = xp.finfo(dtype)
    # Exponents of the largest finite number and of the smallest subnormal (smallest normal times eps).
    largest = math.floor(math.log2(float(info.max)))
    smallest = round(math.log2(float(info.smallest_normal)) + math.log2(float(info.eps)))
    return largest - smallest + 1, largest - 1


def _power_factors(base, exponent: float, dtype, xp) -> tuple:
    """0-d arrays of ``dtype`` whose product is ``base**exponent`` for a power of two ``base`` (a 0-d array).

    ``base**exponent = 2^E`` is split into factors ``2^E_k`` with ``E_k`` within
    the dtype's exponent range, so every factor is representable and, multiplied
    into ``x`` one after the other, every intermediate lies between ``x`` and the
    result: none overflows or underflows unless the result does. Beyond the dtype's
    whole exponent range (subnormals included) the result is 0 or infinite for any
    representable ``x``, so ``E`` is clipped to it and the number of factors is fixed
    by the dtype (three for float32 and float64), whatever ``exponent`` is. The
    factors depend on ``base`` and ``exponent`` only: one split serves every array
    scaled by the same power.
    """
    span, step = _exponent_range(dtype, xp)
    remaining = _clamp(xp.round(xp.log2(xp.astype(base, dtype))) * exponent, span, xp)
    factors = []
    for _ in range(math.ceil(span / step)):
        part = _clamp(remaining, step, xp)
        factors.append(2.0**part)
        remaining = remaining - part
    return tuple(factors)


def _clamp(x, bound: float, xp):
    """``x`` clipped to ``[-bound, bound]``; not ``xp.clip``, which array-api-compat implements with boolean-mask
    assignments: a host synchronisation on a GPU, and none can be captured in a CUDA graph."""
    high = xp.full_like(x, bound)
    return xp.where(x > high, high, xp.where(x < -high, -high, x))


def _collapsed_row_sums(pair_moments, points: KernelPoints, partner: KernelPoints, moments: Moments, inv_two_h2,
                        xp) -> Moments:
    """``m0`` of the points with lifetime 0, which compiled backends skip.

    Needed only for the one-sided lifetime gradient at ``l = 0`` when ``p = 1``
    (``w'(0) = 1``). The selection has a data-dependent shape (one host
    synchronisation on a GPU); PPM-Reg never asks for it.
    """
    collapsed = xp.nonzero(points.lifetime == 0)[0]
    if collapsed.shape[0] == 0:
        return moments
    rows = KernelPoints(xp.take(points.birth, collapsed), xp.take(points.lifetime, collapsed),
                        xp.ones((collapsed.shape[0],), dtype=points.v.dtype, device=device_of(points.v)))
    row_moments, _ = pair_moments(rows, partner, same_set=False, inv_two_h2=inv_two_h2, xp=xp)
    filled = segment_sum(collapsed, row_moments.m0[:, None], points.lifetime.shape[0], xp=xp)[:, 0]
    m0 = xp.where(points.lifetime == 0, xp.astype(filled, moments.m0.dtype), moments.m0)
    return moments._replace(m0=m0)


def _moment_sets(pair_moments, P: PointSet, Q: PointSet, *, unbiased: bool, fill_collapsed: bool, inv_two_h2, xp):
    """The moments the assembly needs: within ``P``, within ``Q``, ``P`` against ``Q``, ``Q`` against ``P``
    (the last two None when they are folded into the first two).

    The V-statistic is ``|sum_P v phi(z) - sum_Q v phi(y)|^2``: one within-sum over the union of ``P`` and
    ``Q`` with ``Q``'s weights negated. A point's moments against that signed union are its within-moments
    minus its cross-moments (negated for ``Q``), and that difference is all the assembly uses when the
    within-sums are not rescaled: one backend call instead of three, and each point's difference is formed
    inside its own sum. The U-statistic rescales the within-sums, so they are computed apart.
    """
    kp, kq = P.kernel_points, Q.kernel_points
    if not unbiased:
        union = KernelPoints(*(xp.concat([a, b]) for a, b in zip(kp, kq._replace(v=-kq.v))))
        combined, _ = pair_moments(union, union, same_set=True, inv_two_h2=inv_two_h2, xp=xp)
        if fill_collapsed:
            combined = _collapsed_row_sums(pair_moments, union, union, combined, inv_two_h2, xp)
        n_p = kp.v.shape[0]
        return Moments(*(m[:n_p] for m in combined)), Moments(*(-m[n_p:] for m in combined)), None, None
    within_p, _ = pair_moments(kp, kp, same_set=True, inv_two_h2=inv_two_h2, xp=xp)
    within_q, _ = pair_moments(kq, kq, same_set=True, inv_two_h2=inv_two_h2, xp=xp)
    cross_p, cross_q = pair_moments(kp, kq, same_set=False, inv_two_h2=inv_two_h2, xp=xp)
    if fill_collapsed:
        within_p = _collapsed_row_sums(pair_moments, kp, kp, within_p, inv_two_h2, xp)
        within_q = _collapsed_row_sums(pair_moments, kq, kq, within_q, inv_two_h2, xp)
        cross_p = _collapsed_row_sums(pair_moments, kp, kq, cross_p, inv_two_h2, xp)
        cross_q = _collapsed_row_sums(pair_moments, kq, kp, cross_q, inv_two_h2, xp)
    return within_p, within_q, cross_p, cross_q


# The median rule looks at this many points with a feature from each sample (the first ones: a Monte Carlo
# PPM's points are i.i.d. draws, so they are a random subset of its points).
MEDIAN_POINTS = 128


def median_bandwidth(P: PersistenceSample, Q: PersistenceSample, xp, pool=None):
    """The median heuristic, as a 0-d array: ``h = median |z_i - z_j|`` over the pairs of the pooled points
    with a feature (``lifetime > 0``), the first ``MEDIAN_POINTS`` of each sample; where fewer than two
    such points differ, the largest birth plus the largest lifetime of either sample (1 if all are 0).

    Computed from the values alone (no gradient flows through ``h``). The selection of
    the points with a feature has a data-dependent shape: one host synchronisation on a GPU.
    With a pool, the first points of every rank's samples are pooled.
    """
    heads = []
    for S in (P, Q):
        alive = xp.nonzero(S.lifetime > 0)[0][:MEDIAN_POINTS]
        heads.append(xp.stack([xp.take(S.birth, alive), xp.take(S.lifetime, alive)], axis=1))
    points = xp.concat(heads, axis=0)
    largest = xp.max(xp.stack([_largest(xp.abs(S.birth), xp) + _largest(S.lifetime, xp) for S in (P, Q)]))
    if pool is not None:  # every rank's first points, in rank order: the same bandwidth on every rank
        points = xp.concat(_pool.gather_rows(pool, points, xp), axis=0)
        largest = pool.max(xp.reshape(largest, (1,)))[0]
    fallback = xp.where(largest > 0, largest, xp.ones_like(largest))
    n = points.shape[0]
    if n < 2:
        return fallback
    difference = points[:, None, :] - points[None, :, :]
    distance = xp.sqrt(xp.sum(difference * difference, axis=-1))
    order = xp.arange(n, device=device_of(points))
    upper = xp.where(order[:, None] < order[None, :], distance, xp.full_like(distance, float("inf")))
    ranked = xp.sort(xp.reshape(upper, (-1,)))
    count = n * (n - 1) // 2
    median = (ranked[(count - 1) // 2] + ranked[count // 2]) / 2.0
    return xp.where(median > 0, median, fallback)


# "auto" takes the Fourier method from this many points (both PPMs together), about where it was measured to
# overtake the direct sums of the Numba backend in float64 (about 3000 in float32; docs/scaling.md), and only
# with a NUFFT library.
FOURIER_CROSSOVER = 2000


def _auto_takes_fourier(backend, options, n_points: int, xp) -> bool:
    # The point count first: building the transforms (FINUFFT's) costs more than a small call's work.
    return n_points >= FOURIER_CROSSOVER and not isinstance(backend.fourier_transforms(options.tol, xp=xp), Explicit)


def takes_fourier(backend, options, n_points: int, xp) -> bool:
    """Whether a single process computes an MMD of ``n_points`` points (both PPMs together) with the MMD
    ``options`` by the Fourier method (else by the backend's direct sums)."""
    if options.method != "auto":
        return options.method == "fft"
    return _auto_takes_fourier(backend, options, n_points, xp)


def _pair_moments_method(backend, options, sets, xp, pool=None):
    """The ``pair_moments`` of ``options.method``: the backend's direct sums, or the Fourier method; with a
    pool, against the sets pooled over its ranks.

    ``"auto"`` decides on the arrays' shapes alone (no host synchronisation; with a
    pool, on their sum over the ranks), and falls back to the direct sums when the
    data would need too large a grid.
    """
    direct = backend.pair_moments if pool is None else _pool.direct_pair_moments(pool, backend.pair_moments)
    if options.method == "direct":
        return direct
    if options.method == "auto":
        n_points = sum(s.v.shape[0] for s in sets)
        if pool is not None:
            n_points = _pool.total(pool, n_points, xp, device_of(sets[0].v))
        if not _auto_takes_fourier(backend, options, n_points, xp):
            return direct
    fourier = functools.partial(_fourier.pair_moments, tol=options.tol,
                                transforms=backend.fourier_transforms(options.tol, xp=xp), pool=pool)
    return fourier if options.method == "fft" else functools.partial(fourier, fallback=direct)


class MMDResult(NamedTuple):
    """The MMD (or its root), its gradients with respect to both samples' points (or None), and the
    bandwidth it used (the option's number, or the median rule's 0-d array)."""

    value: object
    grads: object
    bandwidth: object


def kernel_mmd(backend, P: PersistenceSample, Q: PersistenceSample, options, *, with_grad: bool,
               grad_at_collapsed: bool, xp, mass_square_sums=None, pool=None) -> MMDResult:
    """MMD (``options.squared`` or its root) of two samples and, with ``with_grad``, its gradients.

    ``grads = ((d_birth_P, d_lifetime_P), (d_birth_Q, d_lifetime_Q))``, in the dtype
    the backend's moments come in. With ``grad_at_collapsed=False`` the lifetime
    gradient at points of lifetime 0 is 0 (PPM-Reg's VJP discards it), which lets
    compiled backends skip those points. ``mass_square_sums`` are the sums of
    squared masses of the measures when ``P`` and ``Q`` hold only some of their
    points (:func:`monte_carlo_persistence`): floats, which the unbiased estimator needs.

    With a ``pool`` (:mod:`ppm_array._pool`), ``P`` and ``Q`` are this rank's shares
    of PPMs pooled over its ranks: the value is the pooled MMD, the same on every
    rank, and the gradients are its derivatives with respect to this rank's points.
    """
    p = options.weight_power
    bandwidth = median_bandwidth(P, Q, xp, pool) if options.bandwidth == "median" else options.bandwidth
    scale = _power_of_two_scale(P, Q, xp, pool)
    sets = [point_set(S.birth / scale, S.lifetime / scale, S.mass, p) for S in (P, Q)]
    # (scale / h)^2 overflows only for a bandwidth far below the data's scale: the kernel is then a
    # delta, and the largest finite number keeps 0 * inv_h2 = 0 where an infinity would give NaN. (A
    # multiplication, as scale is a power of two: the same number, and no division by a bandwidth that is 0
    # in the dtype, such as 1e-300 in float32. Not xp.clip: array-api-compat's clip selects with a boolean
    # mask, a host synchronisation on a GPU.)
    ratio = scale * (1.0 / bandwidth)
    largest_finite = xp.full_like(ratio, xp.finfo(ratio.dtype).max)
    inv_h2 = xp.where(ratio * ratio < largest_finite, ratio * ratio, largest_finite)
    inv_two_h2 = inv_h2 / 2.0
    within_p, within_q, cross_p, cross_q = _moment_sets(
        _pair_moments_method(backend, options, sets, xp, pool), *sets, unbiased=options.unbiased,
        fill_collapsed=with_grad and grad_at_collapsed and p == 1.0, inv_two_h2=inv_two_h2, xp=xp)
    dtype = within_p.m0.dtype
    sets = [type(s)(*(xp.astype(a, dtype) for a in s)) for s in sets]
    scale = xp.astype(scale, dtype)
    value, grads = assemble(*sets, within_p, within_q, cross_p, cross_q, inv_h2=xp.astype(inv_h2, dtype),
                            unbiased=options.unbiased, with_grad=with_grad, xp=xp, mass_square_sums=mass_square_sums)
    if pool is not None:  # a sum over points: this rank's share, summed over the ranks
        value = pool.sum(xp.reshape(value, (1,)))[0]
    degree = 2.0 * p
    if not options.squared:
        value, grads = _square_root(value, grads, xp)
        degree = p
    value = _times(value, _power_factors(scale, degree, dtype, xp))
    if grads is not None:
        factors = _power_factors(scale, degree - 1, dtype, xp)
        grads = tuple((_times(g_birth, factors), _times(g_lifetime, factors)) for g_birth, g_lifetime in grads)
        if not grad_at_collapsed:
            grads = tuple((g_birth, xp.where(s.lifetime > 0, g_lifetime, xp.zeros_like(g_lifetime)))
                          for (g_birth, g_lifetime), s in zip(grads, sets))
    return MMDResult(value, grads, bandwidth)


def _square_root(value, grads, xp):
    """``sqrt(max(M, 0))`` and ``dM / (2 sqrt(M))``, defined as 0 where ``M <= 0``."""
    root = xp.sqrt(xp.where(value > 0, value, xp.zeros_like(value)))
    if grads is None:
        return root, None
    factor = xp.where(root > 0, 0.5 / xp.where(root > 0, root, xp.ones_like(root)), xp.zeros_like(root))
    return root, tuple((g_birth * factor, g_lifetime * factor) for g_birth, g_lifetime in grads)


# --- PPM-Reg -------------------------------------------------------------------------------------------------------

class Regularized(NamedTuple):
    """PPM-Reg's value, the gradients (:class:`CloudGradient`, or None), and per entry of ``dims`` the MMD term
    (unweighted) and the bandwidth it used, each an array of shape ``(len(dims),)``; all in the working dtype."""

    value: object
    grad_x: object
    grad_y: object
    terms: object
    bandwidths: object


class DeviceDraw(NamedTuple):
    """A :class:`Draw` on the clouds' device: ``indices`` int64 and ``mass`` (None, or the clouds' dtype)."""

    indices: object
    mass: object
    mass_square_sum: float


def upload(draws, cloud) -> tuple:
    """The draws of :func:`draw_regularizer` on ``cloud``'s device."""
    xp, device, dtype = cloud.xp, cloud.device, cloud.array.dtype

    def one(d: Draw) -> DeviceDraw:
        mass = None if d.mass is None else xp.asarray(d.mass, dtype=dtype, device=device)
        return DeviceDraw(xp.asarray(d.indices, device=device), mass, d.mass_square_sum)

    return tuple((one(dx), one(dy)) for dx, dy in draws)


def regularizer(backend, cloud_x, cloud_y, options, draws, *, with_grad: bool, pool=None) -> Regularized:
    """PPM-Reg of two validated clouds from their uploaded draws (:func:`upload`), one ``(draw_x, draw_y)`` per
    entry of ``options.dims``. With a ``pool``, the clouds are this rank's shards and the PPMs are pooled over
    its ranks (:mod:`ppm_array._pool`).

    Device work only: nothing here moves data between the host and the device (on
    the direct method with a numeric bandwidth, without a pool), so the whole
    computation can be captured as one CUDA graph (:mod:`ppm_array._backends.cuda_graphs`).
    """
    xp = cloud_x.xp
    dtype = cloud_x.array.dtype
    world_size = 1 if pool is None else pool.world_size
    terms, bandwidths = [], []
    upstreams = ([], [])
    for q, weight, n_subsamples, (draw_x, draw_y) in zip(options.dims, options.weights, options.n_subsamples, draws):
        P, Q = (monte_carlo_persistence(backend, cloud, q, d.indices, d.mass, world_size * n_subsamples)
                for cloud, d in ((cloud_x, draw_x), (cloud_y, draw_y)))
        result = kernel_mmd(backend, P, Q, options.mmd, with_grad=with_grad, grad_at_collapsed=False, xp=xp,
                            mass_square_sums=(draw_x.mass_square_sum, draw_y.mass_square_sum), pool=pool)
        terms.append(xp.astype(result.value, dtype))
        bandwidth = result.bandwidth
        bandwidths.append(xp.astype(bandwidth, dtype) if hasattr(bandwidth, "shape")
                          else xp.full((), bandwidth, dtype=dtype, device=cloud_x.device))
        if with_grad:
            for pending, sample, (d_birth, d_lifetime) in zip(upstreams, (P, Q), result.grads):
                pending.append(Upstream(sample, weight * xp.astype(d_birth, dtype), weight * xp.astype(d_lifetime, dtype)))
    value = sum(weight * term for weight, term in zip(options.weights, terms))
    grad_x = persistence_vjp(backend, cloud_x, upstreams[0]) if with_grad else None
    grad_y = persistence_vjp(backend, cloud_y, upstreams[1]) if with_grad else None
    return Regularized(value, grad_x, grad_y, xp.stack(terms), xp.stack(bandwidths))

"""Reference backend: every operation in standard Array-API calls.

It runs unchanged on NumPy, CuPy, PyTorch, JAX and array-api-strict, and it is the
oracle the compiled backends are tested against. Its kernels keep the shapes of
their inputs; it also offers the subsamples with a feature only
(:class:`.contract.FeaturePersistence`), which PPM-Reg uses to leave the others out
of the dense kernel blocks: a selection whose size depends on the data (one host
synchronisation on a GPU).

Distances follow the one contract of ``docs/math.md`` ("Distances"), the algorithm of
the compiled kernels' ``distance`` (``_kernel_bodies.py``): differences in float64, the
plain sum of squares where it lies safely inside float64's range, else the
differences divided by their largest component first. The same numbers as the
compiled backends, to the last bit where the sums run in the same order (``d <= 8``).
Without float64 on the arrays' device (torch's MPS, JAX without x64), in the working
dtype, always divided by the largest component first.
"""

from __future__ import annotations

from typing import Any

from .._boundary.namespace import cast, has_float64
from .._boundary.namespace import device as device_of
from ._kernel_bodies import SAFE_HIGH, SAFE_LOW
from ._nufft import Explicit
from .contract import KernelPoints, Moments, Transforms
from .contract import placed_by_arrays as on_device
from .segment_sum import segment_sum

__all__ = [
    "all_finite",
    "feature_persistence",
    "fourier_transforms",
    "on_device",
    "pair_moments",
    "persistence",
    "scatter_edges",
]

# Rows of the first argument per kernel block: a block holds at most this many pairs.
_PAIRS_PER_BLOCK = 2**22


def fourier_transforms(tol: float, *, xp: Any) -> Transforms:
    return Explicit(xp)


def all_finite(X: Any, *, xp: Any) -> bool:
    return bool(xp.all(xp.isfinite(X)))


def _scaled_difference(a, b, xp):
    """``(a - b) / c`` and ``c = max|a - b|`` along the last axis (``c = 1`` where 0).

    Dividing by the largest component before squaring keeps norms free of overflow
    and underflow at any coordinate scale.
    """
    diff = a - b
    largest_component = xp.max(xp.abs(diff), axis=-1, keepdims=True)
    largest_component = xp.where(largest_component > 0, largest_component, xp.ones_like(largest_component))
    return diff / largest_component, largest_component[..., 0]


def _scaled_distance(a, b, xp):
    scaled, largest_component = _scaled_difference(a, b, xp)
    return xp.sqrt(xp.sum(scaled * scaled, axis=-1)) * largest_component


def _distance(a, b, xp):
    """``|a - b|`` along the last axis by the compiled kernels' algorithm (module docstring), in float64 (in the
    dtype of ``a`` without float64): callers round their results to the data's dtype last, as the kernels do."""
    if not has_float64(xp, device_of(a)):
        return _scaled_distance(a, b, xp)
    diff = xp.astype(a, xp.float64) - xp.astype(b, xp.float64)
    # Components are capped at 1e150 (a square of 1e300) so that no square overflows; a capped one puts the
    # sum beyond SAFE_HIGH, where the scaled distance is taken.
    bounded = xp.minimum(xp.abs(diff), xp.full_like(diff, 1e150))
    total = xp.sum(bounded * bounded, axis=-1)
    inside = (total > SAFE_LOW) & (total < SAFE_HIGH)
    plain = xp.sqrt(xp.where(inside, total, xp.ones_like(total)))
    return xp.where(inside, plain, _scaled_distance(diff, xp.zeros_like(diff), xp))


def _unit_vector(a, b, xp):
    """``(a - b) / |a - b|``, and 0 where the points coincide (never NaN)."""
    scaled, _ = _scaled_difference(a, b, xp)
    norm = xp.sqrt(xp.sum(scaled * scaled, axis=-1, keepdims=True))
    return scaled / xp.where(norm > 0, norm, xp.ones_like(norm))


def _take_rows(table, column, xp):
    """``table[k, column[k]]`` for every row ``k``."""
    return xp.take_along_axis(table, column[:, None], axis=1)[:, 0]


def feature_persistence(X: Any, indices: Any, q: int, *, xp: Any) -> tuple[Any, Any, Any, Any, Any]:
    birth, lifetime, birth_edge, death_edge = persistence(X, indices, q, xp=xp)
    rows = xp.nonzero(lifetime > 0)[0]
    return tuple(xp.take(a, rows, axis=0) for a in (birth, lifetime, birth_edge, death_edge)) + (rows,)


def persistence(X: Any, indices: Any, q: int, *, xp: Any) -> tuple[Any, Any, Any, Any]:
    n_subsamples, m = indices.shape
    points = xp.reshape(xp.take(X, xp.reshape(indices, (-1,)), axis=0), (n_subsamples, m, X.shape[1]))
    if q == 0:
        lifetime = xp.astype(_distance(points[:, 0, :], points[:, 1, :], xp), X.dtype)
        first = indices[:, 0:1]
        return xp.zeros_like(lifetime), lifetime, xp.concat([first, first], axis=1), indices
    distances = _distance(points[:, :, None, :], points[:, None, :, :], xp)
    device = device_of(X)
    positions = xp.arange(m, device=device)
    # Distances are >= 0, so -1 removes an entry from max/argmax; argmax returns
    # the first maximum, which makes ties resolve to the lowest index.
    off_diagonal = xp.where(positions[:, None] == positions[None, :], -xp.ones_like(distances), distances)
    farthest = xp.argmax(off_diagonal, axis=-1)
    f1 = xp.max(off_diagonal, axis=-1)
    without_farthest = xp.where(positions[None, None, :] == farthest[..., None], -xp.ones_like(distances), off_diagonal)
    second = xp.argmax(without_farthest, axis=-1)
    f2 = xp.max(without_farthest, axis=-1)
    i_birth = xp.argmax(f2, axis=-1)
    i_death = xp.argmin(f1, axis=-1)
    birth = xp.max(f2, axis=-1)
    lifetime = xp.clip(xp.min(f1, axis=-1) - birth, 0, None)
    j_birth = _take_rows(second, i_birth, xp)
    j_death = _take_rows(farthest, i_death, xp)
    birth_edge = xp.stack([_take_rows(indices, i_birth, xp), _take_rows(indices, j_birth, xp)], axis=1)
    death_edge = xp.stack([_take_rows(indices, i_death, xp), _take_rows(indices, j_death, xp)], axis=1)
    return xp.astype(birth, X.dtype), xp.astype(lifetime, X.dtype), birth_edge, death_edge


def scatter_edges(X: Any, edges: Any, grad_length: Any, *, xp: Any) -> Any:
    start = xp.take(X, edges[:, 0], axis=0)
    end = xp.take(X, edges[:, 1], axis=0)
    push = cast(grad_length, X.dtype, xp)[:, None] * _unit_vector(start, end, xp)
    return segment_sum(xp.concat([edges[:, 0], edges[:, 1]]), xp.concat([push, -push], axis=0), X.shape[0], xp=xp)


def pair_moments(
    A: KernelPoints, B: KernelPoints, *, same_set: bool, inv_two_h2: Any, xp: Any
) -> tuple[Moments, Moments]:
    """Dense blocks of at most ``_PAIRS_PER_BLOCK`` kernel entries, rows of ``A`` against all of ``B``."""
    n_a, n_b = A.birth.shape[0], B.birth.shape[0]
    device = device_of(A.birth)
    block = max(1, _PAIRS_PER_BLOCK // max(1, n_b))
    rows, columns = [], []
    for start in range(0, max(n_a, 1), block):  # one empty block when A is empty
        stop = min(start + block, n_a)
        d_birth = A.birth[start:stop, None] - B.birth[None, :]
        d_lifetime = A.lifetime[start:stop, None] - B.lifetime[None, :]
        kernel = xp.exp(-(d_birth * d_birth + d_lifetime * d_lifetime) * inv_two_h2)
        if same_set:
            off_diagonal = xp.arange(start, stop, device=device)[:, None] != xp.arange(n_b, device=device)[None, :]
            kernel = xp.where(off_diagonal, kernel, xp.zeros_like(kernel))
        weighted = B.v[None, :] * kernel
        rows.append(
            xp.stack(
                [xp.sum(weighted, axis=1), xp.sum(weighted * d_birth, axis=1), xp.sum(weighted * d_lifetime, axis=1)]
            )
        )
        if not same_set:
            weighted = A.v[start:stop, None] * kernel
            columns.append(
                xp.stack(
                    [
                        xp.sum(weighted, axis=0),
                        -xp.sum(weighted * d_birth, axis=0),
                        -xp.sum(weighted * d_lifetime, axis=0),
                    ]
                )
            )
    moments_a = _moments(xp.concat(rows, axis=1))
    if same_set:
        return moments_a, moments_a
    return moments_a, _moments(sum(columns[1:], columns[0]))


def _moments(stacked) -> Moments:
    return Moments(stacked[0, :], stacked[1, :], stacked[2, :])

"""Persistence of subsamples and its VJP, on validated arguments, through a backend's kernels.

The closed form of ``PH_q`` (DESIGN 2.1) runs in the backend (:meth:`Backend.persistence`);
this module gives its results their masses, and turns upstream gradients with
respect to births and lifetimes into ``grad_X`` by the rule of DESIGN 2.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, cast

from .._backends.contract import Backend, FeaturePersistence, offers
from .._boundary.namespace import device as device_of
from .._boundary.namespace import largest
from .._boundary.validation import Points
from .sample import PersistenceSample

__all__ = [
    "CloudGradient",
    "Upstream",
    "batched_persistence",
    "monte_carlo_persistence",
    "persistence",
    "persistence_vjp",
]


def monte_carlo_persistence(
    backend: Backend, cloud: Points, q: int, indices: Any, mass: Any, n_total: int
) -> PersistenceSample:
    """PPM-Reg's Monte Carlo ``PPM_q`` of ``cloud`` from device ``indices`` and ``mass`` (a device array, or
    None for ``1 / n_total`` each).

    Where the backend can return the subsamples with a feature only
    (:class:`~ppm_array._backends.contract.FeaturePersistence`: a shape that depends on
    the data, so never on a GPU) the sample holds only those (``lifetime > 0``): the others have weight
    ``w(0) = 0``, add nothing to an MMD, and PPM-Reg's VJP discards their lifetime
    gradient, so dropping them is exact. The masses keep their values (``1/s`` each,
    or the merged pairs' shares), so the sample's masses no longer sum to 1.
    """
    xp = cloud.xp
    dtype, device = cloud.array.dtype, cloud.device
    if offers(backend, FeaturePersistence):
        birth, lifetime, birth_edge, death_edge, rows = cast(FeaturePersistence, backend).feature_persistence(
            cloud.array, indices, q, xp=xp
        )
        mass = None if mass is None else xp.take(mass, rows)
    else:
        birth, lifetime, birth_edge, death_edge = backend.persistence(cloud.array, indices, q, xp=xp)
    if mass is None:
        mass = xp.full((birth.shape[0],), 1.0 / n_total, dtype=dtype, device=device)
    return PersistenceSample(birth, lifetime, birth_edge, death_edge, mass, q, cloud.array.shape[0])


def batched_persistence(
    backend: Backend, cloud: Points, q: int, indices: Any, mass: Any, n_total: int
) -> PersistenceSample:
    """:func:`monte_carlo_persistence` of every cloud of a batch (``cloud.array`` of shape ``(B, N, d)``) from
    the same subsamples, in one backend call: the batch is one cloud of ``B N`` rows, and item ``b`` takes the
    rows of ``indices`` offset by ``b N``. Every subsample is kept (one shape for every item): the sample's
    arrays have shape ``(B, s)`` (edges ``(B, s, 2)``, rows of the flattened batch)."""
    xp = cloud.xp
    n_items, n_points, d = cloud.array.shape
    n_subsamples, m = indices.shape
    flat = xp.reshape(cloud.array, (n_items * n_points, d))
    offsets = xp.reshape(xp.arange(n_items, dtype=indices.dtype, device=cloud.device) * n_points, (n_items, 1, 1))
    rows = xp.reshape(xp.expand_dims(indices, axis=0) + offsets, (n_items * n_subsamples, m))
    birth, lifetime, birth_edge, death_edge = backend.persistence(flat, rows, q, xp=xp)
    shape = (n_items, n_subsamples)
    if mass is None:
        mass = xp.full(shape, 1.0 / n_total, dtype=cloud.array.dtype, device=cloud.device)
    else:
        mass = xp.broadcast_to(mass, shape)
    return PersistenceSample(
        xp.reshape(birth, shape),
        xp.reshape(lifetime, shape),
        xp.reshape(birth_edge, shape + (2,)),
        xp.reshape(death_edge, shape + (2,)),
        mass,
        q,
        n_items * n_points,
    )


def persistence(backend: Backend, cloud: Points, q: int, indices: Any, mass: Any = None) -> PersistenceSample:
    """Closed-form ``PH_q`` of every row of ``indices``; ``mass`` defaults to ``1/s`` each."""
    xp = cloud.xp
    birth, lifetime, birth_edge, death_edge = backend.persistence(cloud.array, indices, q, xp=xp)
    if mass is None:
        mass = xp.full((indices.shape[0],), 1.0 / indices.shape[0], dtype=birth.dtype, device=device_of(birth))
    return PersistenceSample(birth, lifetime, birth_edge, death_edge, mass, q, cloud.array.shape[0])


class Upstream(NamedTuple):
    """Upstream gradients with respect to the points of one persistence sample."""

    sample: PersistenceSample
    grad_birth: Any
    grad_lifetime: Any


class CloudGradient(NamedTuple):
    """``grad_X`` of a VJP, and what bounds its entries without reading it.

    Each edge adds its upstream gradient times a unit vector to two rows, so no
    entry exceeds ``n_edges * largest_edge_gradient`` (a 0-d array): an ``O(s)``
    check that the gradient fits its dtype, where reading ``grad_X`` would cost ``O(N d)``.
    """

    grad: Any
    largest_edge_gradient: Any
    n_edges: int

    def fits(self, dtype, xp) -> bool:
        """Whether every entry is certainly finite in ``dtype`` (one host read)."""
        return bool(self.fits_on_device(dtype, xp))

    def fits_on_device(self, dtype, xp):
        """:meth:`fits` as a 0-d bool array, computed where the gradient is (no host read)."""
        bound = xp.astype(self.largest_edge_gradient, xp.float64) * float(self.n_edges)
        return bound <= float(xp.finfo(dtype).max)


def persistence_vjp(backend: Backend, cloud: Points, upstreams: Sequence[Upstream]) -> CloudGradient:
    """``grad_X`` of ``sum_k (g_b birth + g_l lifetime)`` over every upstream, in one scatter.

    The rule (DESIGN 2.2): with ``a = [lifetime > 0]`` the birth edge carries
    ``g_b - a g_l`` and the death edge ``a g_l``; the VJP is linear, so the edges of
    several samples (several homology dimensions) are scattered together. A batch of
    clouds (``(B, N, d)``, samples of :func:`batched_persistence`) is one cloud of
    ``B N`` rows: one scatter for every item.
    """
    xp = cloud.xp
    edges, lengths = [], []
    for sample, grad_birth, grad_lifetime in upstreams:
        grad_death = xp.where(sample.lifetime > 0, grad_lifetime, xp.zeros_like(grad_lifetime))
        edges += [_merged(sample.birth_edge, 2, xp), _merged(sample.death_edge, 2, xp)]
        lengths += [_merged(grad_birth - grad_death, 1, xp), _merged(grad_death, 1, xp)]
    edges, lengths = xp.concat(edges, axis=0), xp.concat(lengths)
    grad = backend.scatter_edges(_merged(cloud.array, 2, xp), edges, lengths, xp=xp)
    if cloud.array.ndim != 2:  # a batch: its items' rows back apart
        grad = xp.reshape(grad, cloud.array.shape)
    return CloudGradient(grad, largest(xp.abs(lengths), xp), edges.shape[0])


def _merged(a: Any, ndim: int, xp: Any) -> Any:
    """``a`` with its leading axes merged into one, ``ndim`` axes in all (a batch's items one after the other);
    ``a`` itself when it has ``ndim`` axes (NumPy's reshape costs microseconds, which a small call repays)."""
    return a if a.ndim == ndim else xp.reshape(a, (-1, *a.shape[a.ndim - ndim + 1 :]))

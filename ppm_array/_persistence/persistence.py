"""Persistence of subsamples and its VJP, on validated arguments, through a backend's kernels.

The closed form of ``PH_q`` (DESIGN 2.1) runs in the backend (:meth:`Backend.persistence`);
this module gives its results their masses, and turns upstream gradients with
respect to births and lifetimes into ``grad_X`` by the rule of DESIGN 2.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from .._backends.contract import Backend, FeaturePersistence
from .._boundary.namespace import device as device_of
from .._boundary.namespace import largest
from .._boundary.validation import Points
from .sample import PersistenceSample

__all__ = ["CloudGradient", "Upstream", "monte_carlo_persistence", "persistence", "persistence_vjp"]


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
    if isinstance(backend, FeaturePersistence):
        birth, lifetime, birth_edge, death_edge, rows = backend.feature_persistence(cloud.array, indices, q, xp=xp)
        mass = None if mass is None else xp.take(mass, rows)
    else:
        birth, lifetime, birth_edge, death_edge = backend.persistence(cloud.array, indices, q, xp=xp)
    if mass is None:
        mass = xp.full((birth.shape[0],), 1.0 / n_total, dtype=dtype, device=device)
    return PersistenceSample(birth, lifetime, birth_edge, death_edge, mass, q, cloud.array.shape[0])


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
    return CloudGradient(grad, largest(xp.abs(lengths), xp), edges.shape[0])

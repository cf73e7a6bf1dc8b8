"""PPM-Reg of two clouds from their uploaded draws: per homology dimension a PPM of each cloud and their MMD,
then one VJP per cloud for every dimension together. Device work only."""

from __future__ import annotations

from typing import Any, NamedTuple

from .._backends.contract import Backend
from .._boundary.namespace import cast
from .._boundary.validation import Points
from .._mmd.mmd import kernel_mmd
from .._persistence.persistence import Upstream, batched_persistence, monte_carlo_persistence, persistence_vjp
from .._persistence.sample import PersistenceSample

__all__ = ["Regularized", "regularizer"]


class Regularized(NamedTuple):
    """PPM-Reg's value, the gradients (:class:`CloudGradient`, or None), and per entry of ``dims`` the MMD term
    (unweighted) and the bandwidth it used, each an array of shape ``(len(dims),)``; all in the working dtype.
    For a batch of clouds the value has shape ``(B,)`` and the terms and bandwidths ``(B, len(dims))``."""

    value: Any
    grad_x: Any
    grad_y: Any
    terms: Any
    bandwidths: Any


def regularizer(
    backend: Backend, cloud_x: Points, cloud_y: Points, options: Any, draws: tuple, *, with_grad: bool, pool: Any = None
) -> Regularized:
    """PPM-Reg of two validated clouds from their uploaded draws (:func:`upload`), one ``(draw_x, draw_y)`` per
    entry of ``options.dims``. With a ``pool``, the clouds are this rank's shards and the PPMs are pooled over
    its ranks (:mod:`ppm_array._mmd.pooled`).

    Device work only: nothing here moves data between the host and the device (on
    the direct method with a numeric bandwidth, without a pool), so the whole
    computation can be captured as one CUDA graph (:mod:`ppm_array._regularizer.cuda_graphs`).

    A batch: ``cloud_x`` of shape ``(B, N, d)`` and ``cloud_y`` of shape ``(B, M, d)``, or ``(M, d)`` shared by
    every item (its PPMs computed once, its gradient summed over the items). Every item takes the same draws.
    """
    xp = cloud_x.xp
    dtype = cloud_x.array.dtype
    world_size = 1 if pool is None else pool.world_size
    terms, bandwidths = [], []
    upstreams: tuple[list[Upstream], list[Upstream]] = ([], [])
    for q, weight, n_subsamples, (draw_x, draw_y) in zip(options.dims, options.weights, options.n_subsamples, draws):
        P, Q = (
            _ppm(backend, cloud, q, d, world_size * n_subsamples) for cloud, d in ((cloud_x, draw_x), (cloud_y, draw_y))
        )
        shared_q = P.birth.ndim == 2 and Q.birth.ndim == 1
        result = kernel_mmd(
            backend,
            P,
            _for_each_item(Q, P.birth.shape[0], xp) if shared_q else Q,
            options,
            with_grad=with_grad,
            grad_at_collapsed=False,
            xp=xp,
            mass_square_sums=(draw_x.mass_square_sum, draw_y.mass_square_sum),
            pool=pool,
        )
        terms.append(result.value)
        bandwidths.append(result.bandwidth)
        if with_grad:
            (d_birth_p, d_lifetime_p), (d_birth_q, d_lifetime_q) = result.grads
            if shared_q:  # one Q for every item: its points' gradients summed over the items
                d_birth_q, d_lifetime_q = xp.sum(d_birth_q, axis=0), xp.sum(d_lifetime_q, axis=0)
            # In the moments' dtype, which may be wider than the clouds': the VJP's scatter accumulates in it.
            upstreams[0].append(Upstream(P, weight * d_birth_p, weight * d_lifetime_p))
            upstreams[1].append(Upstream(Q, weight * d_birth_q, weight * d_lifetime_q))
    value = cast(sum(weight * term for weight, term in zip(options.weights, terms)), dtype, xp)
    grad_x = persistence_vjp(backend, cloud_x, upstreams[0]) if with_grad else None
    grad_y = persistence_vjp(backend, cloud_y, upstreams[1]) if with_grad else None
    return Regularized(
        value, grad_x, grad_y, cast(xp.stack(terms, axis=-1), dtype, xp), _bandwidths(bandwidths, value, cloud_x)
    )


def _bandwidths(bandwidths: list, value: Any, cloud: Points) -> Any:
    """The bandwidth of each term in the working dtype, shape ``value.shape + (len(dims),)``: the option's number
    for every term, or the median rule's arrays."""
    xp, dtype = cloud.xp, cloud.array.dtype
    if not hasattr(bandwidths[0], "shape"):  # a number: the same for every term
        return xp.full(value.shape + (len(bandwidths),), bandwidths[0], dtype=dtype, device=cloud.device)
    return cast(xp.stack(bandwidths, axis=-1), dtype, xp)


def _ppm(backend: Backend, cloud: Points, q: int, draw: Any, n_total: int) -> PersistenceSample:
    """The Monte Carlo ``PPM_q`` of a cloud, or of every cloud of a batch."""
    if cloud.array.ndim == 3:
        return batched_persistence(backend, cloud, q, draw.indices, draw.mass, n_total)
    return monte_carlo_persistence(backend, cloud, q, draw.indices, draw.mass, n_total)


def _for_each_item(S: PersistenceSample, n_items: int, xp: Any) -> PersistenceSample:
    """One sample shared by ``n_items`` items, as the samples of a batch (broadcast, no copy)."""

    def rows(a: Any) -> Any:
        return xp.broadcast_to(xp.expand_dims(a, axis=0), (n_items,) + tuple(a.shape))

    return S._replace(
        birth=rows(S.birth),
        lifetime=rows(S.lifetime),
        mass=rows(S.mass),
        birth_edge=rows(S.birth_edge),
        death_edge=rows(S.death_edge),
    )

"""PPM-Reg of two clouds from their uploaded draws: per homology dimension a PPM of each cloud and their MMD,
then one VJP per cloud for every dimension together. Device work only."""

from __future__ import annotations

from typing import Any, NamedTuple

from .._backends.contract import Backend
from .._boundary.validation import Points
from .._mmd.mmd import kernel_mmd
from .._persistence.persistence import Upstream, monte_carlo_persistence, persistence_vjp

__all__ = ["Regularized", "regularizer"]


class Regularized(NamedTuple):
    """PPM-Reg's value, the gradients (:class:`CloudGradient`, or None), and per entry of ``dims`` the MMD term
    (unweighted) and the bandwidth it used, each an array of shape ``(len(dims),)``; all in the working dtype."""

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
    """
    xp = cloud_x.xp
    dtype = cloud_x.array.dtype
    world_size = 1 if pool is None else pool.world_size
    terms, bandwidths = [], []
    upstreams: tuple[list[Upstream], list[Upstream]] = ([], [])
    for q, weight, n_subsamples, (draw_x, draw_y) in zip(options.dims, options.weights, options.n_subsamples, draws):
        P, Q = (
            monte_carlo_persistence(backend, cloud, q, d.indices, d.mass, world_size * n_subsamples)
            for cloud, d in ((cloud_x, draw_x), (cloud_y, draw_y))
        )
        result = kernel_mmd(
            backend,
            P,
            Q,
            options,
            with_grad=with_grad,
            grad_at_collapsed=False,
            xp=xp,
            mass_square_sums=(draw_x.mass_square_sum, draw_y.mass_square_sum),
            pool=pool,
        )
        terms.append(xp.astype(result.value, dtype))
        bandwidth = result.bandwidth
        bandwidths.append(
            xp.astype(bandwidth, dtype)
            if hasattr(bandwidth, "shape")
            else xp.full((), bandwidth, dtype=dtype, device=cloud_x.device)
        )
        if with_grad:
            for pending, sample, (d_birth, d_lifetime) in zip(upstreams, (P, Q), result.grads):
                pending.append(
                    Upstream(sample, weight * xp.astype(d_birth, dtype), weight * xp.astype(d_lifetime, dtype))
                )
    value = sum(weight * term for weight, term in zip(options.weights, terms))
    grad_x = persistence_vjp(backend, cloud_x, upstreams[0]) if with_grad else None
    grad_y = persistence_vjp(backend, cloud_y, upstreams[1]) if with_grad else None
    return Regularized(value, grad_x, grad_y, xp.stack(terms), xp.stack(bandwidths))

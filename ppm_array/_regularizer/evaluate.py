"""One PPM-Reg call from validated options: the clouds checked, the draws made, the device work run (as a CUDA
graph where it can be), the refusals read, the results handed back. The entry point of the public functions and
the adapters."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .._backends import select_backend
from .._boundary import validation as v
from .._boundary.namespace import to_numpy
from .._boundary.options import RegularizerOptions
from . import cuda_graphs
from .assembly import regularizer
from .draws import draw_regularizer, upload
from .results import PPMRegTerms, refuse, results_in_caller_dtype

__all__ = ["evaluate"]


def evaluate(X: Any, Y: Any, options: RegularizerOptions, rng: Any, *, with_grad: bool, pool: Any = None) -> Any:
    """PPM-Reg of two clouds with validated ``options``: the entry point of the public functions and the adapters.

    Returns the value, or ``(value, grad_X, grad_Y)`` with ``with_grad``, in the
    library, device and dtype of the inputs; with ``options.return_terms`` a
    :class:`PPMRegTerms` follows. With a ``pool`` (:mod:`ppm_array._mmd.pooled`; the
    adapters' distributed mode) ``X`` and ``Y`` are this rank's shards, the value is
    that of the PPMs pooled over the ranks, and the gradients are its derivatives
    with respect to the shards.
    """
    cloud_x = v.points(X, "X", check_finite=False, batch=True)
    cloud_y = v.points(Y, "Y", check_finite=False, batch=True)
    v.check_same_library(cloud_x, cloud_y, ("X", "Y"))
    n_items = v.check_batches(cloud_x, cloud_y)
    if n_items is not None and pool is not None:
        raise ValueError(
            f"a batch of clouds (X of shape {tuple(cloud_x.array.shape)}) cannot be pooled over ranks "
            "(group=): call once per cloud, or gather the batch on one rank"
        )
    n_x, n_y = cloud_x.array.shape[-2], cloud_y.array.shape[-2]
    options.check_sizes({"X": n_x, "Y": n_y})
    generator = v.check_rng(rng)
    if n_items == 0:
        return _empty_batch(cloud_x, cloud_y, options, with_grad)
    backend = select_backend(options.backend, cloud_x.array)
    draws = draw_regularizer(generator, n_x, n_y, options, 1 if pool is None else pool.world_size)
    with backend.on_device(cloud_x.array):
        if pool is None and cuda_graphs.applies(backend, options, draws, cloud_x.array.dtype, cloud_x.xp):
            body = functools.partial(_device_body, backend, options, with_grad)
            outputs = cuda_graphs.run(body, (options, with_grad), cloud_x, cloud_y, draws)
        else:
            outputs = _evaluate(backend, cloud_x, cloud_y, options, draws, with_grad, pool)
        results = outputs[:-1] if options.check_finite else outputs
        if options.check_finite:
            refuse(to_numpy(outputs[-1]), options.weight_power, cloud_x.result_dtype)
    value, *gradients = results[:3] if with_grad else results[:1]
    if options.return_terms:
        return (value, *gradients, PPMRegTerms(*results[-2:]))
    return (value, *gradients) if with_grad else value


def _empty_batch(cloud_x: Any, cloud_y: Any, options: RegularizerOptions, with_grad: bool) -> Any:
    """The results of a batch of no clouds: values of shape ``(0,)``, gradients of the inputs' shapes (zeros:
    for a ``Y`` shared by no item, a zero gradient), terms and bandwidths of shape ``(0, len(dims))``."""
    xp = cloud_x.xp

    def zeros(shape: tuple, cloud: Any) -> Any:
        return xp.zeros(shape, dtype=cloud.result_dtype, device=cloud.device)

    value = zeros((0,), cloud_x)
    gradients = (zeros(cloud_x.array.shape, cloud_x), zeros(cloud_y.array.shape, cloud_y)) if with_grad else ()
    if options.return_terms:
        return (value, *gradients, PPMRegTerms(*(zeros((0, len(options.dims)), cloud_x) for _ in range(2))))
    return (value, *gradients) if with_grad else value


def _device_body(
    backend,
    options: RegularizerOptions,
    with_grad: bool,
    cloud_x,
    cloud_y,
    device_draws,
    *,
    check_inputs: bool = True,
    pool=None,
) -> tuple:
    """The device work of a call from uploaded draws: the results (value, [grad_X, grad_Y,] terms,
    bandwidths) in the caller's dtype and, with ``check_finite``, the refusal flags of :func:`refusal_flags`
    last (the inputs' among them with ``check_inputs``). Moves nothing between host and device, so it can be
    captured as a CUDA graph (:mod:`ppm_array._regularizer.cuda_graphs`); with a ``pool``, the PPMs are pooled
    over its ranks."""
    xp = cloud_x.xp
    # A result beyond the dtype's range overflows to inf (refused by the flags), which NumPy would warn about.
    with np.errstate(over="ignore"):
        result = regularizer(backend, cloud_x, cloud_y, options, device_draws, with_grad=with_grad, pool=pool)
        results, refusals = results_in_caller_dtype(
            result, cloud_x, cloud_y, with_grad, options, xp, check_inputs=check_inputs
        )
    return results if refusals is None else (*results, refusals)


def _evaluate(backend, cloud_x, cloud_y, options: RegularizerOptions, draws, with_grad: bool, pool):
    """The computation of :func:`evaluate` on validated clouds and host ``draws``, as :func:`_device_body`
    returns it, without the graph.

    The inputs are checked before anything is computed (a host read each); the
    CUDA-graph path (:mod:`ppm_array._regularizer.cuda_graphs`) checks them with the
    results instead, in one read.
    """
    if options.check_finite:
        v.require_finite(cloud_x, "X", backend)
        v.require_finite(cloud_y, "Y", backend)
    return _device_body(
        backend, options, with_grad, cloud_x, cloud_y, upload(draws, cloud_x), check_inputs=False, pool=pool
    )

"""The PyTorch adapter's implementation (the user's documentation is :mod:`ppm_array.torch`): an autograd
Function around the core's explicit gradients, zero-copy tensor conversions, and the ``PPMReg`` module."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util

import numpy as np
import torch

from .._boundary import validation as v
from .._boundary.namespace import array_namespace
from .._boundary.options import RegularizerOptions
from .._regularizer.evaluate import evaluate
from .._regularizer.results import PPMRegTerms, require_finite_results
from .torch_pool import check_consistent, pool_for, rank_generator

__all__ = ["PPMReg", "ppm_reg"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _cupy_available() -> bool:
    return importlib.util.find_spec("cupy") is not None


def _core_library(device_type: str, backend: str) -> str:
    """The array library the core computes in for tensors on ``device_type``: NumPy on the CPU; CuPy on CUDA
    when it is installed and the Numba-CUDA kernels may run; the tensors themselves otherwise (Array-API
    backend)."""
    if device_type == "cpu":
        return "numpy"
    if device_type == "cuda" and backend != "array_api" and _cupy_available():
        return "cupy"
    return "torch"


def _to_core(tensor: torch.Tensor, backend: str):
    """A zero-copy view of a detached tensor in the library the core computes in."""
    tensor = tensor.detach()
    if tensor.dtype in _LOW_PRECISION:
        tensor = tensor.to(torch.float32)
    library = _core_library(tensor.device.type, backend)
    if library == "numpy":
        return tensor.numpy()
    if library == "cupy":
        import cupy

        return cupy.from_dlpack(tensor)
    return tensor


def _from_core(array, like: torch.Tensor) -> torch.Tensor:
    if isinstance(array, torch.Tensor):
        tensor = array
    elif isinstance(array, np.ndarray):
        tensor = torch.from_numpy(np.asarray(array))
    else:
        tensor = torch.from_dlpack(array)
    return tensor.to(device=like.device, dtype=like.dtype)


def _on_torch_stream(tensor: torch.Tensor, backend: str):
    """For a CUDA tensor the core computes on in CuPy: torch's device and current stream, made CuPy's current
    ones, so that the core's kernels are ordered with torch's work without a synchronisation, and the DLPack
    exchanges on that stream need no wait. A no-op otherwise."""
    if _core_library(tensor.device.type, backend) != "cupy":
        return contextlib.nullcontext()
    import cupy

    stack = contextlib.ExitStack()
    stack.enter_context(cupy.cuda.Device(tensor.device.index))
    stack.enter_context(_external_stream(cupy, torch.cuda.current_stream(tensor.device)))
    return stack


def _external_stream(cupy, stream: torch.cuda.Stream):
    """torch's stream as a CuPy stream: through the CUDA stream protocol (``Stream.from_external``, CuPy 14)
    where both libraries have it, else ``ExternalStream`` (deprecated from CuPy 14)."""
    if hasattr(stream, "__cuda_stream__") and hasattr(cupy.cuda.Stream, "from_external"):
        return cupy.cuda.Stream.from_external(stream)
    return cupy.cuda.ExternalStream(stream.cuda_stream, stream.device.index)


def _core_results(X, Y, options: RegularizerOptions, rng, with_grad: bool, pool=None):
    """The core's results as tensors like ``X``/``Y``: ``value, [grad_X, grad_Y,] terms, bandwidths``.

    With a pool the gradients are ``world_size`` times those of the pooled value, so that DDP's average of
    the parameter gradients over the ranks is the gradient of the pooled value (docs/distributed.md).
    """
    with _on_torch_stream(X, options.backend):
        return _core_tensors(X, Y, options, rng, with_grad, pool)


def _core_tensors(X, Y, options: RegularizerOptions, rng, with_grad: bool, pool):
    results = evaluate(
        _to_core(X, options.backend),
        _to_core(Y, options.backend),
        dataclasses.replace(options, return_terms=True),
        rng,
        with_grad=with_grad,
        pool=pool,
    )
    *arrays, terms = results
    tensors = [_from_core(arrays[0], X)]
    if with_grad:
        tensors += [_from_core(arrays[1], X), _from_core(arrays[2], Y)]
        if pool is not None:
            tensors[1:] = [pool.world_size * grad for grad in tensors[1:]]
    tensors += [_from_core(terms.mmd, X), _from_core(terms.bandwidth, X)]
    if X.dtype in _LOW_PRECISION and options.check_finite:  # computed in float32: within its range, maybe not X's
        require_finite_results(tensors, X.dtype, options.weight_power, array_namespace(X))
    return tensors


class _PPMRegFunction(torch.autograd.Function):
    """Used only when autograd will differentiate the result (see :func:`_apply`).

    The gradients are outputs of ``forward`` (marked non-differentiable), which is
    how ``torch.func`` lets a function save intermediate results.
    """

    @staticmethod
    def forward(X, Y, options, rng, pool):
        return tuple(_core_results(X, Y, options, rng, with_grad=True, pool=pool))

    @staticmethod
    def setup_context(ctx, inputs, output):
        X, Y, _, _, _ = inputs
        _, grad_x, grad_y, terms, bandwidths = output
        ctx.save_for_backward(grad_x, grad_y, X, Y)
        ctx.mark_non_differentiable(grad_x, grad_y, terms, bandwidths)

    @staticmethod
    def backward(ctx, grad_value, *unused):
        grad_x, grad_y, X, Y = ctx.saved_tensors
        grads = [
            _per_item(grad_value, grad) * grad if needed else None
            for grad, needed in zip((grad_x, grad_y), ctx.needs_input_grad[:2])
        ]
        if torch.is_grad_enabled():  # a graph of the gradient is being built (create_graph=True, torch.func)
            grads = [
                _FirstOrderOnly.apply(grad, point) if grad is not None else None for grad, point in zip(grads, (X, Y))
            ]
        return (*grads, None, None, None)

    @staticmethod
    def vmap(info, in_dims, X, Y, options, rng, pool):
        """The batched call: the mapped clouds as one batch ``(B, N, d)``, every item on the same subsamples. An
        unmapped cloud is expanded to the batch (no copy), so that each item has its own gradient."""
        batch = []
        for tensor, dim in ((X, in_dims[0]), (Y, in_dims[1])):
            if dim is None:
                if tensor.ndim != 2:
                    raise NotImplementedError(_NESTED)
                tensor = tensor.expand(info.batch_size, *tensor.shape)
            else:
                tensor = tensor.movedim(dim, 0)
                if tensor.ndim != 3:
                    raise NotImplementedError(_NESTED)
            batch.append(tensor)
        outputs = _PPMRegFunction.apply(*batch, options, rng, pool)
        return outputs, (0,) * len(outputs)


_NESTED = (
    "ppm_array.torch.ppm_reg under torch.func.vmap maps one level of batch onto the batched call; a batch of "
    "batches (vmap of a batched call, or vmap inside vmap) is not supported: reshape to one batch (B, N, d)"
)


def _per_item(grad_value: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """The upstream gradient of the value (one per item of a batch) shaped to multiply a cloud's gradient."""
    return grad_value.reshape(grad_value.shape + (1,) * (grad.ndim - grad_value.ndim))


def _transformed(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is wrapped by a ``torch.func`` transform (grad, vmap): only the autograd.Function
    can unwrap it."""
    return torch._C._functorch.is_functorch_wrapped_tensor(tensor)


class _FirstOrderOnly(torch.autograd.Function):
    """The gradient, marked so that differentiating it again raises a clear error instead of a silent zero."""

    generate_vmap_rule = True  # forward is a clone: torch.func batches it (vmap of grad, jacrev)

    @staticmethod
    def forward(grad, point):
        return grad.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, *unused):
        raise RuntimeError(
            "ppm_array.torch.ppm_reg has no second derivative: its gradient is an explicit "
            "first-order formula, so it cannot be differentiated again (create_graph=True, "
            "a gradient penalty, or nested torch.func.grad)"
        )


# torch.compile cannot trace into NumPy/Numba: this makes the call an explicit graph break.
@torch.compiler.disable
def _apply(X, Y, options: RegularizerOptions, rng, pool=None):
    for name, tensor in (("X", X), ("Y", Y)):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(tensor).__name__}")
    if pool is not None:
        check_consistent(pool, X, Y, options)
    if _transformed(X) or _transformed(Y) or (torch.is_grad_enabled() and (X.requires_grad or Y.requires_grad)):
        if X.ndim == 3 and Y.ndim == 2:  # a shared Y: each item's gradient, summed by autograd through expand
            Y = Y.expand(X.shape[0], *Y.shape)
        value, _, _, terms, bandwidths = _PPMRegFunction.apply(X, Y, options, rng, pool)
    else:
        value, terms, bandwidths = _core_results(X, Y, options, rng, with_grad=False, pool=pool)
    return (value, PPMRegTerms(terms, bandwidths)) if options.return_terms else value


def ppm_reg(X: torch.Tensor, Y: torch.Tensor, *, rng=None, group=None, **options):
    """PPM-Reg of two tensors as a 0-d tensor that autograd differentiates.

    ``options`` are those of :func:`ppm_array.ppm_reg` (``bandwidth`` is required).
    With ``return_terms=True`` the result is ``(value, terms)``: the per-dimension
    MMD terms and bandwidths as tensors that carry no gradient (for logging).

    ``rng`` draws the subsamples: pass one ``numpy.random.Generator`` made once and
    reused, so that every call draws new ones. An integer seed draws the *same*
    subsamples at every call, which is right for a reproducible evaluation and wrong
    for training; :class:`PPMReg` keeps a generator for you.

    ``group`` (a ``torch.distributed`` process group) makes ``X`` and ``Y`` this
    rank's shards of data-parallel batches: each rank draws its subsamples from its
    own shards (from a seed ``s``, with ``default_rng([s, rank])``; from a Generator,
    with its child for the rank), and the value is PPM-Reg between the PPMs pooled
    over the ranks, the same on every rank. The gradient with respect to a rank's
    shard is ``world_size`` times the pooled value's, so that DistributedDataParallel's
    average over the ranks is the gradient of the pooled value. A group of one rank
    gives exactly the call without it. See ``docs/distributed.md``.

    Examples
    --------
    >>> import numpy as np, torch, ppm_array.torch as pat
    >>> rng = np.random.default_rng(0)                  # once, outside the training loop
    >>> X = torch.randn(64, 2, dtype=torch.float64, requires_grad=True)
    >>> Y = torch.randn(64, 2, dtype=torch.float64)
    >>> loss = pat.ppm_reg(X, Y, bandwidth=0.2, rng=rng)
    >>> loss.backward()
    >>> X.grad.shape
    torch.Size([64, 2])
    """
    checked = RegularizerOptions.from_keywords("ppm_array.torch.ppm_reg()", options, exclude=("rng", "group"))
    pool = pool_for(group)
    return _apply(X, Y, checked, rng if pool is None else rank_generator(rng, pool), pool)


def _defining_options(options: RegularizerOptions) -> dict:
    """The options that define PPM-Reg's value, as plain Python values (what a ``PPMReg`` state records)."""
    return {
        "dims": options.dims,
        "weights": options.weights,
        "n_subsamples": options.n_subsamples,
        "replace": options.replace,
        "bandwidth": options.bandwidth,
        "weight_power": options.weight_power,
        "estimator": options.estimator,
        "squared": options.squared,
    }


class PPMReg(torch.nn.Module):
    """PPM-Reg as a module: holds the options and a seedable generator, so every call
    draws fresh subsamples (reproducibly for a given ``seed``).

    Build it once, outside the training loop: a module built at every step with the
    same ``seed`` draws the same subsamples at every step. The generator's state is
    part of ``state_dict()``, so a training run restored from a checkpoint draws the
    subsamples the original run would have drawn next. So are the options that
    define the value (``dims``, ``weights``, ``n_subsamples``, ``replace``,
    ``bandwidth``, ``weight_power``, ``estimator``, ``squared``): ``load_state_dict``
    refuses, with a ``ValueError`` naming them, a state saved by a module whose
    options differ, and restores nothing. How the value is computed (``backend``,
    ``method``, ``tol``, ``check_finite``, ``return_terms``) may differ.

    Parameters
    ----------
    bandwidth : float, 0-d tensor or "median"
    seed : None or int
        Seed of the module's ``numpy.random.Generator``; with a ``group`` of several
        ranks, each rank's generator is ``default_rng([seed, rank])``.
    group : None or a ``torch.distributed`` process group
        Pool the PPMs of the ranks' shards, as :func:`ppm_reg` does; the group
        must be initialised when the module is built.
    **options
        The other keywords of :func:`ppm_array.ppm_reg` (``dims``, ``weights``,
        ``n_subsamples``, ``replace``, ``weight_power``, ``estimator``, ``squared``,
        ``backend``, ``check_finite``, ``return_terms``), checked here.

    Examples
    --------
    >>> import torch, ppm_array.torch as pat
    >>> regularizer = pat.PPMReg(bandwidth=0.2, weights=(1.0, 100.0), seed=0)
    >>> X, Y = torch.randn(2, 64, 2)
    >>> bool(regularizer(X, Y) != regularizer(X, Y))   # fresh subsamples each call
    True
    """

    def __init__(self, *, bandwidth, seed=None, group=None, **options):
        super().__init__()
        if "rng" in options:
            raise TypeError("PPMReg takes seed=, not rng=: it keeps its own generator")
        self.options = RegularizerOptions.from_keywords("PPMReg", dict(options, bandwidth=bandwidth))
        self._keywords = dict(options, bandwidth=bandwidth)
        self._pool = pool_for(group)
        self.generator = v.check_rng(seed)
        if self._pool is not None and seed is not None:
            self.generator = rank_generator(seed, self._pool)

    def forward(self, X: torch.Tensor, Y: torch.Tensor):
        return _apply(X, Y, self.options, self.generator, self._pool)

    def get_extra_state(self):
        return {"generator": self.generator.bit_generator.state, "options": _defining_options(self.options)}

    def set_extra_state(self, state) -> None:
        saved, current = state.get("options"), _defining_options(self.options)
        if saved is not None:  # states saved before the options were recorded restore the generator only
            differing = [name for name in current if saved.get(name) != current[name]]
            if differing:
                described = ", ".join(
                    f"{name}={saved.get(name)!r} (this module: {current[name]!r})" for name in differing
                )
                raise ValueError(
                    f"PPMReg.load_state_dict: the state was saved by a PPMReg with other options: "
                    f"{described}; build the module with the saved options to restore it"
                )
        self.generator.bit_generator.state = state["generator"]

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self._keywords.items())

"""PyTorch adapter: PPM-Reg as a differentiable ``torch`` function and module.

The value and explicit gradients come from :func:`ppm_array.ppm_reg_value_and_grad`:
CPU tensors go to NumPy without a copy (Numba CPU kernels), CUDA tensors to CuPy
through DLPack (Numba-CUDA kernels), other devices take the Array-API backend on
the tensors themselves. The gradients are computed in the forward pass only when
autograd will need them, and only they are saved for backward.

float16 and bfloat16 inputs are computed in float32; the value and gradients are
returned in the input dtype. Under ``torch.compile`` the call is an explicit graph
break (``torch.compiler.disable``: the computation leaves torch), and the value is
the same.

Importing this module imports torch; ``import ppm_array`` does not.
"""

from __future__ import annotations

import numpy as np
import torch

from . import _validation as v
from ._options import RegularizerOptions
from ._regularizer import evaluate

__all__ = ["PPMReg", "ppm_reg"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _to_core(tensor: torch.Tensor):
    """A zero-copy view of a detached tensor in the namespace the core computes in."""
    tensor = tensor.detach()
    if tensor.dtype in _LOW_PRECISION:
        tensor = tensor.to(torch.float32)
    if tensor.device.type == "cpu":
        return tensor.numpy()
    if tensor.device.type == "cuda":
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


class _PPMRegFunction(torch.autograd.Function):
    """Used only when autograd will differentiate the result (see :func:`ppm_reg`)."""

    @staticmethod
    def forward(ctx, X, Y, options, rng):
        value, grad_x, grad_y = evaluate(_to_core(X), _to_core(Y), options, rng, with_grad=True)
        ctx.save_for_backward(_from_core(grad_x, X), _from_core(grad_y, Y))
        return _from_core(value, X)

    @staticmethod
    def backward(ctx, grad_output):
        grad_x, grad_y = ctx.saved_tensors
        return (grad_output * grad_x if ctx.needs_input_grad[0] else None,
                grad_output * grad_y if ctx.needs_input_grad[1] else None,
                None, None)


# torch.compile cannot trace into NumPy/Numba: this makes the call an explicit graph break.
@torch.compiler.disable
def ppm_reg(X: torch.Tensor, Y: torch.Tensor, *, rng=None, **options) -> torch.Tensor:
    """PPM-Reg of two tensors as a 0-d tensor that autograd differentiates.

    ``options`` are those of :func:`ppm_array.ppm_reg` (``bandwidth`` is required).
    With an integer or ``None`` ``rng`` each call draws its subsamples anew from
    that seed (the same for an integer); :class:`PPMReg` keeps a generator.

    Examples
    --------
    >>> import torch, ppm_array.torch as pat
    >>> X = torch.randn(64, 2, dtype=torch.float64, requires_grad=True)
    >>> Y = torch.randn(64, 2, dtype=torch.float64)
    >>> loss = pat.ppm_reg(X, Y, bandwidth=0.2, rng=0)
    >>> loss.backward()
    >>> X.grad.shape
    torch.Size([64, 2])
    """
    return _apply(X, Y, RegularizerOptions.from_keywords("ppm_array.torch.ppm_reg()", options), rng)


def _apply(X, Y, options: RegularizerOptions, rng) -> torch.Tensor:
    for name, tensor in (("X", X), ("Y", Y)):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(tensor).__name__}")
    if torch.is_grad_enabled() and (X.requires_grad or Y.requires_grad):
        return _PPMRegFunction.apply(X, Y, options, rng)
    return _from_core(evaluate(_to_core(X), _to_core(Y), options, rng, with_grad=False), X)


class PPMReg(torch.nn.Module):
    """PPM-Reg as a module: holds the options and a seedable generator, so every call
    draws fresh subsamples (reproducibly for a given ``seed``).

    Parameters
    ----------
    bandwidth : float
    seed : None or int
        Seed of the module's ``numpy.random.Generator``.
    **options
        The other keywords of :func:`ppm_array.ppm_reg` (``dims``, ``weights``,
        ``n_subsamples``, ``replace``, ``weight_power``, ``estimator``, ``squared``,
        ``backend``).

    Examples
    --------
    >>> import torch, ppm_array.torch as pat
    >>> regularizer = pat.PPMReg(bandwidth=0.2, weights=(1.0, 100.0), seed=0)
    >>> X, Y = torch.randn(2, 64, 2)
    >>> bool(regularizer(X, Y) != regularizer(X, Y))   # fresh subsamples each call
    True
    """

    def __init__(self, *, bandwidth, seed=None, **options):
        super().__init__()
        if "rng" in options:
            raise TypeError("PPMReg takes seed=, not rng=: it keeps its own generator")
        self.options = RegularizerOptions.from_keywords("PPMReg", dict(options, bandwidth=bandwidth))
        self._keywords = dict(options, bandwidth=bandwidth)
        self.generator = v.check_rng(seed)

    def forward(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        return _apply(X, Y, self.options, self.generator)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self._keywords.items())

"""PyTorch adapter: PPM-Reg as a differentiable ``torch`` function and module.

The value and explicit gradients come from the core (:func:`ppm_array.ppm_reg_value_and_grad`):
CPU tensors go to NumPy without a copy (Numba CPU kernels); CUDA tensors go to CuPy
through DLPack without a copy (Numba-CUDA kernels, on torch's current stream) when
CuPy is installed and the backend is not ``"array_api"``, and otherwise stay torch
tensors for the Array-API backend; tensors on other devices take the Array-API
backend too. Results come back through DLPack the same way. The gradients are computed in the
forward pass only when autograd will need them, and only they are saved for backward.

A batch of clouds, ``X`` of shape ``(B, N, d)`` with ``Y`` of shape ``(B, M, d)`` or one
shared ``(M, d)``, gives values of shape ``(B,)``, every item on the same subsamples.
It works under ``torch.autograd``, ``torch.func.grad`` / ``vjp`` / ``jacrev`` and
``torch.func.vmap`` (one batched call of the core, not a loop), and
``torch.compile`` (an explicit graph break: the
computation leaves torch). Second derivatives are not available: PPM-Reg's gradient
is a first-order formula, and differentiating it twice raises a ``RuntimeError``
saying so.

float16 and bfloat16 inputs are computed in float32; the value and gradients are
returned in the input dtype, and any that overflows it is refused with the core's
``ValueError`` (with ``check_finite``), never returned as inf.

Importing this module imports torch; ``import ppm_array`` does not.
"""

from ._adapters.torch import PPMReg, ppm_reg

__all__ = ["PPMReg", "ppm_reg"]

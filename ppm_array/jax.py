"""JAX adapter: PPM-Reg as a ``jax.custom_vjp`` function, usable under ``grad``, ``jit`` and ``vmap``.

Two paths compute it, chosen by ``backend``:

- ``"auto"`` (the default), for float32 and float64 arrays: the JAX-native path
  (:mod:`ppm_array._adapters.jax_native`). Subsamples are drawn with ``jax.random``, and the
  persistence, the MMD (blocked sums, never an ``s x s`` matrix) and the explicit
  gradients run as XLA computations on the arrays' device: no host round trip, no
  callback, fusable and shardable. With ``check_finite``, NaN or inf in ``X`` or
  ``Y`` are refused (``ValueError``) where their values are known (eager calls and
  ``jax.grad`` without ``jit``); under ``jit`` they make the value and gradients NaN,
  since no error can be raised from inside a compiled computation. ``method="fft"`` is refused there (no NUFFT
  for JAX arrays yet); ``"auto"`` takes the direct sums.
- ``"numba"`` or ``"array_api"``, and float16 and bfloat16 under ``"auto"``: the NumPy
  path of the core (that backend) through ``jax.pure_callback``: inputs are copied
  to the host and results back (a device-to-host round trip per call on a GPU). A
  call that is not differentiated runs a value-only callback; under ``jax.grad`` the
  forward pass computes value and gradients in one callback. NaN or inf in the
  values, and results beyond the dtype's range, are found in the callback, where
  the core's ``ValueError`` surfaces as a ``JaxRuntimeError`` with the same
  message. float16 and bfloat16 are computed in float32 and returned in the input
  dtype; a value or gradient that overflows it is refused there the same way,
  never returned as inf.

Shapes, dtypes and options are checked while tracing, with the core's errors.

Randomness is explicit: a JAX PRNG key selects the subsamples. Under ``jit`` the
subsamples stay fixed for a fixed key; pass a new key (``jax.random.split``) at
every step to draw new ones. The two paths draw different subsamples from one key
(both uniform: the values agree in distribution).

Importing this module imports jax; ``import ppm_array`` does not.
"""

from ._adapters.jax import ppm_reg

__all__ = ["ppm_reg"]

"""The framework adapters' implementations: PyTorch (autograd, torch.distributed) and JAX (custom_vjp, the
JAX-native path); their public faces are :mod:`ppm_array.torch` and :mod:`ppm_array.jax`."""

"""Shared fixtures: the backends and array namespaces under test, and Hypothesis profiles."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The CPU backends: every public function must give the same numbers on each.
BACKENDS = ("array_api", "numba")


@pytest.fixture(params=BACKENDS, scope="session")
def backend(request) -> str:
    """Each CPU backend of the public functions."""
    return request.param


class Namespace:
    """An array library under test: ``asarray`` from NumPy and ``to_numpy`` back."""

    def __init__(self, name: str, module):
        self.name = name
        self.module = module

    def asarray(self, array, dtype=None):
        array = np.asarray(array)
        if dtype is not None:
            array = array.astype(dtype)
        return self.module.asarray(array)

    def __repr__(self) -> str:
        return self.name


def _namespace(name: str) -> Namespace:
    if name == "cupy":
        cupy = pytest.importorskip("cupy")
        if not cupy.is_available():
            pytest.skip("CuPy is installed but no CUDA device is available")
        return Namespace(name, cupy)
    if name == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        return Namespace(name, pytest.importorskip("jax.numpy"))
    return Namespace(name, pytest.importorskip(name))


@pytest.fixture(params=["numpy", "array_api_strict", "torch", "jax", "cupy"], scope="session")
def xp(request) -> Namespace:
    """Each array library the Array-API backend must serve; absent ones skip."""
    return _namespace(request.param)


def module_available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None

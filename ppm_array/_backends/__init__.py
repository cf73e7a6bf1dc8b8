"""Backends: the kernels that differ between array libraries and devices.

A backend is a module whose functions satisfy :class:`.contract.Backend` (the
contract, with the point and moment types it works on): ``array_api`` (the reference,
any Array-API namespace), ``numba_cpu`` (NumPy), ``numba_cuda`` (CuPy) and
``jax_native`` (JAX, used by :mod:`ppm_array.jax` only). :func:`select_backend`
picks one for an array. Compiled backends are imported only when selected, so
``import ppm_array`` never imports Numba, CUDA, CuPy or JAX.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from typing import TYPE_CHECKING, Any, cast

from .._boundary.namespace import is_cupy_array, is_numpy_array
from .contract import Backend, FixedShapes

__all__ = ["Backend", "numba_available", "select_backend"]

if TYPE_CHECKING:  # the type checker holds every backend module to the contract
    from . import array_api, jax_native, numba_cpu, numba_cuda

    _backends: tuple[Backend, ...] = (array_api, numba_cpu, numba_cuda, jax_native)
    _fixed_shapes: tuple[FixedShapes, ...] = (jax_native,)


@functools.cache
def numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None


@functools.cache
def _module(name: str) -> Backend:
    return cast(Backend, importlib.import_module(name, __name__))


def select_backend(name: str, array: Any) -> Backend:
    """The backend module for ``name`` (validated) and an array of the data.

    ``"numba"`` means Numba CPU kernels for NumPy arrays and Numba-CUDA kernels for
    CuPy arrays; ``"auto"`` picks it where it applies and Numba is installed, and
    the Array-API reference backend otherwise.
    """
    if name == "array_api":
        return _module(".array_api")
    compiled = None
    if is_numpy_array(array):
        compiled = ".numba_cpu"
    elif is_cupy_array(array):
        compiled = ".numba_cuda"
    if compiled is not None and numba_available():
        return _module(compiled)
    if name == "numba":
        raise ValueError(
            f"backend='numba' needs NumPy or CuPy arrays, or CPU arrays that NumPy can view through DLPack, and "
            f"the numba package; got {type(array).__module__}."
            f"{type(array).__name__} (use backend='array_api' or 'auto')"
        )
    return _module(".array_api")

"""Backend selection.

Each backend is a module exposing ``persistence``, ``persistence_vjp`` and
``mmd_squared`` with the signatures documented in :mod:`ppm_array.backends.array_api`.
Compiled backends are imported only when selected, so ``import ppm_array`` never
imports Numba, CUDA, CuPy or torch.
"""

from __future__ import annotations

import importlib
import importlib.util

from .._namespace import is_cupy_array, is_numpy_array

__all__ = ["select_backend"]


def _numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None


def select_backend(name: str, array):
    """The backend module for ``name`` (validated) and an array of the data.

    ``"numba"`` means Numba CPU kernels for NumPy arrays and Numba-CUDA kernels for
    CuPy arrays; ``"auto"`` picks it where it applies and Numba is installed, and
    the Array-API reference backend otherwise.
    """
    if name == "array_api":
        return importlib.import_module(".array_api", __name__)
    compiled = None
    if is_numpy_array(array):
        compiled = ".numba_cpu"
    elif is_cupy_array(array):
        compiled = ".numba_cuda"
    if compiled is not None and _numba_available():
        return importlib.import_module(compiled, __name__)
    if name == "numba":
        raise ValueError(
            f"backend='numba' needs NumPy or CuPy arrays and the numba package; got {type(array).__module__}."
            f"{type(array).__name__} (use backend='array_api' or 'auto')"
        )
    return importlib.import_module(".array_api", __name__)

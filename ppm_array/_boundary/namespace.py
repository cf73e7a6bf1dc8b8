"""The one module that talks to array-api-compat, and the few array utilities every stage uses.

Everything else in ppm_array receives ``xp`` (an Array-API namespace) and a
``device`` from here and never inspects array types itself.
"""

from __future__ import annotations

import array_api_compat
import numpy as np
from array_api_compat import device, is_cupy_array, is_numpy_array, is_torch_array, to_device

__all__ = [
    "array_namespace",
    "cast",
    "device",
    "from_host",
    "has_float64",
    "host_view",
    "is_cupy_array",
    "is_numpy_array",
    "largest",
    "to_numpy",
]

_DLPACK_CPU = 1  # DLPack's kDLCPU

# NumPy implements the Array API itself from 2.1 (the 2023.12 standard, which array-api-compat's numpy
# namespace wraps): its functions skip the wrappers, which cost a small call about a tenth of its time.
_NUMPY_IS_ARRAY_API = np.lib.NumpyVersion(np.__version__) >= "2.1.0"


def array_namespace(*arrays):
    """The Array-API namespace of ``arrays`` (``array_api_compat.array_namespace``), or NumPy itself for NumPy
    arrays where NumPy implements the standard (2.1 and later)."""
    if _NUMPY_IS_ARRAY_API and all(isinstance(a, np.ndarray | np.generic) for a in arrays):
        return np
    return array_api_compat.array_namespace(*arrays)


def to_numpy(x) -> np.ndarray:
    """A host NumPy copy (or view) of any supported array, for tests and oracles."""
    if is_numpy_array(x):
        return np.asarray(x)
    if is_torch_array(x):
        return x.detach().cpu().numpy()
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)


def largest(x, xp):
    """``max(x)`` over the last axis of a nonnegative array (a 0-d array for a 1-D one); 0 where that axis is
    empty."""
    return xp.max(x, axis=-1) if x.shape[-1] else xp.zeros(x.shape[:-1], dtype=x.dtype, device=device(x))


def has_float64(xp, device) -> bool:
    """Whether ``xp`` has float64 and complex128 on ``device`` (torch's MPS devices have neither; JAX without
    x64), as its Array-API inspection namespace says (tens of microseconds); a namespace without one is
    assumed to have them."""
    if not hasattr(xp, "__array_namespace_info__"):
        return True
    supported = xp.__array_namespace_info__().dtypes(device=device)
    return "float64" in supported and "complex128" in supported


def cast(array, dtype, xp):
    """``array`` in ``dtype``, without a copy when it already is. (NumPy's own method for NumPy arrays and
    scalars: ``numpy.astype`` takes three times as long, microseconds that a small call pays several times.)"""
    if array.dtype == dtype:
        return array
    return array.astype(dtype) if isinstance(array, np.ndarray | np.generic) else xp.astype(array, dtype)


def host_view(array):
    """A NumPy array sharing ``array``'s memory, for a CPU array of a library other than NumPy and CuPy (torch,
    JAX, array-api-strict, ...), through DLPack without a copy; None for anything else (NumPy and CuPy arrays,
    other devices, a dtype NumPy lacks such as bfloat16, objects that are not arrays).

    A torch tensor that requires grad is read through ``detach()`` (DLPack refuses to export it otherwise).
    """
    if isinstance(array, np.ndarray) or is_cupy_array(array) or not hasattr(array, "__dlpack_device__"):
        return None
    if is_torch_array(array):
        array = array.detach()
    try:
        if int(array.__dlpack_device__()[0]) != _DLPACK_CPU:
            return None
        return np.from_dlpack(array)
    except (BufferError, RuntimeError, TypeError, ValueError):  # e.g. "Unsupported dtype in DLTensor"
        return None


def from_host(array: np.ndarray, xp, on):
    """A NumPy result as an array of ``xp`` on the device ``on`` (a CPU device), through DLPack: no copy where the
    library imports host memory as it is (torch)."""
    result = xp.from_dlpack(np.asarray(array))
    return result if device(result) == on else to_device(result, on)

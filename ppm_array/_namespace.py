"""The one module that talks to array-api-compat.

Everything else in ppm_array receives ``xp`` (an Array-API namespace) and a
``device`` from here and never inspects array types itself.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, device, is_cupy_array, is_numpy_array, is_torch_array

__all__ = ["array_namespace", "cast", "device", "is_cupy_array", "is_numpy_array", "to_numpy"]


def to_numpy(x) -> np.ndarray:
    """A host NumPy copy (or view) of any supported array, for tests and oracles."""
    if is_numpy_array(x):
        return np.asarray(x)
    if is_torch_array(x):
        return x.detach().cpu().numpy()
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)


def cast(array, dtype, xp):
    """``array`` in ``dtype``, without a copy when it already is."""
    return array if array.dtype == dtype else xp.astype(array, dtype)

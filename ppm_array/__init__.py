"""ppm_array: principal persistence measures and the PPM-Reg topological regularizer.

Values and explicit gradients on NumPy, CuPy and other Array-API arrays. See
``docs/`` for the mathematics and conventions. The framework adapters are the
submodules ``ppm_array.torch`` and ``ppm_array.jax``; the paper's experiments are
run by the ``ppm-array`` command (``ppm_array.cli``).
"""

from ._mmd.api import mmd, mmd_value_and_grad
from ._persistence.api import (
    PersistenceSample,
    exact_principal_persistence,
    persistence_vjp,
    principal_persistence,
    subsample_indices,
)
from ._regularizer.api import PPMRegTerms, ppm_reg, ppm_reg_value_and_grad

__version__ = "0.1.0"

__all__ = [
    "PPMRegTerms",
    "PersistenceSample",
    "exact_principal_persistence",
    "mmd",
    "mmd_value_and_grad",
    "persistence_vjp",
    "ppm_reg",
    "ppm_reg_value_and_grad",
    "principal_persistence",
    "subsample_indices",
]

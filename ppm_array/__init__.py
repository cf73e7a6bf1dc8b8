"""ppm_array: principal persistence measures and the PPM-Reg topological regularizer.

Values and explicit gradients on NumPy, CuPy and other Array-API arrays. See
``docs/`` for the mathematics and conventions.
"""

from .losses import energy_distance_value_and_grad, rbf_mmd_value_and_grad
from .mmd import mmd, mmd_value_and_grad
from .persistence import PersistenceSample, exact_principal_persistence, persistence_vjp, principal_persistence
from .regularizer import ppm_reg, ppm_reg_value_and_grad
from .subsampling import subsample_indices

__version__ = "0.1.0"

__all__ = [
    "PersistenceSample",
    "energy_distance_value_and_grad",
    "exact_principal_persistence",
    "mmd",
    "mmd_value_and_grad",
    "persistence_vjp",
    "ppm_reg",
    "ppm_reg_value_and_grad",
    "principal_persistence",
    "rbf_mmd_value_and_grad",
    "subsample_indices",
]

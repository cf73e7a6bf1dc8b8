"""The public surface is what ``__all__`` says, and importing it touches nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import ppm_array as pa

PUBLIC = {
    "energy_distance_value_and_grad", "rbf_mmd_value_and_grad",
    "PersistenceSample", "exact_principal_persistence", "mmd", "mmd_value_and_grad", "persistence_vjp",
    "ppm_reg", "ppm_reg_value_and_grad", "principal_persistence", "subsample_indices",
}


def test_all_lists_exactly_the_public_api():
    assert set(pa.__all__) == PUBLIC
    for name in pa.__all__:
        assert getattr(pa, name).__doc__


def test_import_does_not_import_compiled_or_framework_modules():
    code = (
        "import sys, ppm_array; "
        "heavy = [m for m in ('numba', 'numba.cuda', 'cupy', 'torch', 'jax') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"

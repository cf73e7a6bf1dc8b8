"""Numba CPU backend for NumPy arrays: fused, vectorised, deterministic kernels (:class:`..contract.Backend`).

One module per computation: :mod:`.persistence_kernels` (closed-form persistence of the
subsamples), :mod:`.scatter_kernels` (the VJP's scatter of edge gradients), :mod:`.moment_kernels`
(the MMD's kernel moments, where the time goes), :mod:`.finite_check` (the NaN/inf check);
:mod:`.threads` decides how many threads a piece of work repays. Every result is
bitwise the same whatever the number of threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._nufft import Explicit, Finufft, available
from ..contract import Transforms
from .finite_check import all_finite
from .moment_kernels import batched_pair_moments, pair_moments
from .persistence_kernels import feature_persistence, persistence
from .scatter_kernels import scatter_edges
from .threads import call_threads as on_device
from .threads import threads_for

__all__ = [
    "all_finite",
    "batched_pair_moments",
    "feature_persistence",
    "fourier_transforms",
    "on_device",
    "pair_moments",
    "persistence",
    "scatter_edges",
]


def fourier_transforms(tol: float, *, xp: Any) -> Transforms:
    """FINUFFT (the ``fft`` extra) on the cores other processes leave free; the explicit sums without it."""
    if not available("finufft"):
        return Explicit(np)
    return Finufft(tol, threads_for(float("inf")))

"""Backends: the kernels that differ between array libraries and devices.

Everything else (drawing subsamples, the VJP rule, the MMD's weights, scaling
and assembly) is written once in :mod:`ppm_array._core`. A backend is a module
with one constant and these functions, all taking the namespace ``xp`` of their arrays:

``DROPS_COLLAPSED: bool``
    Whether PPM-Reg drops the subsamples without a feature (lifetime 0, weight 0)
    before the MMD, with ``feature_persistence``. Selecting them is a data-dependent
    shape, a host synchronisation on a GPU: the CUDA backend's kernels skip those
    points instead.
``feature_persistence(X, indices, q, *, xp) -> (birth, lifetime, birth_edge, death_edge, rows)``
    Where ``DROPS_COLLAPSED``: ``persistence`` of the rows of ``indices`` whose
    lifetime is positive, in order, and those rows' numbers (int64).

``on_device(X)``
    A context manager in which work on the data ``X`` goes to ``X``'s device (CuPy's
    current device, for the CUDA backend); :func:`placed_by_arrays` where the
    library places work by the arrays themselves.
``all_finite(X, *, xp) -> bool``
    Whether every value of the array ``X`` is finite (the boundary's NaN/inf check).
``fourier_transforms(tol, *, xp)``
    The non-uniform FFTs of the Fourier method at precision ``tol`` (:mod:`._nufft`).
``persistence(X, indices, q, *, xp) -> (birth, lifetime, birth_edge, death_edge)``
    Closed-form ``PH_q`` of each row of the ``(s, 2q + 2)`` int64 ``indices``:
    ``birth`` and ``lifetime`` in ``X``'s dtype, the critical edges as int64 ``(s, 2)``.
``scatter_edges(X, edges, grad_length, *, xp) -> grad_X``
    ``grad_X[a] += g (x_a - x_b) / |x_a - x_b|`` and ``grad_X[b] -= ...`` for each
    edge ``(a, b)`` with upstream ``g`` (0 where the points coincide), shape ``X.shape``,
    ``X``'s dtype. Edges are trusted to index rows of ``X`` (checked at the boundary).
``pair_moments(A, B, *, same_set, inv_two_h2, xp) -> (moments of A against B, moments of B against A)``
    ``A`` and ``B`` are :class:`~ppm_array._moments.KernelPoints`; the moments are
    those of :mod:`ppm_array._moments`, in a dtype at least as precise as the
    inputs'. With ``same_set`` (``A is B``) the pairs ``j = i`` are left out and
    both entries are the same. ``inv_two_h2`` is a 0-d array. Weights may be
    negative (the core passes a signed union of two sets). Partners with ``v == 0``
    contribute nothing and may be skipped; the moments of a point with ``v == 0``
    may be returned as 0.

Compiled backends are imported only when selected, so ``import ppm_array`` never
imports Numba, CUDA, CuPy or torch.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util

from .._namespace import is_cupy_array, is_numpy_array

__all__ = ["placed_by_arrays", "select_backend"]


def placed_by_arrays(array):
    """``on_device`` of a backend whose array library runs work where its arrays are: nothing to enter."""
    return contextlib.nullcontext()


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

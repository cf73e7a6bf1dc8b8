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
imports Numba, CUDA, CuPy or torch. CPU arrays of other libraries (torch, JAX, ...)
reach the Numba CPU kernels as NumPy views (:func:`on_host_kernels`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util

import numpy as np

from .._namespace import array_namespace, device, from_host, host_view, is_cupy_array, is_numpy_array

__all__ = ["on_host_kernels", "placed_by_arrays", "select_backend"]


def placed_by_arrays(array):
    """``on_device`` of a backend whose array library runs work where its arrays are: nothing to enter."""
    return contextlib.nullcontext()


@functools.cache
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
            f"backend='numba' needs NumPy or CuPy arrays, or CPU arrays that NumPy can view through DLPack, and "
            f"the numba package; got {type(array).__module__}."
            f"{type(array).__name__} (use backend='array_api' or 'auto')"
        )
    return importlib.import_module(".array_api", __name__)


def _arrays(value) -> list:
    """The arrays in an argument or result: itself, or those in a tuple (a NamedTuple such as
    :class:`~ppm_array.PersistenceSample`, nested ones included)."""
    if isinstance(value, tuple):
        return [array for item in value for array in _arrays(item)]
    return [value] if hasattr(value, "__dlpack__") else []


def _map_arrays(value, replace):
    """``value`` with each array replaced by ``replace(array)``, tuples and NamedTuples rebuilt."""
    if isinstance(value, tuple):
        items = [_map_arrays(item, replace) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return replace(value) if hasattr(value, "__dlpack__") else value


def on_host_kernels(function):
    """Let the public ``function`` take CPU arrays of any DLPack library to the Numba CPU kernels without a copy.

    With ``backend`` "auto" or "numba", Numba installed, and every array among the positional arguments a CPU
    array of one library other than NumPy and CuPy (torch, JAX, ...): those arrays, and the keyword arguments
    of that library (``indices``), are passed on as NumPy views of the same memory
    (:func:`~ppm_array._namespace.host_view`), and every array of the result comes back in the caller's
    library and device (:func:`~ppm_array._namespace.from_host`). Anything else (NumPy, other devices, mixed
    libraries, which ``function`` refuses, a dtype NumPy lacks) is passed on untouched.
    """

    @functools.wraps(function)
    def public(*args, **keywords):
        if (not args or isinstance(args[0], np.ndarray) or keywords.get("backend", "auto") not in ("auto", "numba")
                or not _numba_available()):
            return function(*args, **keywords)
        positional = _arrays(args)
        library = type(positional[0]) if positional else None
        if library in (None, np.ndarray) or any(type(array) is not library for array in positional):
            return function(*args, **keywords)
        views = {id(array): host_view(array) for array in positional + _arrays(tuple(keywords.values()))
                 if type(array) is library}
        if any(view is None for view in views.values()):
            return function(*args, **keywords)
        xp, on = array_namespace(positional[0]), device(positional[0])

        def view(array):
            return views.get(id(array), array)

        result = function(*_map_arrays(args, view), **{k: _map_arrays(a, view) for k, a in keywords.items()})
        return _map_arrays(result, lambda array: from_host(array, xp, on) if isinstance(array, np.ndarray) else array)

    return public

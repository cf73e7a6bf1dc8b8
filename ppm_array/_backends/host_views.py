"""CPU arrays of any DLPack library (torch, JAX, ...) reach the Numba CPU kernels as NumPy views, without a copy."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from .._boundary.namespace import array_namespace, device, from_host, host_view
from . import numba_available

__all__ = ["on_host_kernels"]

F = TypeVar("F", bound=Callable[..., Any])


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


def on_host_kernels(function: F) -> F:
    """Let the public ``function`` take CPU arrays of any DLPack library to the Numba CPU kernels without a copy.

    With ``backend`` "auto" or "numba", Numba installed, and every array among the positional arguments a CPU
    array of one library other than NumPy and CuPy (torch, JAX, ...): those arrays, and the keyword arguments
    of that library (``indices``), are passed on as NumPy views of the same memory
    (:func:`~ppm_array._boundary.namespace.host_view`), and every array of the result comes back in the caller's
    library and device (:func:`~ppm_array._boundary.namespace.from_host`). Anything else (NumPy, other devices, mixed
    libraries, which ``function`` refuses, a dtype NumPy lacks) is passed on untouched.
    """

    @functools.wraps(function)
    def public(*args, **keywords):
        if (
            not args
            or isinstance(args[0], np.ndarray)
            or keywords.get("backend", "auto") not in ("auto", "numba")
            or not numba_available()
        ):
            return function(*args, **keywords)
        positional = _arrays(args)
        library = type(positional[0]) if positional else None
        if library in (None, np.ndarray) or any(type(array) is not library for array in positional):
            return function(*args, **keywords)
        views = {
            id(array): host_view(array)
            for array in positional + _arrays(tuple(keywords.values()))
            if type(array) is library
        }
        if any(view is None for view in views.values()):
            return function(*args, **keywords)
        xp, on = array_namespace(positional[0]), device(positional[0])

        def view(array):
            return views.get(id(array), array)

        result = function(*_map_arrays(args, view), **{k: _map_arrays(a, view) for k, a in keywords.items()})
        return _map_arrays(result, lambda array: from_host(array, xp, on) if isinstance(array, np.ndarray) else array)

    return public  # type: ignore[return-value]

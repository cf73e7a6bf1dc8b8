"""Checks at the public boundary.

Every public function validates its arguments here, once, and then calls the
pipeline's stages, which trust them. Each failure raises
``TypeError`` (wrong kind of thing) or ``ValueError`` (right kind, wrong value)
whose message names the argument.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any, NamedTuple

import numpy as np

from .namespace import array_namespace
from .namespace import device as device_of

__all__ = [
    "BACKENDS",
    "BANDWIDTH_RULES",
    "ESTIMATORS",
    "MAX_INDEX_ENTRIES",
    "Points",
    "check_backend",
    "check_batches",
    "check_bandwidth",
    "check_bool",
    "check_choice",
    "check_dims",
    "check_estimator",
    "check_index_range",
    "check_indices",
    "check_n_points",
    "check_n_subsamples",
    "check_positive_real",
    "check_q",
    "check_rng",
    "check_same_library",
    "check_weights",
    "is_dtype",
    "is_integer",
    "require_finite",
    "is_real",
    "namespace_of",
    "points",
]

BACKENDS = ("auto", "array_api", "numba")
ESTIMATORS = ("v", "u")
# Index arrays beyond this many entries (16 GiB of int64) are refused before allocation.
MAX_INDEX_ENTRIES = 2**31


class Points(NamedTuple):
    """A validated point cloud.

    ``array`` is the cloud in its working dtype (float32 or float64: float16 and
    bfloat16 are promoted to float32); ``result_dtype`` is the caller's dtype, in
    which results are returned.
    """

    array: Any
    xp: Any
    device: Any
    result_dtype: Any


def is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@functools.lru_cache(maxsize=256)
def is_dtype(dtype, kind: str, xp) -> bool:
    """``xp.isdtype(dtype, kind)``, also for the dtypes of ml_dtypes (JAX's) in NumPy arrays, which NumPy
    cannot classify: bfloat16 is a real floating dtype, and the others (float8, int4, ...) match no kind.
    Remembered per dtype (NumPy's ``isdtype`` takes microseconds, several times a call)."""
    if getattr(dtype, "name", None) == "bfloat16":
        return kind == "real floating"
    try:
        return xp.isdtype(dtype, kind)
    except TypeError:  # NumPy's "dtype argument must be a NumPy dtype"
        return False


def namespace_of(array, name: str, expected: str):
    try:
        return array_namespace(array)
    except TypeError:
        raise TypeError(
            f"{name} must be an array (NumPy, CuPy, PyTorch, JAX or another Array-API array) of {expected}; "
            f"got {type(array).__name__}"
        ) from None


def points(X, name: str, *, check_finite: bool = True, batch: bool = False) -> Points:
    """Validate an ``(N, d)`` real floating point cloud (with ``batch``, also a batch of them: ``(B, N, d)``,
    ``B >= 0``).

    Float16 and bfloat16 are promoted to float32 for the computation. The finite
    check is one reduction over ``X`` (and, on a GPU, one host synchronisation).
    """
    expected = "shape (N, d) or (B, N, d)" if batch else "shape (N, d)"
    xp = namespace_of(X, name, expected)
    if X.ndim != 2 and not (batch and X.ndim == 3):
        which = (
            "2-D with shape (N, d), or 3-D with shape (B, N, d) for a batch of clouds,"
            if batch
            else ("2-D with shape (N, d);")
        )
        raise ValueError(f"{name} must be {which} got shape {tuple(X.shape)}")
    n_points, n_features = X.shape[-2:]
    if n_points == 0 or n_features == 0:
        raise ValueError(f"{name} must have at least one point and one feature; got shape {tuple(X.shape)}")
    dtype = X.dtype
    if not is_dtype(dtype, "real floating", xp):
        raise TypeError(
            f"{name} must have a real floating dtype (float32 or float64; float16 and "
            f"bfloat16 are computed in float32); got {dtype}"
        )
    array = X if dtype in (xp.float32, xp.float64) else xp.astype(X, xp.float32)
    if check_finite and not bool(xp.all(xp.isfinite(array))):
        raise ValueError(f"{name} contains NaN or infinite values")
    return Points(array, xp, device_of(X), dtype)


def require_finite(cloud: Points, name: str, backend) -> None:
    """NaN or infinite values in a cloud are refused; the check is the backend's (one pass, no temporaries
    on the Numba backend; a host synchronisation on a GPU)."""
    if not backend.all_finite(cloud.array, xp=cloud.xp):
        raise ValueError(f"{name} contains NaN or infinite values")


def check_batches(cloud_x: Points, cloud_y: Points) -> int | None:
    """The number of clouds ``B`` of a batched call (None for one cloud each): ``X`` of shape ``(B, N, d)`` with
    ``Y`` of shape ``(B, M, d)`` or ``(M, d)`` (one reference for every item)."""
    x_items = cloud_x.array.shape[0] if cloud_x.array.ndim == 3 else None
    y_items = cloud_y.array.shape[0] if cloud_y.array.ndim == 3 else None
    if x_items is None and y_items is not None:
        raise ValueError(
            f"Y is a batch of {y_items} clouds (shape {tuple(cloud_y.array.shape)}) but X is one cloud; a batch "
            "is given by X, of shape (B, N, d), with Y of shape (B, M, d) or one shared (M, d)"
        )
    if y_items is not None and y_items != x_items:
        raise ValueError(
            f"X and Y must hold the same number of clouds; got {x_items} (X of shape {tuple(cloud_x.array.shape)}) "
            f"and {y_items} (Y of shape {tuple(cloud_y.array.shape)})"
        )
    return x_items


def check_same_library(first: Points, second: Points, names: tuple[str, str]) -> None:
    """Two clouds must share array library, device and dtype (not the number of features)."""
    a, b = names
    if first.xp is not second.xp:
        raise TypeError(
            f"{a} and {b} must come from the same array library; got {first.xp.__name__} and {second.xp.__name__}"
        )
    if first.device != second.device:
        raise ValueError(f"{a} and {b} must be on the same device; got {first.device} and {second.device}")
    if first.result_dtype != second.result_dtype:
        raise TypeError(f"{a} and {b} must have the same dtype; got {first.result_dtype} and {second.result_dtype}")


def check_q(q, name: str = "q") -> int:
    if not is_integer(q):
        raise TypeError(f"{name} must be a non-negative integer; got {q!r}")
    if q < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {q}")
    return int(q)


def check_n_points(n_points) -> int:
    if not is_integer(n_points):
        raise TypeError(f"n_points must be a positive integer; got {n_points!r}")
    if n_points <= 0:
        raise ValueError(f"n_points must be a positive integer; got {n_points}")
    return int(n_points)


def check_n_subsamples(n_subsamples, q: int) -> int:
    if not is_integer(n_subsamples):
        raise TypeError(f"n_subsamples must be a positive integer; got {n_subsamples!r}")
    if n_subsamples <= 0:
        raise ValueError(f"n_subsamples must be a positive integer; got {n_subsamples}")
    if n_subsamples * (2 * q + 2) > MAX_INDEX_ENTRIES:
        raise ValueError(
            f"n_subsamples={n_subsamples} with q={q} needs {n_subsamples * (2 * q + 2)} indices, "
            f"more than the {MAX_INDEX_ENTRIES} this library allocates"
        )
    return int(n_subsamples)


def check_positive_real(value, name: str) -> float:
    if not is_real(value):
        raise TypeError(f"{name} must be a positive real number; got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number; got {value}")
    return value


BANDWIDTH_RULES = ("median",)


def check_bandwidth(bandwidth):
    """A positive number (a Python number or any 0-d array or tensor holding one), or a rule such as "median"."""
    if isinstance(bandwidth, str):
        return check_choice(bandwidth, "bandwidth", BANDWIDTH_RULES)
    if not is_real(bandwidth) and getattr(bandwidth, "shape", None) == () and hasattr(bandwidth, "__float__"):
        try:
            bandwidth = float(bandwidth)
        except (TypeError, ValueError):  # a complex or otherwise non-real 0-d array
            raise TypeError(f"bandwidth must be a positive real number or 'median'; got {bandwidth!r}") from None
    if not is_real(bandwidth):
        raise TypeError(f"bandwidth must be a positive real number or 'median'; got {bandwidth!r}")
    return check_positive_real(bandwidth, "bandwidth")


def check_choice(value, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_estimator(estimator) -> str:
    return check_choice(estimator, "estimator", ESTIMATORS)


def check_backend(backend) -> str:
    return check_choice(backend, "backend", BACKENDS)


def check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_rng(rng) -> np.random.Generator:
    """``None`` (fresh entropy), an integer seed or a ``numpy.random.Generator``."""
    if rng is None or is_integer(rng):
        if rng is not None and rng < 0:
            raise ValueError(f"rng must be a non-negative integer seed; got {rng}")
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(f"rng must be None, a non-negative int seed or a numpy.random.Generator; got {type(rng).__name__}")


def check_dims(dims) -> tuple[int, ...]:
    if is_integer(dims) or isinstance(dims, str) or not hasattr(dims, "__iter__"):
        raise TypeError(f"dims must be a sequence of homology dimensions such as (0, 1); got {dims!r}")
    dims = tuple(check_q(q, "dims") for q in dims)
    if not dims:
        raise ValueError("dims must name at least one homology dimension")
    if len(set(dims)) != len(dims):
        raise ValueError(f"dims must not repeat a dimension; got {dims}")
    return dims


def check_weights(weights, dims: tuple[int, ...]) -> tuple[float, ...]:
    """One finite non-negative ``lambda_q`` per entry of ``dims`` (all 1 when ``weights`` is None)."""
    if weights is None:
        return (1.0,) * len(dims)
    if isinstance(weights, str) or not hasattr(weights, "__iter__"):
        raise TypeError(f"weights must be a sequence of numbers, one per entry of dims; got {weights!r}")
    weights = tuple(weights)
    if len(weights) != len(dims):
        raise ValueError(f"weights must have one entry per entry of dims ({len(dims)}); got {len(weights)}")
    for weight in weights:
        if not is_real(weight):
            raise TypeError(f"weights must be real numbers; got {weight!r}")
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weights must be finite and non-negative; got {weight}")
    return tuple(float(w) for w in weights)


def check_indices(indices, n_points: int, q: int, xp, device):
    """An ``(s, 2q+2)`` integer array of row indices into an ``n_points`` cloud.

    Returned in ``xp`` on ``device`` as int64. The range check reads two numbers
    back to the host.
    """
    m = 2 * q + 2
    source_xp = namespace_of(indices, "indices", f"integers of shape (n_subsamples, {m})")
    if not is_dtype(indices.dtype, "integral", source_xp):
        raise TypeError(f"indices must have an integer dtype; got {indices.dtype}")
    if indices.ndim != 2 or indices.shape[1] != m or indices.shape[0] == 0:
        raise ValueError(
            f"indices must have shape (n_subsamples, {m}) with n_subsamples >= 1 for q={q}; got {tuple(indices.shape)}"
        )
    if source_xp is not xp:
        if not isinstance(indices, np.ndarray):
            raise TypeError(
                f"indices must be a NumPy array or an array of the same library as X; got {source_xp.__name__}"
            )
        indices = xp.asarray(indices, device=device)
    elif device_of(indices) != device:
        raise ValueError(f"indices must be on the device of X ({device}); got {device_of(indices)}")
    indices = xp.astype(indices, xp.int64)
    check_index_range(indices, n_points, "indices", xp)
    return indices


def check_index_range(indices, n_points: int, name: str, xp) -> None:
    low, high = int(xp.min(indices)), int(xp.max(indices))
    if low < 0 or high >= n_points:
        raise ValueError(
            f"{name} must lie in [0, {n_points}) for a cloud of {n_points} points; got values in [{low}, {high}]"
        )

"""Checks of persistence samples and upstream gradients at the public boundary (``persistence_vjp``, ``mmd``)."""

from __future__ import annotations

from .._boundary.namespace import array_namespace
from .._boundary.namespace import device as device_of
from .._boundary.validation import Points, check_index_range, check_q, is_dtype, is_integer, namespace_of
from .sample import PersistenceSample

__all__ = ["check_sample", "check_sample_edges", "check_upstream"]


def check_sample(sample, name: str, *, xp=None, device=None, check_values: bool = True) -> PersistenceSample:
    """A :class:`PersistenceSample` whose fields are consistent with each other.

    Every array must belong to ``xp`` on ``device`` (those of the first field when
    not given); ``birth``, ``lifetime`` and ``mass`` have shape ``(s,)`` with
    ``s >= 1`` and one real floating dtype; the edges have shape ``(s, 2)`` and an
    integer dtype. With ``check_values`` the points must be finite, lifetimes and
    masses non-negative (a few reductions; one host synchronisation each on a GPU).
    The edges' range is checked by :func:`check_sample_edges`, where they are used.
    """
    if not isinstance(sample, PersistenceSample):
        raise TypeError(f"{name} must be a PersistenceSample (from principal_persistence); got {type(sample).__name__}")
    check_q(sample.q, f"{name}.q")
    if not is_integer(sample.n_points) or sample.n_points <= 0:
        raise ValueError(f"{name}.n_points must be a positive integer; got {sample.n_points!r}")
    fields = ("birth", "lifetime", "mass", "birth_edge", "death_edge")
    for field in fields:
        array = getattr(sample, field)
        label = f"{name}.{field}"
        try:
            field_xp = array_namespace(array)
        except TypeError:
            raise TypeError(f"{label} must be an array; got {type(array).__name__}") from None
        if xp is None:
            xp, device = field_xp, device_of(array)
        if field_xp is not xp:
            raise TypeError(
                f"{label} must be an array of the library of the other inputs ({xp.__name__}); got {field_xp.__name__}"
            )
        if device_of(array) != device:
            raise ValueError(f"{label} must be on the device of the other inputs ({device}); got {device_of(array)}")
    n_subsamples = sample.birth.shape[0] if sample.birth.ndim == 1 else -1
    if n_subsamples < 1:
        raise ValueError(f"{name}.birth must have shape (s,) with s >= 1; got {tuple(sample.birth.shape)}")
    for field in ("lifetime", "mass"):
        array = getattr(sample, field)
        if tuple(array.shape) != (n_subsamples,):
            raise ValueError(
                f"{name}.{field} must have the shape of {name}.birth, ({n_subsamples},); got {tuple(array.shape)}"
            )
        if array.dtype != sample.birth.dtype:
            raise TypeError(
                f"{name}.{field} must have the dtype of {name}.birth ({sample.birth.dtype}); got {array.dtype}"
            )
    if not is_dtype(sample.birth.dtype, "real floating", xp):
        raise TypeError(f"{name}.birth must have a real floating dtype; got {sample.birth.dtype}")
    for field in ("birth_edge", "death_edge"):
        array = getattr(sample, field)
        if tuple(array.shape) != (n_subsamples, 2):
            raise ValueError(f"{name}.{field} must have shape ({n_subsamples}, 2); got {tuple(array.shape)}")
        if not is_dtype(array.dtype, "integral", xp):
            raise TypeError(f"{name}.{field} must have an integer dtype; got {array.dtype}")
    if check_values:
        if not bool(xp.all(xp.isfinite(sample.birth)) & xp.all(xp.isfinite(sample.lifetime))):
            raise ValueError(f"{name}.birth and {name}.lifetime must be finite")
        if not bool(xp.all(sample.lifetime >= 0)):
            raise ValueError(f"{name}.lifetime must be non-negative")
        if not bool(xp.all(xp.isfinite(sample.mass)) & xp.all(sample.mass >= 0)):
            raise ValueError(f"{name}.mass must be finite and non-negative")
    return sample


def check_sample_edges(sample: PersistenceSample, name: str, n_points: int, xp) -> None:
    """The critical edges must index rows of the cloud: checked before any kernel reads them."""
    if sample.n_points != n_points:
        raise ValueError(f"{name} was computed from a cloud of {sample.n_points} points but X has {n_points}")
    for field in ("birth_edge", "death_edge"):
        check_index_range(getattr(sample, field), n_points, f"{name}.{field}", xp)


def check_upstream(grad, name: str, n_subsamples: int, cloud: Points):
    """An upstream gradient of shape ``(s,)`` in the library, device and a floating dtype; cast to ``cloud``'s."""
    xp = cloud.xp
    grad_xp = namespace_of(grad, name, f"shape ({n_subsamples},)")
    if grad_xp is not xp:
        raise TypeError(f"{name} must be an array of the library of X ({xp.__name__}); got {grad_xp.__name__}")
    if device_of(grad) != cloud.device:
        raise ValueError(f"{name} must be on the device of X ({cloud.device}); got {device_of(grad)}")
    if tuple(grad.shape) != (n_subsamples,):
        raise ValueError(f"{name} must have shape ({n_subsamples},) (one entry per subsample); got {tuple(grad.shape)}")
    if not is_dtype(grad.dtype, "real floating", xp):
        raise TypeError(f"{name} must have a real floating dtype; got {grad.dtype}")
    return grad if grad.dtype == cloud.array.dtype else xp.astype(grad, cloud.array.dtype)

"""The backend contract: what a backend supplies, and the point and moment types it works on.

A backend is a module (``array_api``, ``numba_cpu``, ``numba_cuda``, ``jax_native``)
whose functions satisfy :class:`Backend`; the type checker holds every one of them to
it (``_backends/__init__.py``). Everything else (drawing subsamples, the VJP rule, the
MMD's weights, rescaling and assembly, the Fourier method around the backend's
transforms) is written once in the pipeline's stages (``_persistence``, ``_mmd``,
``_regularizer``), which call only these functions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol, runtime_checkable

__all__ = [
    "Backend",
    "offers",
    "BatchedMoments",
    "FeaturePersistence",
    "FixedShapes",
    "KernelPoints",
    "Moments",
    "Transforms",
    "placed_by_arrays",
]

Array = Any  # an array of the backend's library (NumPy, CuPy, JAX, or any Array-API namespace)


class KernelPoints(NamedTuple):
    """What a backend's kernel sees of a point set: coordinates and weights ``v = mass * w(lifetime)``."""

    birth: Array
    lifetime: Array
    v: Array


class Moments(NamedTuple):
    """``(m0, mb, ml)`` of every point of a set against a partner set, each shape ``(s,)``::

        m0_i = sum_j v_j E_ij,  mb_i = sum_j v_j E_ij (b_i - b_j),  ml_i = sum_j v_j E_ij (l_i - l_j)

    with ``E_ij = exp(-|z_i - z_j|^2 / (2 h^2))`` (``j != i`` within one set)."""

    m0: Array
    mb: Array
    ml: Array


class Transforms(Protocol):
    """The non-uniform FFTs of the Fourier method (``_backends/_nufft.py`` has one class per library)."""

    def type1(self, angles: tuple, strengths: Array, modes: tuple) -> Array: ...

    def type2(self, angles: tuple, coefficients: Array) -> Array: ...


class Backend(Protocol):
    """The kernels that differ between array libraries and devices; every function takes the namespace ``xp``
    of its arrays."""

    def on_device(self, X: Array) -> AbstractContextManager[Any]:
        """A context in which work on the data ``X`` goes to ``X``'s device (CuPy's current device for the
        CUDA backend); :func:`placed_by_arrays` where the library places work by the arrays themselves."""

    def all_finite(self, X: Array, *, xp: Any) -> bool:
        """Whether every value of ``X`` is finite (the boundary's NaN/inf check)."""

    def fourier_transforms(self, tol: float, *, xp: Any) -> Transforms:
        """The non-uniform FFTs of the Fourier method at precision ``tol``."""

    def persistence(self, X: Array, indices: Array, q: int, *, xp: Any) -> tuple[Array, Array, Array, Array]:
        """``(birth, lifetime, birth_edge, death_edge)``: closed-form ``PH_q`` of each row of the
        ``(s, 2q + 2)`` int64 ``indices``; ``birth`` and ``lifetime`` in ``X``'s dtype, the critical edges
        as int64 ``(s, 2)``. Distances follow the one contract of ``docs/math.md`` ("Distances")."""

    def scatter_edges(self, X: Array, edges: Array, grad_length: Array, *, xp: Any) -> Array:
        """``grad_X[a] += g (x_a - x_b) / |x_a - x_b|`` and ``grad_X[b] -= ...`` for each edge ``(a, b)``
        with upstream ``g`` (0 where the points coincide); shape and dtype of ``X``. ``grad_length`` may be
        in a wider dtype than ``X`` (the moments' float64): a backend accumulates in either. Edges are
        trusted to index rows of ``X`` (checked at the boundary)."""

    def pair_moments(
        self, A: KernelPoints, B: KernelPoints, *, same_set: bool, inv_two_h2: Array, xp: Any
    ) -> tuple[Moments, Moments]:
        """The moments of ``A`` against ``B`` and of ``B`` against ``A``, in a dtype at least as precise as
        the inputs'. With ``same_set`` (``A is B``) the pairs ``j = i`` are left out and both entries are
        the same. ``inv_two_h2`` is a 0-d array. Weights may be negative (the V-statistic passes a signed
        union of two sets). Partners with ``v == 0`` contribute nothing and may be skipped; the moments of
        a point with ``v == 0`` may be returned as 0."""


@runtime_checkable
class FeaturePersistence(Protocol):
    """A backend that can return the subsamples with a feature only (a shape that depends on the data, so
    never a GPU backend, whose calls must not wait for the device)."""

    def feature_persistence(
        self, X: Array, indices: Array, q: int, *, xp: Any
    ) -> tuple[Array, Array, Array, Array, Array]:
        """:meth:`Backend.persistence` of the rows of ``indices`` whose lifetime is positive, in order, and
        those rows' numbers (int64) last. Subsamples without a feature have weight ``w(0) = 0`` in every
        kernel and PPM-Reg's VJP discards their lifetime gradient: leaving them out is exact."""


@runtime_checkable
class BatchedMoments(Protocol):
    """A backend that computes the moments of every item of a batch in one call (one parallel loop over the
    items); without it, the batch's moments are :meth:`Backend.pair_moments` item by item."""

    def batched_pair_moments(
        self, A: KernelPoints, B: KernelPoints, *, same_set: bool, inv_two_h2: Array, xp: Any
    ) -> tuple[Moments, Moments]:
        """:meth:`Backend.pair_moments` of each row of ``(batch, n_a)`` and ``(batch, n_b)`` point arrays
        against the same row of the other, with ``inv_two_h2`` of shape ``(batch,)``: moments of shape
        ``(batch, n_a)`` and ``(batch, n_b)``. No pair across two rows is summed."""


@runtime_checkable
class FixedShapes(Protocol):
    """A backend traced by a compiler, in shapes fixed before it sees the data (XLA's): the Fourier method
    runs there on a grid of ``FOURIER_MODES`` modes per axis (:mod:`ppm_array._mmd.fourier_fixed`), and
    :meth:`branch` takes the direct sums where the data need more."""

    FOURIER_MODES: int

    def branch(
        self, take_first: Array, first: Callable[[Any], Any], second: Callable[[Any], Any], operands: Any
    ) -> Any:
        """``first(operands)`` where the 0-d boolean ``take_first`` is true, else ``second(operands)``: one of
        the two runs (item by item under a batching transform), and both return the same shapes."""


def offers(backend: Backend, capability: type) -> bool:
    """Whether ``backend`` has the optional ``capability`` (:class:`FeaturePersistence`, :class:`BatchedMoments`,
    :class:`FixedShapes`): its members by name. (``isinstance`` against a runtime-checkable protocol gives the
    same answer but re-derives the protocol's members at every call: a quarter of a millisecond, a tenth of a
    small call.)"""
    return all(hasattr(backend, name) for name in _METHODS[capability])


def placed_by_arrays(array: Array) -> AbstractContextManager[None]:
    """``on_device`` of a backend whose array library runs work where its arrays are: nothing to enter."""
    return contextlib.nullcontext()


_METHODS: dict[type, tuple[str, ...]] = {
    FeaturePersistence: ("feature_persistence",),
    BatchedMoments: ("batched_pair_moments",),
    FixedShapes: ("FOURIER_MODES", "branch"),
}

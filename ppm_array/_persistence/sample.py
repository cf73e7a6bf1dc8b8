"""The result type of principal persistence: weighted persistence points and their critical edges."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["PersistenceSample"]


class PersistenceSample(NamedTuple):
    """A principal persistence measure as weighted points ``(birth, lifetime)``.

    Attributes
    ----------
    birth, lifetime : arrays, shape (s,)
        One point per subsample. ``lifetime == 0`` marks a subsample without a
        feature (the collapsed point ``*``); it has weight ``w(0) = 0`` in every
        kernel and therefore contributes nothing.
    birth_edge, death_edge : integer arrays, shape (s, 2)
        Global row indices into ``X`` of the critical edges. For ``q = 0`` the
        birth edge is the zero-length edge ``(i0, i0)``.
    mass : array, shape (s,)
        Probability mass of each point: ``1/s`` for a Monte Carlo PPM, the
        enumeration weights for an exact one. It sums to 1.
    q : int
        Homology dimension.
    n_points : int
        Number of points ``N`` of the cloud the edges index into.

    All arrays belong to one array library and device. A sample built by hand is
    checked where it is used: :func:`~ppm_array.persistence_vjp` refuses edges
    outside ``[0, n_points)`` and :func:`~ppm_array.mmd` negative masses.
    """

    birth: Any
    lifetime: Any
    birth_edge: Any
    death_edge: Any
    mass: Any
    q: int
    n_points: int

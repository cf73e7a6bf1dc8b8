"""Per-element kernel bodies shared by the Numba CPU and Numba-CUDA backends.

:func:`build` compiles them with the target's decorator (``numba.njit`` or
``numba.cuda.jit(device=True)``), so both targets run the same code: one thread
(CUDA) or one loop iteration (CPU) per subsample or edge.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

__all__ = ["build"]

# Sums of squares in this range are computed without scaling (see ``distance``).
_SAFE_LOW, _SAFE_HIGH = 1e-290, 1e290


def build(jit) -> SimpleNamespace:
    """The bodies compiled with ``jit``; see each function for what it computes."""

    @jit
    def difference_scale(X, a, b):
        scale = 0.0
        for k in range(X.shape[1]):
            scale = max(scale, abs(X[a, k] - X[b, k]))
        return scale

    @jit
    def scaled_norm(X, a, b, scale):
        total = 0.0
        for k in range(X.shape[1]):
            t = (X[a, k] - X[b, k]) / scale
            total += t * t
        return math.sqrt(total)

    @jit
    def squared_norm(X, a, b):
        total = 0.0
        for k in range(X.shape[1]):
            t = X[a, k] - X[b, k]
            total += t * t
        return total

    @jit
    def distance(X, a, b):
        """``|X[a] - X[b]|`` without overflow or underflow.

        The plain sum of squares where it is safely inside the float64 range (a
        square too small to count is then below 1e-18 of the sum); otherwise the
        difference is divided by its largest component first.
        """
        total = squared_norm(X, a, b)
        if _SAFE_LOW < total < _SAFE_HIGH:
            return math.sqrt(total)
        scale = difference_scale(X, a, b)
        if scale == 0.0:
            return 0.0
        return scaled_norm(X, a, b, scale) * scale

    @jit
    def critical_edges(X, indices, k, squared):
        """``(t_b, t_d, i_b, j_b, i_d, j_d, safe)`` of subsample ``k`` (positions within the row).

        With ``squared`` the comparisons run on sums of squares (the same order as
        the distances, without a square root each) and ``safe`` says whether every
        sum stayed in the range where that is exact; otherwise on ``distance``.
        Ties resolve to the lowest index, as in the reference.
        """
        m = indices.shape[1]
        t_birth, t_death = -1.0, math.inf
        i_birth = j_birth = i_death = j_death = 0
        safe = True
        for i in range(m):
            f1 = f2 = -1.0
            j1 = j2 = 0
            for j in range(m):
                if j == i:
                    continue
                if squared:
                    length = squared_norm(X, indices[k, i], indices[k, j])
                    safe = safe and (length == 0.0 or _SAFE_LOW < length < _SAFE_HIGH)
                else:
                    length = distance(X, indices[k, i], indices[k, j])
                if length > f1:
                    f2, j2 = f1, j1
                    f1, j1 = length, j
                elif length > f2:
                    f2, j2 = length, j
            if f2 > t_birth:
                t_birth, i_birth, j_birth = f2, i, j2
            if f1 < t_death:
                t_death, i_death, j_death = f1, i, j1
        return t_birth, t_death, i_birth, j_birth, i_death, j_death, safe

    @jit
    def subsample_persistence(X, indices, k, birth, lifetime, birth_edge, death_edge):
        """Closed-form ``PH_q`` of subsample ``k``, written to row ``k`` of the outputs.

        Distances are recomputed rather than stored, so no ``m x m`` buffer is needed.
        """
        m = indices.shape[1]
        if m == 2:
            a, b = indices[k, 0], indices[k, 1]
            birth[k] = 0.0
            lifetime[k] = distance(X, a, b)
            birth_edge[k, 0] = a
            birth_edge[k, 1] = a
            death_edge[k, 0] = a
            death_edge[k, 1] = b
            return
        t_birth, t_death, i_birth, j_birth, i_death, j_death, safe = critical_edges(X, indices, k, True)
        if safe:
            t_birth, t_death = math.sqrt(t_birth), math.sqrt(t_death)
        else:  # coordinates beyond about 1e145 or differences below 1e-145: the scaled distances
            t_birth, t_death, i_birth, j_birth, i_death, j_death, safe = critical_edges(X, indices, k, False)
        birth[k] = t_birth
        lifetime[k] = max(t_death - t_birth, 0.0)
        birth_edge[k, 0] = indices[k, i_birth]
        birth_edge[k, 1] = indices[k, j_birth]
        death_edge[k, 0] = indices[k, i_death]
        death_edge[k, 1] = indices[k, j_death]

    return SimpleNamespace(distance=distance, subsample_persistence=subsample_persistence)

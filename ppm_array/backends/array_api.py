"""Reference backend: every operation in standard Array-API calls.

It runs unchanged on NumPy, CuPy, PyTorch, JAX and array-api-strict, and it is the
oracle the compiled backends are tested against. Shapes never depend on data:
trivial subsamples are carried with lifetime 0 rather than masked out.

The three operations, with the same names and signatures in every backend:

``persistence(X, indices, q, *, xp)``
    -> ``(birth, lifetime, birth_edge, death_edge)``
``persistence_vjp(X, birth_edge, death_edge, lifetime, grad_birth, grad_lifetime, *, xp)``
    -> ``grad_X``
``mmd_squared(P, Q, *, bandwidth, weight_power, unbiased, with_grad, grad_at_collapsed, xp)``
    -> ``(value, grads)``; ``P`` and ``Q`` are ``(birth, lifetime, mass)`` triples
    and ``grads`` is ``((d_birth_P, d_lifetime_P), (d_birth_Q, d_lifetime_Q))`` or
    ``None``. With ``grad_at_collapsed=False`` the gradients at points of lifetime
    0 are returned as 0 (PPM-Reg discards them: the VJP multiplies them by
    ``[lifetime > 0]``), which lets compiled backends skip those points entirely.
"""

from __future__ import annotations

from .._namespace import device as device_of
from .._scatter import segment_sum

__all__ = ["mmd_squared", "persistence", "persistence_vjp"]

# Rows of the first argument per kernel block: a block holds at most this many pairs.
_PAIRS_PER_BLOCK = 2**22


def _scaled_difference(a, b, xp):
    """``(a - b) / c`` and ``c = max|a - b|`` along the last axis (``c = 1`` where 0).

    Dividing by the largest component before squaring keeps norms free of overflow
    and underflow at any coordinate scale.
    """
    diff = a - b
    scale = xp.max(xp.abs(diff), axis=-1, keepdims=True)
    scale = xp.where(scale > 0, scale, xp.ones_like(scale))
    return diff / scale, scale[..., 0]


def _distance(a, b, xp):
    scaled, scale = _scaled_difference(a, b, xp)
    return xp.sqrt(xp.sum(scaled * scaled, axis=-1)) * scale


def _unit_vector(a, b, xp):
    """``(a - b) / |a - b|``, and 0 where the points coincide (never NaN)."""
    scaled, _ = _scaled_difference(a, b, xp)
    norm = xp.sqrt(xp.sum(scaled * scaled, axis=-1, keepdims=True))
    return scaled / xp.where(norm > 0, norm, xp.ones_like(norm))


def _take_rows(table, column, xp):
    """``table[k, column[k]]`` for every row ``k``."""
    return xp.take_along_axis(table, column[:, None], axis=1)[:, 0]


def persistence(X, indices, q, *, xp):
    n_subsamples, m = indices.shape
    points = xp.reshape(xp.take(X, xp.reshape(indices, (-1,)), axis=0), (n_subsamples, m, X.shape[1]))
    if q == 0:
        lifetime = _distance(points[:, 0, :], points[:, 1, :], xp)
        first = indices[:, 0:1]
        return xp.zeros_like(lifetime), lifetime, xp.concat([first, first], axis=1), indices
    distances = _distance(points[:, :, None, :], points[:, None, :, :], xp)
    device = device_of(X)
    positions = xp.arange(m, device=device)
    # Distances are >= 0, so -1 removes an entry from max/argmax; argmax returns
    # the first maximum, which makes ties resolve to the lowest index.
    off_diagonal = xp.where(positions[:, None] == positions[None, :], -xp.ones_like(distances), distances)
    farthest = xp.argmax(off_diagonal, axis=-1)
    f1 = xp.max(off_diagonal, axis=-1)
    without_farthest = xp.where(positions[None, None, :] == farthest[..., None], -xp.ones_like(distances), off_diagonal)
    second = xp.argmax(without_farthest, axis=-1)
    f2 = xp.max(without_farthest, axis=-1)
    i_birth = xp.argmax(f2, axis=-1)
    i_death = xp.argmin(f1, axis=-1)
    birth = xp.max(f2, axis=-1)
    lifetime = xp.clip(xp.min(f1, axis=-1) - birth, 0, None)
    j_birth = _take_rows(second, i_birth, xp)
    j_death = _take_rows(farthest, i_death, xp)
    birth_edge = xp.stack([_take_rows(indices, i_birth, xp), _take_rows(indices, j_birth, xp)], axis=1)
    death_edge = xp.stack([_take_rows(indices, i_death, xp), _take_rows(indices, j_death, xp)], axis=1)
    return birth, lifetime, birth_edge, death_edge


def persistence_vjp(X, birth_edge, death_edge, lifetime, grad_birth, grad_lifetime, *, xp):
    alive = lifetime > 0
    grad_death_length = xp.where(alive, grad_lifetime, xp.zeros_like(grad_lifetime))
    grad_birth_length = grad_birth - grad_death_length
    contributions = []
    targets = []
    for edge, grad_length in ((birth_edge, grad_birth_length), (death_edge, grad_death_length)):
        start = xp.take(X, edge[:, 0], axis=0)
        end = xp.take(X, edge[:, 1], axis=0)
        push = grad_length[:, None] * _unit_vector(start, end, xp)
        contributions += [push, -push]
        targets += [edge[:, 0], edge[:, 1]]
    return segment_sum(xp.concat(targets), xp.concat(contributions, axis=0), X.shape[0], xp=xp)


def _weights(lifetime, weight_power):
    """``w(l) = l^p`` and ``w'(l) = p l^(p-1)`` (``w'(0) = 1`` for ``p = 1``)."""
    return lifetime**weight_power, weight_power * lifetime ** (weight_power - 1)


def _cross_sum(A, B, bandwidth, weight_power, with_grad, xp):
    """``sum_ij a_i b_j k(z_i, y_j)`` and its gradient with respect to each ``z_i``.

    Blocks of rows of ``A`` keep the kernel matrix to at most ``_PAIRS_PER_BLOCK``
    entries at a time.
    """
    birth_a, lifetime_a, mass_a = A
    birth_b, lifetime_b, mass_b = B
    w_a, dw_a = _weights(lifetime_a, weight_power)
    w_b, _ = _weights(lifetime_b, weight_power)
    weighted_b = (mass_b * w_b)[None, :]
    inv_two_h2 = 1.0 / (2.0 * bandwidth * bandwidth)
    inv_h2 = 1.0 / (bandwidth * bandwidth)
    block = max(1, _PAIRS_PER_BLOCK // max(1, birth_b.shape[0]))
    total = xp.zeros((), dtype=birth_a.dtype, device=device_of(birth_a))
    row_sums, birth_grads, lifetime_grads = [], [], []
    for start in range(0, birth_a.shape[0], block):
        rows = slice(start, min(start + block, birth_a.shape[0]))
        d_birth = birth_a[rows, None] - birth_b[None, :]
        d_lifetime = lifetime_a[rows, None] - lifetime_b[None, :]
        kernel = weighted_b * xp.exp(-(d_birth * d_birth + d_lifetime * d_lifetime) * inv_two_h2)
        row_sum = xp.sum(kernel, axis=1)
        total = total + xp.sum(mass_a[rows] * w_a[rows] * row_sum)
        if with_grad:
            row_sums.append(row_sum)
            birth_grads.append(xp.sum(kernel * d_birth, axis=1))
            lifetime_grads.append(xp.sum(kernel * d_lifetime, axis=1))
    if not with_grad:
        return total, None
    row_sum, birth_moment, lifetime_moment = (xp.concat(parts) for parts in (row_sums, birth_grads, lifetime_grads))
    weighted_a = mass_a * w_a
    grad_birth = -weighted_a * birth_moment * inv_h2
    grad_lifetime = mass_a * dw_a * row_sum - weighted_a * lifetime_moment * inv_h2
    return total, (grad_birth, grad_lifetime)


def _within_sum(A, bandwidth, weight_power, unbiased, with_grad, xp):
    """The within-sum ``sum_ij a_i a_j k(z_i, z_j)`` (V) or its unbiased form (U).

    U drops the ``i = j`` terms and divides by ``1 - sum_i a_i^2``, which is
    ``s (s - 1) / s^2`` for a Monte Carlo sample of ``s`` equal masses.
    """
    total, grads = _cross_sum(A, A, bandwidth, weight_power, with_grad, xp)
    if grads is not None:
        grads = (2 * grads[0], 2 * grads[1])
    if not unbiased:
        return total, grads
    _, lifetime, mass = A
    w, dw = _weights(lifetime, weight_power)
    norm = 1.0 - xp.sum(mass * mass)
    total = (total - xp.sum(mass * mass * w * w)) / norm
    if grads is not None:
        grads = (grads[0] / norm, (grads[1] - 2 * mass * mass * w * dw) / norm)
    return total, grads


def _drop_collapsed(grads, lifetime, xp):
    grad_birth, grad_lifetime = grads
    return grad_birth, xp.where(lifetime > 0, grad_lifetime, xp.zeros_like(grad_lifetime))


def mmd_squared(P, Q, *, bandwidth, weight_power, unbiased, with_grad, grad_at_collapsed=True, xp):
    within_p, grads_pp = _within_sum(P, bandwidth, weight_power, unbiased, with_grad, xp)
    within_q, grads_qq = _within_sum(Q, bandwidth, weight_power, unbiased, with_grad, xp)
    cross, grads_pq = _cross_sum(P, Q, bandwidth, weight_power, with_grad, xp)
    value = within_p + within_q - 2 * cross
    if not with_grad:
        return value, None
    _, grads_qp = _cross_sum(Q, P, bandwidth, weight_power, with_grad, xp)
    grads_p = (grads_pp[0] - 2 * grads_pq[0], grads_pp[1] - 2 * grads_pq[1])
    grads_q = (grads_qq[0] - 2 * grads_qp[0], grads_qq[1] - 2 * grads_qp[1])
    if not grad_at_collapsed:
        grads_p, grads_q = _drop_collapsed(grads_p, P[1], xp), _drop_collapsed(grads_q, Q[1], xp)
    return value, (grads_p, grads_q)

"""Scatter-add with repeated indices, in standard Array-API operations only.

``x[idx] += v`` is unspecified for repeated indices and differs between array
libraries. Gradients scatter many contributions onto shared points, so this module
provides the one primitive the Array-API backend uses instead: a stable sort by
target row, a segmented inclusive scan (Hillis-Steele, ``ceil(log2 n)`` rounds of
shifted adds, so each sum is a balanced tree with ``O(log n)`` rounding error),
and a gather of each segment's last element. It is deterministic and identical in
every namespace.
"""

from __future__ import annotations

from .._boundary.namespace import device as device_of

__all__ = ["segment_sum"]


def segment_sum(targets, values, n_rows: int, *, xp):
    """Sum the rows of ``values`` into ``n_rows`` rows by ``targets``.

    Parameters
    ----------
    targets : int64 array, shape (n,)
        Row of the output each value row is added to, in ``[0, n_rows)``.
    values : floating array, shape (n, d)
    n_rows : int
    xp : Array-API namespace

    Returns
    -------
    out : array, shape (n_rows, d)
        ``out[r] = sum(values[i] for i with targets[i] == r)``; 0 for rows never named.
    """
    n = targets.shape[0]
    device = device_of(values)
    if n == 0:
        return xp.zeros((n_rows, values.shape[1]), dtype=values.dtype, device=device)
    order = xp.argsort(targets, stable=True)
    keys = xp.take(targets, order)
    running = xp.take(values, order, axis=0)
    shift = 1
    while shift < n:
        same_segment = (keys[shift:] == keys[:-shift])[:, None]
        carried = xp.where(same_segment, running[:-shift, ...], xp.zeros_like(running[:-shift, ...]))
        running = xp.concat([running[:shift, ...], running[shift:, ...] + carried], axis=0)
        shift *= 2
    rows = xp.arange(n_rows, dtype=keys.dtype, device=device)
    last = xp.searchsorted(keys, rows, side="right") - 1
    last = xp.clip(last, 0, n - 1)
    present = (xp.take(keys, last) == rows)[:, None]
    return xp.where(
        present, xp.take(running, last, axis=0), xp.zeros((n_rows, values.shape[1]), dtype=values.dtype, device=device)
    )

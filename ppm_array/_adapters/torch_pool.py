"""The pool of :mod:`ppm_array._mmd.pooled` over a ``torch.distributed`` process group.

NumPy arrays cross as CPU tensors (``torch.from_numpy``, no copy: gloo), CuPy arrays
as CUDA tensors through DLPack (no copy: NCCL), torch tensors as they are: the core
hands the pool arrays on the data's device, so every collective runs on ``X``'s
device. Before the computation, every call agrees on whether every rank may compute
(:func:`check_consistent`): a rank that refuses its own shards (NaN, a bad shape) or
disagrees with the others makes every rank raise the same error, instead of leaving
the others waiting in a collective.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
import torch.distributed as dist

from .._boundary import validation as v
from .._boundary.namespace import is_cupy_array, is_numpy_array
from .._boundary.options import RegularizerOptions

__all__ = ["TorchPool", "pool_for", "rank_generator"]


class TorchPool:
    """Sums, maxima and gathers over a process group; ``bytes_sent`` counts this rank's contributions."""

    def __init__(self, group):
        self.group = group
        self.world_size = dist.get_world_size(group)
        self.rank = dist.get_rank(group)
        self.bytes_sent = 0

    @staticmethod
    def _to_tensor(array) -> torch.Tensor:
        if is_numpy_array(array):
            return torch.from_numpy(np.ascontiguousarray(array))
        if isinstance(array, torch.Tensor):
            return array.contiguous()
        return torch.from_dlpack(array)

    @staticmethod
    def _like(tensor: torch.Tensor, array):
        if is_numpy_array(array):
            return tensor.numpy()
        if is_cupy_array(array):
            import cupy

            return cupy.from_dlpack(tensor)
        return tensor

    def _reduce(self, array, op):
        tensor = self._to_tensor(array).clone()
        self.bytes_sent += tensor.numel() * tensor.element_size()
        dist.all_reduce(tensor, op=op, group=self.group)
        return self._like(tensor, array)

    def sum(self, array):
        return self._reduce(array, dist.ReduceOp.SUM)

    def max(self, array):
        return self._reduce(array, dist.ReduceOp.MAX)

    def gather(self, array):
        tensor = self._to_tensor(array)
        self.bytes_sent += tensor.numel() * tensor.element_size()
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(parts, tensor, group=self.group)
        return self._like(torch.stack(parts), array)


def pool_for(group):
    """The pool of ``group``, or None where there is nothing to pool (no group, or a group of one rank)."""
    if group is None:
        return None
    if not isinstance(group, dist.ProcessGroup):
        raise TypeError(
            f"group must be a torch.distributed process group (e.g. torch.distributed.group.WORLD "
            f"or one from new_group); got {type(group).__name__}"
        )
    if not dist.is_initialized():
        raise ValueError(
            "group= needs torch.distributed initialised (torch.distributed.init_process_group) "
            "in every process; pass group=None for a single process"
        )
    pool = TorchPool(group)
    return pool if pool.world_size > 1 else None


def rank_generator(rng, pool) -> np.random.Generator:
    """This rank's generator: from a seed ``s``, ``default_rng([s, rank])``; from a Generator, its child for
    this rank (``spawn``, a new family at every call); from None, fresh entropy (different on every rank)."""
    v.check_rng(rng)
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng.spawn(pool.world_size)[pool.rank]
    return np.random.default_rng([rng, pool.rank])


_DTYPE_CODES = {"float32": 1, "float64": 2, "float16": 3, "bfloat16": 4}
# The class of a rank's own refusal, as the header of check_consistent carries it.
_ERROR_CODES = {ValueError: 1, TypeError: 2}
_ERRORS = {code: error for error, code in _ERROR_CODES.items()}


def _values(tensor: torch.Tensor) -> torch.Tensor:
    """The values of ``tensor`` without autograd or ``torch.func`` wrappers (under ``vmap``, the whole batch)."""
    tensor = tensor.detach()
    while torch._C._functorch.is_functorch_wrapped_tensor(tensor):
        tensor = torch._C._functorch.get_unwrapped(tensor)
    return tensor


def _own_refusal(X: torch.Tensor, Y: torch.Tensor, options: RegularizerOptions):
    """The error the core would raise for this rank's own shards before computing (shapes, dtypes, devices,
    sizes; not the values), or None."""
    try:
        cloud_x, cloud_y = v.points(X, "X", check_finite=False), v.points(Y, "Y", check_finite=False)
        v.check_same_library(cloud_x, cloud_y, ("X", "Y"))
        options.check_sizes({"X": X.shape[0], "Y": Y.shape[0]})
    except (TypeError, ValueError) as error:
        return error
    return None


def _on_ranks(ranks: list, message: str) -> str:
    where = f"rank {ranks[0]}" if len(ranks) == 1 else "ranks " + ", ".join(str(rank) for rank in ranks)
    return f"on {where} of group: {message}"


def check_consistent(pool, X: torch.Tensor, Y: torch.Tensor, options: RegularizerOptions) -> None:
    """Agree, before any rank computes, on whether every rank may: raise the same error on every rank if one
    refuses its own shards (shape, dtype, device, size, and with ``check_finite`` NaN or inf) or the ranks
    disagree on the options, the dimensions or the dtype.

    One ``all_gather`` of a header of eight int64 per rank, on ``X``'s device, and one host read: the
    rank's own refusal (its class and the length of its message), whether ``X`` and ``Y`` are finite
    (reduced on the device, read back only within the gathered header), a digest of the options, the
    dimensions and the dtype. Only when some rank refused its own shards, a second ``all_gather`` carries
    the messages (UTF-8 bytes as uint8, padded to the longest).
    """
    device = X.device
    own = _own_refusal(X, Y, options)
    if own is None and options.check_finite:
        finite = torch.stack([torch.isfinite(_values(X)).all(), torch.isfinite(_values(Y)).all()])
    else:
        finite = torch.ones(2, dtype=torch.bool, device=device)
    text = b"" if own is None else str(own).encode()
    shapes = (
        [0, 0, 0]
        if own is not None
        else [X.shape[1], Y.shape[1], _DTYPE_CODES.get(str(X.dtype).removeprefix("torch."), 0)]
    )
    header = torch.cat(
        [
            torch.tensor([0 if own is None else _ERROR_CODES[type(own)], len(text)], dtype=torch.int64, device=device),
            finite.to(device=device, dtype=torch.int64),
            torch.tensor([zlib.crc32(repr(options).encode()), *shapes], dtype=torch.int64, device=device),
        ]
    )
    table = pool.gather(header).tolist()
    refusals = {}  # rank: (error class, message), the first refusal of each rank, as the core checks
    if any(row[0] for row in table):
        length = max(row[1] for row in table)
        mine = torch.tensor(list(text) + [0] * (length - len(text)), dtype=torch.uint8, device=device)
        texts = pool.gather(mine).tolist()
        refusals = {
            rank: (_ERRORS[row[0]], bytes(texts[rank][: row[1]]).decode()) for rank, row in enumerate(table) if row[0]
        }
    for rank, row in enumerate(table):
        for name, finite_values in (("X", row[2]), ("Y", row[3])):
            if not finite_values:
                refusals.setdefault(rank, (ValueError, f"{name} contains NaN or infinite values"))
    if refusals:
        messages: dict[str, list[int]] = {}  # message: the ranks that gave it, in rank order
        for rank in sorted(refusals):
            messages.setdefault(refusals[rank][1], []).append(rank)
        error = refusals[min(refusals)][0]
        raise error("; ".join(_on_ranks(ranks, message) for message, ranks in messages.items()))
    for column, what in ((4, "options"), (5, "the dimension d of X"), (6, "the dimension d of Y"), (7, "the dtype")):
        values = [row[column] for row in table]
        if len(set(values)) > 1:
            raise ValueError(
                f"the ranks of group disagree on {what} of ppm_reg (per rank: {values}); every rank "
                f"must pass the same options and points of the same dimension and dtype"
            )

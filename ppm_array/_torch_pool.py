"""The pool of :mod:`ppm_array._pool` over a ``torch.distributed`` process group.

NumPy arrays cross as CPU tensors (``torch.from_numpy``, no copy: gloo), CuPy arrays
as CUDA tensors through DLPack (no copy: NCCL). Before the computation, every call
gathers a few integers from each rank (a digest of the options, the shards' sizes,
dimensions and dtype), so that a rank that disagrees raises the same ``ValueError``
on every rank instead of leaving the others waiting in a collective.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
import torch.distributed as dist

from ._namespace import is_cupy_array, is_numpy_array
from ._options import RegularizerOptions
from ._validation import check_rng

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
        raise TypeError(f"group must be a torch.distributed process group (e.g. torch.distributed.group.WORLD "
                        f"or one from new_group); got {type(group).__name__}")
    if not dist.is_initialized():
        raise ValueError("group= needs torch.distributed initialised (torch.distributed.init_process_group) "
                         "in every process; pass group=None for a single process")
    pool = TorchPool(group)
    return pool if pool.world_size > 1 else None


def rank_generator(rng, pool) -> np.random.Generator:
    """This rank's generator: from a seed ``s``, ``default_rng([s, rank])``; from a Generator, its child for
    this rank (``spawn``, a new family at every call); from None, fresh entropy (different on every rank)."""
    check_rng(rng)
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng.spawn(pool.world_size)[pool.rank]
    return np.random.default_rng([rng, pool.rank])


_DTYPE_CODES = {"float32": 1, "float64": 2, "float16": 3, "bfloat16": 4}


def check_consistent(pool, X: torch.Tensor, Y: torch.Tensor, options: RegularizerOptions) -> None:
    """Refuse, on every rank alike, ranks whose options, dimensions or dtype differ, or a shard too small."""
    digest = zlib.crc32(repr(options).encode())
    mine = [digest, X.shape[1], Y.shape[1], _DTYPE_CODES.get(str(X.dtype).removeprefix("torch."), 0),
            X.shape[0], Y.shape[0]]
    table = pool.gather(np.asarray(mine, dtype=np.int64))
    for column, what in ((0, "options"), (1, "the dimension d of X"), (2, "the dimension d of Y"), (3, "the dtype")):
        if len(set(table[:, column].tolist())) > 1:
            raise ValueError(f"the ranks of group disagree on {what} of ppm_reg (per rank: "
                             f"{table[:, column].tolist()}); every rank must pass the same options and "
                             f"points of the same dimension and dtype")
    for rank, (n_x, n_y) in enumerate(table[:, 4:].tolist()):
        try:
            options.check_sizes({"X": n_x, "Y": n_y})
        except ValueError as error:
            raise ValueError(f"on rank {rank} of group: {error}") from None

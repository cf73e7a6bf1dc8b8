"""PPM-Reg on CuPy as one CUDA graph per shape: captured once, then replayed.

A PPM-Reg call on the Numba-CUDA backend is about fifteen kernel launches and a
hundred small CuPy operations, each paid in host time (numba-cuda's dispatcher
alone takes about a millisecond per launch with CuPy arguments): small calls were
bound by the host, at a fixed 13 ms. Here the device part of a call
(:func:`ppm_array._regularizer.assembly.regularizer`, which moves nothing between host and device)
runs on static buffers under CUDA stream capture, once per *key* (the clouds' shapes
and dtypes, the options, the shapes of the draws, the device and the caller's stream).
After that a call with the same key queues five operations on the caller's stream and
returns: copy ``X`` and ``Y`` into the static buffers, upload the subsample indices
drawn on the host (from page-locked memory, so the copy does not make the host wait),
replay the graph, and copy the results out of it. The host never waits for the device,
except for the one read of the refusal flags when ``check_finite=True``.

The first call of a key runs eagerly (it compiles the kernels); the second captures.
A key whose draws change shape at every call (``q = 0`` with merged pairs, ``N^2 <=
s``) therefore always runs eagerly, as do the Fourier method, the median bandwidth
and distributed calls (:func:`applies`): they read device data on the host. The
temporaries of a capture live in a memory pool of their own, held with the graph;
the ``CAPACITY`` most recently used graphs are kept.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._mmd.method import takes_fourier
from .draws import DeviceDraw, upload

__all__ = ["CAPACITY", "ENABLED", "applies", "clear", "run"]

CAPACITY = 8
# False runs every call eagerly (for profiling, or to compare; ``benchmarks/bench_gpu.py`` does).
ENABLED = True


def applies(backend, options, draws, dtype, xp) -> bool:
    """Whether a PPM-Reg call of a single process with these draws on clouds of ``dtype`` can run as a graph:
    CuPy arrays on the Numba-CUDA backend, a numeric bandwidth and the direct sums for every dimension."""
    if getattr(backend, "__name__", "").rpartition(".")[2] != "numba_cuda" or options.bandwidth == "median":
        return False
    return not any(
        takes_fourier(backend, options, dx.indices.shape[0] + dy.indices.shape[0], dtype, xp) for dx, dy in draws
    )


class CuPyDevice:
    """The CuPy operations the graphs are made of (a test substitutes a fake)."""

    def __init__(self):
        self.cupy = sys.modules["cupy"]

    def stream(self):
        return self.cupy.cuda.get_current_stream()

    def device_id(self, array) -> int:
        return array.device.id

    def empty(self, shape, dtype):
        return self.cupy.empty(shape, dtype=dtype)

    def copy_into(self, target, source) -> None:
        self.cupy.copyto(target, source)

    def staging(self, n_entries: int, dtype) -> Staging:
        return Staging(self.cupy, n_entries, dtype)

    def capture(self, body: Callable):
        """``(graph, body())``: ``body``'s device work captured on a stream of its own, its temporaries
        allocated from a memory pool that is returned with the graph and never used again."""
        cuda = self.cupy.cuda
        pool, stream = cuda.MemoryPool(), cuda.Stream(non_blocking=True)
        with cuda.using_allocator(pool.malloc), stream:
            stream.begin_capture(mode=cuda.runtime.streamCaptureModeRelaxed)
            try:
                outputs = body()
            finally:
                graph = stream.end_capture()
        return (graph, pool), outputs

    def launch(self, graph, stream) -> None:
        graph[0].launch(stream)

    def copy(self, array):
        return array.copy()


class Staging:
    """Page-locked host buffers of ``n_entries`` for one upload target, each reused once the copy that read
    it has finished (an event query, never a wait): a host buffer is never overwritten while a queued copy
    may still read it."""

    def __init__(self, cupy, n_entries: int, dtype):
        self.cupy, self.n_entries, self.dtype = cupy, n_entries, np.dtype(dtype)
        self.slots: list[tuple[np.ndarray, Any]] = []

    def upload(self, target, parts, stream) -> None:
        """Concatenate the host arrays ``parts`` into a free buffer and copy it to ``target``, queued on ``stream``."""
        for buffer, event in self.slots:  # noqa: B007 (the buffer found is used after the loop)
            if event.done:
                break
        else:
            memory = self.cupy.cuda.alloc_pinned_memory(max(1, self.n_entries) * self.dtype.itemsize)
            buffer = np.frombuffer(memory, self.dtype, self.n_entries)
            event = self.cupy.cuda.Event(block=False, disable_timing=True)
            self.slots.append((buffer, event))
        np.concatenate([np.ravel(p) for p in parts], out=buffer)
        target.set(buffer, stream=stream)
        event.record(stream)


class _Layout(NamedTuple):
    """Where each draw's indices and masses lie in the flat static buffers."""

    indices: tuple  # (offset, shape) per draw
    masses: tuple  # (offset, length) or None per draw
    n_indices: int
    n_masses: int


def _layout(draws) -> _Layout:
    indices, masses, n_indices, n_masses = [], [], 0, 0
    for d in (d for pair in draws for d in pair):
        indices.append((n_indices, d.indices.shape))
        n_indices += d.indices.size
        masses.append(None if d.mass is None else (n_masses, d.mass.shape[0]))
        n_masses += 0 if d.mass is None else d.mass.shape[0]
    return _Layout(tuple(indices), tuple(masses), n_indices, n_masses)


class _Graph:
    """One captured call: the static inputs, the graph, and its outputs grouped by dtype in flat buffers."""

    def __init__(self, device, body, cloud_x, cloud_y, draws):
        self.device = device
        layout = _layout(draws)
        self.x = device.empty(cloud_x.array.shape, cloud_x.array.dtype)
        self.y = device.empty(cloud_y.array.shape, cloud_y.array.dtype)
        self.indices = device.empty((layout.n_indices,), np.int64)
        self.masses = device.empty((layout.n_masses,), np.float64) if layout.n_masses else None
        self.index_staging = device.staging(layout.n_indices, np.int64)
        self.mass_staging = device.staging(layout.n_masses, np.float64) if layout.n_masses else None
        clouds = cloud_x._replace(array=self.x), cloud_y._replace(array=self.y)
        xp, dtype = cloud_x.xp, cloud_x.array.dtype

        def static_draw(d, where_indices, where_mass):
            offset, shape = where_indices
            indices = xp.reshape(self.indices[offset : offset + int(np.prod(shape))], shape)
            mass = None
            if where_mass is not None:
                mass = xp.astype(self.masses[where_mass[0] : where_mass[0] + where_mass[1]], dtype)
            return DeviceDraw(indices, mass, d.mass_square_sum)

        def captured():
            flat = [d for pair in draws for d in pair]
            static = [static_draw(d, i, m) for d, i, m in zip(flat, layout.indices, layout.masses)]
            outputs = body(*clouds, tuple(zip(static[0::2], static[1::2])))
            return self._flatten(outputs, xp)

        self.graph, (self.flat, self.pieces) = device.capture(captured)

    @staticmethod
    def _flatten(outputs, xp):
        """The outputs concatenated per dtype (one buffer each) and, per output, ``(buffer, offset, shape)``."""
        dtypes = list(dict.fromkeys(a.dtype for a in outputs))
        pieces, groups = [], {dtype: [] for dtype in dtypes}
        offsets = dict.fromkeys(dtypes, 0)
        for a in outputs:
            pieces.append((dtypes.index(a.dtype), offsets[a.dtype], tuple(a.shape)))
            groups[a.dtype].append(xp.reshape(a, (-1,)))
            offsets[a.dtype] += int(np.prod(a.shape))
        return [xp.concat(groups[dtype]) for dtype in dtypes], pieces

    def replay(self, cloud_x, cloud_y, draws, stream) -> tuple:
        device = self.device
        device.copy_into(self.x, cloud_x.array)
        device.copy_into(self.y, cloud_y.array)
        flat = [d for pair in draws for d in pair]
        self.index_staging.upload(self.indices, [d.indices for d in flat], stream)
        if self.masses is not None:
            self.mass_staging.upload(self.masses, [d.mass for d in flat if d.mass is not None], stream)
        device.launch(self.graph, stream)
        copies = [device.copy(buffer) for buffer in self.flat]
        return tuple(
            copies[b][offset : offset + int(np.prod(shape))].reshape(shape) for b, offset, shape in self.pieces
        )


_lock = threading.Lock()
_seen: OrderedDict = OrderedDict()
_graphs: OrderedDict = OrderedDict()
_uncapturable: OrderedDict = OrderedDict()


def _remember(cache: OrderedDict, key, value=None) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > CAPACITY:
        cache.popitem(last=False)


def clear() -> None:
    """Forget every graph (their memory goes back to the device once nothing else holds it)."""
    with _lock:
        _seen.clear()
        _graphs.clear()
        _uncapturable.clear()


def _signature(cloud) -> tuple:
    return tuple(cloud.array.shape), str(cloud.array.dtype), str(cloud.result_dtype)


def _draws_signature(draws) -> tuple:
    return tuple(
        (d.indices.shape, None if d.mass is None else d.mass.shape, d.mass_square_sum) for pair in draws for d in pair
    )


def run(body: Callable, key, cloud_x, cloud_y, draws, device=None) -> tuple:
    """``body(cloud_x, cloud_y, device_draws)`` (a tuple of device arrays): eagerly at the first call of a
    key, by a CUDA graph from the second on. ``key`` identifies everything ``body`` does besides the
    shapes of its arguments (the options); ``draws`` are host :class:`~ppm_array._regularizer.draws.Draw` pairs."""
    if not ENABLED:
        return body(cloud_x, cloud_y, upload(draws, cloud_x))
    device = CuPyDevice() if device is None else device
    stream = device.stream()
    full_key = (
        key,
        device.device_id(cloud_x.array),
        stream.ptr,
        _signature(cloud_x),
        _signature(cloud_y),
        _draws_signature(draws),
    )
    with _lock:
        graph = _graphs.get(full_key)
        if graph is None and full_key not in _seen:
            _remember(_seen, full_key)
            return body(cloud_x, cloud_y, upload(draws, cloud_x))
        if graph is None and full_key in _uncapturable:
            return body(cloud_x, cloud_y, upload(draws, cloud_x))
        if graph is None:
            try:
                graph = _Graph(device, body, cloud_x, cloud_y, draws)
            except Exception as error:  # an operation that cannot be captured (a host read): eager from now on
                _remember(_uncapturable, full_key)
                warnings.warn(
                    f"ppm_array: this call could not be captured as a CUDA graph and runs eagerly from "
                    f"now on ({type(error).__name__}: {error})",
                    RuntimeWarning,
                    stacklevel=4,
                )
                return body(cloud_x, cloud_y, upload(draws, cloud_x))
        _remember(_graphs, full_key, graph)
        return graph.replay(cloud_x, cloud_y, draws, stream)

"""Non-uniform FFTs for the Fourier method (:mod:`ppm_array._mmd.fourier`), one class per library.

Each has ``type1(angles, strengths, modes)``: ``f_k = sum_j c_j exp(+i k . x_j)`` for the
integer modes ``k = -M/2 .. M/2 - 1`` of every axis (an array of shape ``modes``), and
``type2(angles, coefficients)``: ``v_j = sum_k f_k exp(+i k . x_j)`` for a stack of
coefficient arrays (shape ``(T, *modes)`` in, ``(T, n)`` out). ``angles`` is a tuple
with one float64 array per axis (1 or 2), in ``[-pi, pi]``.

- :class:`Finufft`: NumPy arrays, FINUFFT (the ``fft`` extra), ``O(n + M log M)``.
- :class:`Cufinufft`: CuPy arrays, cuFINUFFT (the ``cuda`` extra).
- :class:`JaxFinufft`: JAX arrays in float64, jax-finufft (XLA operations: they trace
  under ``jit``).
- :class:`Explicit`: any Array-API namespace, the sums written out in chunks of
  points, ``O(n M^D)``: the reference, and the fallback where no NUFFT library is
  installed or loads (:func:`available`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import operator
import warnings
from concurrent.futures import ThreadPoolExecutor

from .._boundary.namespace import device as device_of
from ._openmp import short_spin

__all__ = ["Cufinufft", "Explicit", "Finufft", "JaxFinufft", "available"]

# The NUFFTs' own precision, relative to their outputs: a tenth of the half of tol left to them (see _fourier).
_PRECISION_FACTOR = 0.05

# The NUFFT libraries by module: their names, and the arrays they serve.
_LIBRARIES = {
    "finufft": ("FINUFFT", "NumPy"),
    "cufinufft": ("cuFINUFFT", "CuPy"),
    "jax_finufft": ("jax-finufft", "JAX"),
}


# What method="fft" does when the library does not load.
_WITHOUT_LIBRARY = {
    "finufft": "the explicit sums over the grid",
    "cufinufft": "the explicit sums over the grid",
    "jax_finufft": "is refused",
}


# cuFINUFFT's wheel links libcudart.so.12 and libcufft.so.11 without a path to them, and the CUDA wheels (CuPy's ctk
# extra) install them outside the loader's search path: loaded first, they satisfy its links.
_LINKED_LIBRARIES = {"cufinufft": ("cudart", "cufft")}


def _load_linked_libraries(module: str) -> None:
    """Load the CUDA libraries ``module`` links, from wherever the CUDA wheels put them (cuda-pathfinder comes
    with numba-cuda and CuPy); a library not found raises (a RuntimeError)."""
    libraries = _LINKED_LIBRARIES.get(module, ())
    if libraries:
        from cuda.pathfinder import load_nvidia_dynamic_lib

        for library in libraries:
            load_nvidia_dynamic_lib(library)


@functools.cache
def available(module: str) -> bool:
    """Whether the NUFFT library ``module`` (``"finufft"``, ``"cufinufft"`` or ``"jax_finufft"``) is installed and
    loads.

    Decided once per process, by importing it (under the short spin of :mod:`._openmp`,
    for FINUFFT's OpenMP runtime): importing either loads its shared library, which
    fails where that library or one it needs (the CUDA runtime, libgomp) is missing.
    A library that is installed but does not load counts as absent, with one
    ``RuntimeWarning`` per process that names it and the reason: the Fourier method
    then runs as the explicit sums, and ``method="auto"`` takes the direct sums.
    """
    if importlib.util.find_spec(module) is None:
        return False
    try:
        with short_spin():
            _load_linked_libraries(module)
            importlib.import_module(module)
    except (ImportError, OSError, AttributeError, RuntimeError) as error:  # what loading a shared library raises
        name, arrays = _LIBRARIES[module]
        warnings.warn(
            f"{name} (the {module} package) is installed but does not load, so the Fourier method "
            f"on {arrays} arrays runs without it: method='auto' takes the direct sums and method='fft' "
            f"{_WITHOUT_LIBRARY[module]}. {type(error).__name__}: {error}",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    return True


class Finufft:
    """FINUFFT on NumPy arrays, with up to ``threads`` threads, bitwise the same for any thread count.

    Measured here (OpenMP's short spin, :mod:`._openmp`), a second thread pays off
    from about 30,000 points, for either type and dimension: 1.9 against 2.8 ms for
    a type 1 of 100,000 points in 1-D, 1.0 against 0.9 ms at 30,000.

    A multithreaded type 1 adds the threads' subgrids in an order that depends on
    their number (results differ in the last bits between 1 and 2 threads), so a
    large type 1 is split into chunks whose number depends only on the points and the
    grid, each transformed on one thread (concurrently: FINUFFT's calls release the
    GIL), and the chunks' grids are summed in order. A type 2 evaluates each target
    on one thread: FINUFFT's own threads leave it the same.
    """

    PARALLEL_FROM = 30_000
    # A chunk of a type 1 holds at least this many points (a whole transform costs about as much as one over
    # twice as many: 1 or 2 threads on 10^6 points, chunked, were within the noise of FINUFFT's own threads),
    # and at least this many per mode of the grid, so that the FFT each chunk repeats stays small beside its
    # spreading and the chunks' grids take O(n) memory.
    CHUNK_POINTS = 65_536
    POINTS_PER_MODE = 8

    def __init__(self, tol: float, threads: int):
        with short_spin():  # FINUFFT loads its own OpenMP runtime: let it sleep rather than spin
            import finufft

        self._finufft, self._eps, self._threads = finufft, max(tol * _PRECISION_FACTOR, 1e-15), threads

    def _options(self, n_points: int) -> dict:
        threads = self._threads if n_points >= self.PARALLEL_FROM else 1
        return dict(eps=self._eps, isign=1, nthreads=threads)

    def _type1_chunk(self, angles, c, modes):
        options = dict(eps=self._eps, isign=1, nthreads=1)
        if len(angles) == 1:
            return self._finufft.nufft1d1(angles[0], c, modes[0], **options)
        return self._finufft.nufft2d1(*angles, c, modes, **options)

    def type1(self, angles, strengths, modes):
        c, n = strengths.astype(complex), strengths.shape[0]
        chunk = max(self.CHUNK_POINTS, self.POINTS_PER_MODE * math.prod(modes))
        bounds = [(start, min(start + chunk, n)) for start in range(0, n, chunk)]
        parts = [(tuple(a[start:stop] for a in angles), c[start:stop], modes) for start, stop in bounds]
        if len(parts) == 1 or self._threads == 1:
            grids = [self._type1_chunk(*part) for part in parts]
        else:
            with ThreadPoolExecutor(max_workers=min(self._threads, len(parts))) as pool:
                grids = list(pool.map(lambda part: self._type1_chunk(*part), parts))
        return functools.reduce(operator.add, grids)

    def type2(self, angles, coefficients):
        options = self._options(angles[0].shape[0])
        if len(angles) == 1:
            return self._finufft.nufft1d2(angles[0], coefficients, **options)
        return self._finufft.nufft2d2(*angles, coefficients, **options)


class Cufinufft:
    """cuFINUFFT on CuPy arrays, on CuPy's current device and stream, read at each call.

    Each transform's plan gets them as ``gpu_device_id`` and ``gpu_stream`` (without
    them cuFINUFFT plans on device 0 and the legacy default stream), so the transforms
    are ordered with the caller's work on that stream, as the Numba-CUDA kernels are,
    and run on the data's device on every rank of a multi-GPU job.
    """

    def __init__(self, tol: float):
        import cufinufft  # loaded by available(), with the CUDA libraries it links

        self._cufinufft, self._eps = cufinufft, max(tol * _PRECISION_FACTOR, 1e-15)

    def _options(self) -> dict:
        import cupy

        return dict(
            eps=self._eps, isign=1, gpu_device_id=cupy.cuda.Device().id, gpu_stream=cupy.cuda.get_current_stream().ptr
        )

    def type1(self, angles, strengths, modes):
        c, options = strengths.astype(complex), self._options()
        if len(angles) == 1:
            return self._cufinufft.nufft1d1(angles[0], c, modes[0], **options)
        return self._cufinufft.nufft2d1(*angles, c, modes, **options)

    def type2(self, angles, coefficients):
        options = self._options()
        if len(angles) == 1:
            return self._cufinufft.nufft1d2(angles[0], coefficients, **options)
        return self._cufinufft.nufft2d2(*angles, coefficients, **options)


class JaxFinufft:
    """jax-finufft on float64 JAX arrays: XLA operations, which trace under ``jit`` and run where the arrays
    are. (Its own ``vmap`` rule fails on current JAX; :func:`ppm_array._backends.jax_native.branch` maps
    the Fourier method over a batch item by item instead.)"""

    def __init__(self, tol: float):
        import jax_finufft  # loaded by available()

        self._library, self._eps = jax_finufft, max(tol * _PRECISION_FACTOR, 1e-15)

    def type1(self, angles, strengths, modes):
        import jax.numpy as jnp

        shape = modes[0] if len(modes) == 1 else tuple(modes)
        return self._library.nufft1(shape, strengths.astype(jnp.complex128), *angles, eps=self._eps, iflag=1)

    def type2(self, angles, coefficients):
        return self._library.nufft2(coefficients, *angles, eps=self._eps, iflag=1)


class Explicit:
    """The sums written out in Array-API calls, a chunk of points at a time (at most ``chunk_entries``
    complex numbers per chunk)."""

    def __init__(self, xp, chunk_entries: int = 2**22):
        self._xp, self._chunk_entries = xp, chunk_entries

    def _phases(self, x, m: int):
        """``exp(i k x_j)`` for the modes ``k`` of one axis: shape ``(m, n)``."""
        xp = self._xp
        k = xp.astype(xp.arange(-(m // 2), m - m // 2, device=device_of(x)), xp.float64)
        angle = k[:, None] * x[None, :]
        return xp.astype(xp.cos(angle), xp.complex128) + 1j * xp.astype(xp.sin(angle), xp.complex128)

    def _chunks(self, n: int, modes):
        size = max(1, self._chunk_entries // max(1, sum(modes)))
        return [(start, min(start + size, n)) for start in range(0, n, size)]

    def type1(self, angles, strengths, modes):
        xp = self._xp
        c = xp.astype(strengths, xp.complex128)
        total = xp.zeros(tuple(modes), dtype=xp.complex128, device=device_of(strengths))
        for start, stop in self._chunks(strengths.shape[0], modes):
            phases = [self._phases(x[start:stop], m) for x, m in zip(angles, modes)]
            weighted = phases[0] * c[None, start:stop]
            total = total + (xp.sum(weighted, axis=1) if len(modes) == 1 else weighted @ xp.matrix_transpose(phases[1]))
        return total

    def type2(self, angles, coefficients):
        xp = self._xp
        modes = tuple(coefficients.shape[1:])
        pieces = []
        for start, stop in self._chunks(angles[0].shape[0], modes):
            phases = [self._phases(x[start:stop], m) for x, m in zip(angles, modes)]
            if len(modes) == 1:
                pieces.append(coefficients @ phases[0])
            else:  # sum_k1 e^{i k1 x} (sum_k2 f[k1, k2] e^{i k2 y})
                inner = coefficients @ phases[1]
                pieces.append(xp.sum(inner * phases[0][None, :, :], axis=1))
        return xp.concat(pieces, axis=1)

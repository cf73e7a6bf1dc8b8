"""``numba.njit`` with an on-disk cache that follows every source file the kernels are built from.

Numba keys a cached kernel on the file that defines it. Our CPU kernels inline
code from other files (the shared kernel bodies, the polynomial ``exp``), and an
edit there would leave Numba running stale machine code from its cache. The
dispatchers made here stamp their cache with a digest of *all* those files, so a
change to any of them compiles afresh. (Numba offers no public hook for this; the
cache object is replaced the way ``Dispatcher.enable_caching`` sets it, and a test
edits a dependency to prove the invalidation.)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numba
from numba.core.caching import CompileResultCacheImpl, FunctionCache

__all__ = ["cached_njit"]


class _StampedLocator:
    """A Numba cache locator whose source stamp also covers the dependencies' digest."""

    def __init__(self, locator, digest: str):
        self._locator = locator
        self._digest = digest

    def get_source_stamp(self):
        return (self._locator.get_source_stamp(), self._digest)

    def __getattr__(self, name):
        return getattr(self._locator, name)


def _digest(sources) -> str:
    digest = hashlib.sha256()
    for path in sources:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def cached_njit(sources):
    """``jit(**options)``: a decorator factory like ``numba.njit(cache=True, **options)`` whose cache is
    invalid once any of ``sources`` changes.

    ``sources`` are the paths of the files the decorated kernels depend on,
    including the one that defines them.
    """
    digest = _digest(sources)

    class _Impl(CompileResultCacheImpl):
        def __init__(self, py_func):
            super().__init__(py_func)
            self._locator = _StampedLocator(self._locator, digest)

    class _Cache(FunctionCache):
        _impl_class = _Impl

    def jit(**options):
        def decorate(function):
            dispatcher = numba.njit(cache=False, **options)(function)
            dispatcher._cache = _Cache(dispatcher.py_func)
            return dispatcher

        return decorate

    return jit

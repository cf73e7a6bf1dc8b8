"""The Numba CPU kernels' on-disk cache follows every source file their code comes from.

A copy of the package is imported in fresh processes: the first compiles and
caches, the second must load from the cache, and after an edit to a file whose
code is inlined into the kernels (not the file that defines them) the third must
compile afresh and compute with the edited code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")

PACKAGE = Path(__file__).resolve().parents[1] / "ppm_array"

PROBE = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import ppm_array as pa
from ppm_array._backends import numba_cpu
square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
sample = pa.principal_persistence(square, 1, indices=np.array([[0, 1, 2, 3]]), backend="numba")
P = pa.PersistenceSample(np.array([0.0]), np.array([1.0]), np.zeros((1, 2), int), np.zeros((1, 2), int),
                         np.ones(1), 1, 1)
Q = P._replace(lifetime=np.array([2.0]))
value = pa.mmd(P, Q, bandwidth=1.0, backend="numba")
print(json.dumps({
    "birth": float(sample.birth[0]),
    "mmd": float(value),
    "hits": sum(kernel.stats.cache_hits[next(iter(kernel.overloads))]
                for kernel in (numba_cpu.persistence_kernels.persistence_kernel,
                               numba_cpu.moment_kernels.within_chunks_kernel)),
}))
"""


def probe(root: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, str(root)], capture_output=True, text=True, check=True,
                            env={**os.environ, "NUMBA_CACHE_DIR": str(root / "numba-cache")})
    return json.loads(result.stdout)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def test_editing_an_inlined_source_invalidates_the_compiled_cache(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "ppm_array", ignore=shutil.ignore_patterns("__pycache__"))
    bodies = tmp_path / "ppm_array" / "_backends" / "_kernel_bodies.py"
    fastmath = tmp_path / "ppm_array" / "_backends" / "_fastmath.py"

    first = probe(tmp_path)
    assert first["birth"] == 1.0 and first["hits"] == 0
    assert first["mmd"] == pytest.approx(1.0 + 4.0 - 2 * 2.0 * 2.718281828459045**-0.5, rel=1e-14)
    assert probe(tmp_path)["hits"] == 2  # unchanged sources: both kernels come from the cache

    edit(bodies, "total += t * t", "total += 4.0 * t * t")  # every distance doubles
    edit(fastmath, "return _horner(n - clamped, _TAYLOR_64) * _scale_64(n)", "return 0.0 * n")  # 2^-y is 0
    edited = probe(tmp_path)
    assert edited["hits"] == 0
    assert edited["birth"] == 2.0
    assert edited["mmd"] == pytest.approx(1.0 + 4.0, rel=1e-14)  # no cross term left

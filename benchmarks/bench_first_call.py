"""What the first call costs: compiling the Numba kernels, and loading them from the on-disk cache.

Each measurement runs in a fresh process with its own, initially empty, Numba cache
directory. Usage::

    python benchmarks/bench_first_call.py       # about half a minute
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

PROBE = """
import json, time
start = time.perf_counter()
import numpy as np
import ppm_array as pa
imported = time.perf_counter()
rng = np.random.default_rng(0)
X, Y = rng.normal(size=(100, 2)), rng.normal(size=(90, 2))
def call(x, y):
    begin = time.perf_counter()
    pa.ppm_reg_value_and_grad(x, y, bandwidth=0.3, n_subsamples=512, rng=0)
    return time.perf_counter() - begin
times = {"import": imported - start, "first call (float64)": call(X, Y),
         "second call": call(X, Y),
         "Fortran-ordered X, Y in 3-d": call(np.asfortranarray(X), rng.normal(size=(90, 3))),
         "strided X": call(np.repeat(X, 2, axis=1)[:, ::2], Y),
         "read-only X": call(np.frombuffer(X.tobytes()).reshape(X.shape), Y),
         "first float32 call": call(X.astype(np.float32), Y.astype(np.float32))}
print(json.dumps(times))
"""


def run(cache: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                            env={**os.environ, "NUMBA_CACHE_DIR": cache})
    return json.loads(result.stdout)


def main():
    with tempfile.TemporaryDirectory() as cache:
        empty, cached = run(cache), run(cache)
    print("## First calls (N = 100, s = 512, dims (0, 1); seconds, each process fresh)\n")
    print("| call | empty cache | cache filled by the previous process |")
    print("|---|---:|---:|")
    for name in empty:
        print(f"| {name} | {empty[name]:.3f} | {cached[name]:.3f} |")
    print()


if __name__ == "__main__":
    main()

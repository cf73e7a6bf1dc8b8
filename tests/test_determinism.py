"""Results do not depend on the number of threads (docs/backends.md): bitwise, on the Numba CPU backend.

The sizes reach every parallel schedule of the moment kernels (the chunked one up to
32,768 points and the rounds beyond), the parallel persistence and scatter, and the
Fourier method's transforms. The free-core throttle may give a busy machine fewer
threads than asked for; the comparison then covers fewer schedules but stays exact.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import blob_and_circle

import ppm_array as pa

numba = pytest.importorskip("numba")


@pytest.mark.parametrize("method, n_subsamples", [("direct", (20000, 40000)), ("fft", (60000, 60000))])
def test_results_are_bitwise_the_same_for_one_and_two_threads(method, n_subsamples):
    X, Y = blob_and_circle(3000, 2500, seed=11, noise=0.05)
    options = dict(bandwidth=0.2, weights=(1.0, 50.0), n_subsamples=n_subsamples, rng=7, method=method)
    previous = numba.get_num_threads()
    results = {}
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            results[threads] = pa.ppm_reg_value_and_grad(X, Y, return_terms=True, **options)
    finally:
        numba.set_num_threads(previous)
    one, two = results.values()
    for a, b in zip(one[:3], two[:3]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one[3].mmd, two[3].mmd)

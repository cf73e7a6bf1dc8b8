"""Our explicit gradients against autograd through the published algorithm (``benchmarks/published_baseline.py``).

The rewrite follows the authors' PPM.py step for step (full distance matrix, top-2,
boolean masks, dense kernels) and PyTorch differentiates it: an independent truth
for the value and ``grad_X`` of PPM-Reg on the same subsamples.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ppm_array as pa  # noqa: E402
from builders import blob_and_circle  # noqa: E402
from oracles import published_ppm_reg  # noqa: E402


@pytest.mark.parametrize("weight_power", [1.0, 2.0])
@pytest.mark.parametrize("dims", [(0, 1), (0, 1, 2)])
def test_explicit_gradients_equal_autograd_of_the_published_algorithm(backend, weight_power, dims):
    X, Y = blob_and_circle(80, 70, seed=3, noise=0.02)
    options = dict(bandwidth=0.3, dims=dims, weights=tuple(float(10**q) for q in range(len(dims))), n_subsamples=600,
                   rng=5, weight_power=weight_power)
    value, grad_x, grad_y = pa.ppm_reg_value_and_grad(X, Y, backend=backend, **options)
    expected_value, expected_grad_x, expected_grad_y = published_ppm_reg(X, Y, **options)
    assert float(value) == pytest.approx(expected_value, rel=1e-11)
    for got, want in ((grad_x, expected_grad_x), (grad_y, expected_grad_y)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11 * np.abs(got).max())

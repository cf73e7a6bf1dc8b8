"""Our explicit gradients against autograd through the published algorithm (``benchmarks/published_baseline.py``).

The rewrite follows the authors' PPM.py step for step (full distance matrix, top-2,
boolean masks, dense kernels) and PyTorch differentiates it: an independent truth
for the value and ``grad_X`` of PPM-Reg on the same subsamples.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ppm_array as pa  # noqa: E402
from builders import blob_and_circle  # noqa: E402

_path = Path(__file__).resolve().parents[1] / "benchmarks" / "published_baseline.py"
_spec = importlib.util.spec_from_file_location("published_baseline", _path)
published = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(published)


@pytest.mark.parametrize("weight_power", [1.0, 2.0])
@pytest.mark.parametrize("dims", [(0, 1), (0, 1, 2)])
def test_explicit_gradients_equal_autograd_of_the_published_algorithm(backend, weight_power, dims):
    X, Y = blob_and_circle(80, 70, seed=3, noise=0.02)
    s, h = 600, 0.3
    weights = tuple(float(10**q) for q in range(len(dims)))
    value, grad_x, _ = pa.ppm_reg_value_and_grad(X, Y, bandwidth=h, dims=dims, weights=weights, n_subsamples=s,
                                                  rng=5, weight_power=weight_power, backend=backend)
    generator = np.random.default_rng(5)
    indices_x, indices_y = [], []
    for q in dims:  # ppm_reg's draw order: X then Y for each dimension
        indices_x.append(torch.asarray(pa.subsample_indices(80, q, s, rng=generator)))
        indices_y.append(torch.asarray(pa.subsample_indices(70, q, s, rng=generator)))
    expected_value, expected_grad = published.published_value_and_grad(
        torch.asarray(X), torch.asarray(Y), indices_x, indices_y, dims, weights, 2 * h**2, weight_power)
    assert float(value) == pytest.approx(float(expected_value), rel=1e-11)
    np.testing.assert_allclose(grad_x, expected_grad.numpy(), rtol=1e-9, atol=1e-11 * np.abs(grad_x).max())

"""Drawing subsample indices."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import ppm_array as pa


def test_shape_range_and_seed():
    indices = pa.subsample_indices(10, 1, 1000, rng=0)
    assert indices.shape == (1000, 4) and indices.dtype == np.int64
    assert indices.min() == 0 and indices.max() == 9
    np.testing.assert_array_equal(indices, pa.subsample_indices(10, 1, 1000, rng=0))
    generator = np.random.default_rng(0)
    first, second = (pa.subsample_indices(10, 1, 5, rng=generator) for _ in range(2))
    assert not np.array_equal(first, second)


def test_without_replacement_rows_are_uniform_subsets():
    n_points, q, s = 7, 1, 70_000
    indices = pa.subsample_indices(n_points, q, s, rng=1, replace=False)
    assert all(len(set(row)) == 4 for row in indices[:1000])
    subsets = np.sort(indices, axis=1)
    codes = (subsets * n_points ** np.arange(4)).sum(axis=1)
    _, counts = np.unique(codes, return_counts=True)
    assert counts.size == 35  # C(7, 4)
    assert stats.chisquare(counts).pvalue > 1e-4


def test_without_replacement_needs_enough_points():
    with pytest.raises(ValueError, match="replace=False"):
        pa.subsample_indices(3, 1, 10, rng=0, replace=False)


def test_with_replacement_is_uniform_over_tuples():
    indices = pa.subsample_indices(3, 0, 90_000, rng=2)
    codes = indices[:, 0] * 3 + indices[:, 1]
    _, counts = np.unique(codes, return_counts=True)
    assert counts.size == 9 and stats.chisquare(counts).pvalue > 1e-4

"""Batches of clouds in one call: ``X`` of shape ``(B, N, d)`` with ``Y`` of shape ``(B, M, d)`` or one shared
``(M, d)``. The truth for every item is the call on that item alone, with the same ``rng``."""

from __future__ import annotations

import numpy as np
import pytest
from builders import noisy_circle, octahedra

import ppm_array as pa
from ppm_array._backends import array_api, numba_cpu
from ppm_array._backends.contract import KernelPoints
from ppm_array._mmd.method import _item_by_item

numba = pytest.importorskip("numba")

N_ITEMS = 4
OPTIONS = dict(bandwidth=0.3, dims=(0, 1), weights=(1.0, 20.0), n_subsamples=150, rng=5)


def batch(n_items: int = N_ITEMS, n_points: int = 30, seed: int = 0) -> np.ndarray:
    """Noisy circles of different radii and noise."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(0.5, 2) * noisy_circle(n_points, rng.uniform(0.01, 0.3), rng) for _ in range(n_items)])


def relative_error(got, want) -> float:
    return float(np.max(np.abs(np.asarray(got) - want)) / max(np.max(np.abs(want)), 1e-300))


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"estimator": "u"},
        {"squared": False},
        {"weight_power": 2.0},
        {"bandwidth": "median"},
        {"method": "fft"},
        {"replace": False, "n_subsamples": (120, 200)},
        {"dims": (0, 1, 2), "weights": (1.0, 5.0, 50.0)},
        {"n_subsamples": 2000},  # q = 0 with N^2 <= s: repeated pairs merged, one draw for every item
    ],
    ids=lambda changes: ",".join(f"{k}={v}" for k, v in changes.items()) or "defaults",
)
@pytest.mark.parametrize("shared_y", [False, True], ids=["Y per item", "shared Y"])
def test_every_item_is_the_call_on_that_item_alone(backend, changes, shared_y):
    options = dict(OPTIONS, backend=backend, **changes)
    X = batch(seed=1)
    if "dims" in changes:
        X = np.stack([octahedra(5, seed=b) for b in range(N_ITEMS)])
    Y = X[0] * 0.7 + 0.1 if shared_y else batch(seed=2) if "dims" not in changes else X[::-1] * 1.3
    value, grad_x, grad_y, terms = pa.ppm_reg_value_and_grad(X, Y, return_terms=True, **options)
    assert value.shape == (N_ITEMS,) and grad_x.shape == X.shape and grad_y.shape == Y.shape
    assert terms.mmd.shape == terms.bandwidth.shape == (N_ITEMS, len(options["dims"] if "dims" in options else (0, 1)))
    items = [pa.ppm_reg_value_and_grad(X[b], Y if shared_y else Y[b], return_terms=True, **options)
             for b in range(N_ITEMS)]
    np.testing.assert_allclose(value, [float(item[0]) for item in items], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(terms.mmd, np.stack([item[3].mmd for item in items]), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(terms.bandwidth, np.stack([item[3].bandwidth for item in items]), rtol=1e-12)
    assert relative_error(grad_x, np.stack([item[1] for item in items])) < 1e-11
    want_y = sum(item[2] for item in items) if shared_y else np.stack([item[2] for item in items])
    assert relative_error(grad_y, want_y) < 1e-11
    assert float(np.max(np.abs(grad_x))) > 0  # the comparison is not of zeros
    assert np.array_equal(pa.ppm_reg(X, Y, **options), value)  # the value alone: the same draws, the same numbers


def test_float32_batches_follow_float64():
    X, Y = batch(seed=3), batch(seed=4)
    value64, grad64, _ = pa.ppm_reg_value_and_grad(X, Y, **OPTIONS)
    value32, grad32, _ = pa.ppm_reg_value_and_grad(X.astype(np.float32), Y.astype(np.float32), **OPTIONS)
    assert value32.dtype == grad32.dtype == np.float32
    np.testing.assert_allclose(value32, value64, rtol=2e-3)
    assert relative_error(grad32, grad64) < 2e-3


@pytest.mark.parametrize("same_set", [True, False])
def test_the_batched_moment_kernel_is_each_item_alone(same_set):
    """One parallel loop over the items (points without a weight compacted away first) gives the moments of
    each item computed alone (the single-set kernel and the reference backend), and the same bits on one
    thread and on two."""
    rng = np.random.default_rng(7)
    n_items = 9

    def points(n):
        v = rng.normal(size=(n_items, n)) * (rng.random((n_items, n)) > 0.4)
        v[3] = 0.0  # an item without a weight
        return KernelPoints(rng.normal(size=(n_items, n)), np.abs(rng.normal(size=(n_items, n))), v)

    A, B = points(150), points(90)
    B = A if same_set else B
    c = rng.uniform(0.5, 2.0, n_items)
    previous, results = numba.get_num_threads(), []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            results.append(numba_cpu.batched_pair_moments(A, B, same_set=same_set, inv_two_h2=c, xp=np))
    finally:
        numba.set_num_threads(previous)
    got = results[0]
    alone = _item_by_item(numba_cpu.pair_moments)(A, B, same_set=same_set, inv_two_h2=c, xp=np)
    reference = _item_by_item(array_api.pair_moments)(A, B, same_set=same_set, inv_two_h2=c, xp=np)
    for side, points_of_side in enumerate((A, B)):
        weighted = points_of_side.v != 0  # the contract leaves the moments of weightless points open
        for k, (got_moment, alone_moment, want) in enumerate(zip(got[side], alone[side], reference[side])):
            np.testing.assert_array_equal(results[1][side][k], got_moment)
            np.testing.assert_allclose(got_moment, alone_moment, rtol=1e-13, atol=1e-13)
            np.testing.assert_allclose(got_moment[weighted], want[weighted], rtol=1e-12, atol=1e-12)
            assert np.all(got_moment[3] == 0)  # no weight in the item: nothing to sum
        assert np.any(got[side].m0[weighted] != 0)


def test_an_empty_batch_gives_empty_results():
    X, Y = batch()[:0], batch()[:0]
    value, grad_x, grad_y, terms = pa.ppm_reg_value_and_grad(X, Y, return_terms=True, **OPTIONS)
    assert value.shape == (0,) and grad_x.shape == X.shape and grad_y.shape == Y.shape
    assert terms.mmd.shape == terms.bandwidth.shape == (0, 2)
    shared = batch()[0]
    assert pa.ppm_reg_value_and_grad(X, shared, **OPTIONS)[2].shape == shared.shape
    assert np.all(pa.ppm_reg_value_and_grad(X, shared, **OPTIONS)[2] == 0)
    assert pa.ppm_reg(X, Y, **OPTIONS).shape == (0,)


@pytest.mark.parametrize(
    "X, Y, message",
    [
        (np.zeros((3, 10, 2)), np.zeros((4, 10, 2)), r"X and Y must hold the same number of clouds; got 3"),
        (np.zeros((10, 2)), np.zeros((3, 10, 2)), r"Y is a batch of 3 clouds .* but X is one cloud"),
        (np.zeros((2, 3, 10, 2)), np.zeros((10, 2)), r"X must be 2-D with shape \(N, d\), or 3-D with shape \(B, N, d\)"),
        (np.zeros((3, 0, 2)), np.zeros((10, 2)), r"X must have at least one point and one feature"),
    ],
)
def test_batches_that_do_not_fit_are_refused(X, Y, message):
    with pytest.raises(ValueError, match=message):
        pa.ppm_reg_value_and_grad(X, Y, **OPTIONS)


def test_a_nan_in_one_item_is_refused():
    X = batch()
    X[2, 5, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinite values"):
        pa.ppm_reg(X, batch(), **OPTIONS)

"""Bad input is refused at the boundary with an error that names the argument."""

from __future__ import annotations

import re

import numpy as np
import pytest

import ppm_array as pa

X = np.random.default_rng(0).normal(size=(20, 2))
Y = np.random.default_rng(1).normal(size=(15, 2))
SAMPLE = pa.principal_persistence(X, 1, n_subsamples=10, rng=0, backend="array_api")
GOOD = dict(bandwidth=0.2, n_subsamples=50, rng=0)


def reg(x=X, y=Y, **options):
    return lambda backend: pa.ppm_reg_value_and_grad(x, y, backend=backend, **{**GOOD, **options})


def vjp(**fields):
    """``persistence_vjp`` of ``X`` with a sample whose ``fields`` were replaced by hand."""
    return lambda backend: pa.persistence_vjp(X, SAMPLE._replace(**fields), np.ones(10), np.ones(10), backend=backend)


CASES = [
    # shapes
    ("1-D X", reg(x=X[:, 0]), ValueError, "X must be 2-D"),
    ("4-D X", reg(x=X[None, None]), ValueError, "X must be 2-D with shape (N, d), or 3-D with shape (B, N, d)"),
    ("empty X", reg(x=X[:0]), ValueError, "X must have at least one point"),
    ("no features", reg(y=Y[:, :0]), ValueError, "Y must have at least one point and one feature"),
    ("list X", reg(x=X.tolist()), TypeError, "X must be an array"),
    # values
    ("NaN in X", reg(x=np.where(np.arange(40).reshape(20, 2) == 7, np.nan, X)), ValueError, "X contains NaN"),
    ("inf in Y", reg(y=np.where(np.arange(30).reshape(15, 2) == 3, np.inf, Y)), ValueError, "Y contains NaN or inf"),
    # dtypes
    ("integer X", reg(x=X.astype(np.int64)), TypeError, "X must have a real floating dtype"),
    ("bool X", reg(x=X > 0), TypeError, "X must have a real floating dtype"),
    ("complex Y", reg(y=Y.astype(np.complex128)), TypeError, "Y must have a real floating dtype"),
    ("mixed dtypes", reg(y=Y.astype(np.float32)), TypeError, "same dtype"),
    # options
    ("negative q", lambda b: pa.principal_persistence(X, -1, n_subsamples=3, backend=b), ValueError, "q must be a non-negative"),
    ("float q", lambda b: pa.principal_persistence(X, 1.0, n_subsamples=3, backend=b), TypeError, "q must be a non-negative integer"),
    ("dims int", reg(dims=1), TypeError, "dims must be a sequence"),
    ("dims empty", reg(dims=()), ValueError, "dims must name at least one"),
    ("dims repeated", reg(dims=(1, 1)), ValueError, "dims must not repeat"),
    ("weights length", reg(weights=(1.0,)), ValueError, "weights must have one entry per entry of dims"),
    ("weights negative", reg(weights=(1.0, -1.0)), ValueError, "weights must be finite and non-negative"),
    ("n_subsamples zero", reg(n_subsamples=0), ValueError, "n_subsamples must be a positive integer"),
    ("n_subsamples float", reg(n_subsamples=10.0), TypeError, "n_subsamples must be a positive integer"),
    ("n_subsamples huge", reg(n_subsamples=10**12), ValueError, "more than the"),
    ("bandwidth zero", reg(bandwidth=0.0), ValueError, "bandwidth must be a positive finite"),
    ("bandwidth nan", reg(bandwidth=float("nan")), ValueError, "bandwidth must be a positive finite"),
    ("bandwidth string", reg(bandwidth="0.2"), ValueError, "bandwidth must be one of 'median'"),
    ("bandwidth list", reg(bandwidth=[0.2]), TypeError, "bandwidth must be a positive real number or 'median'"),
    ("bandwidth 1-d array", reg(bandwidth=np.array([0.2])), TypeError, "bandwidth must be a positive real number"),
    ("bandwidth complex", reg(bandwidth=np.array(0.2 + 1j)), TypeError, "bandwidth must be a positive real number"),
    ("bandwidth 0-d negative", reg(bandwidth=np.array(-0.2)), ValueError, "bandwidth must be a positive finite"),
    ("weight_power < 1", reg(weight_power=0.5), ValueError, "weight_power must be a finite number in [1, 16]"),
    ("weight_power huge", reg(weight_power=1e9), ValueError, "weight_power must be a finite number in [1, 16]"),
    ("weight_power above the range", reg(weight_power=16.5), ValueError, "weight_power must be a finite number in [1, 16]"),
    ("weight_power nan", reg(weight_power=float("nan")), ValueError, "weight_power must be a finite number in [1, 16]"),
    ("weight_power string", reg(weight_power="2"), TypeError, "weight_power must be a real number in [1, 16]"),
    ("mmd weight_power", lambda b: pa.mmd(SAMPLE, SAMPLE, bandwidth=0.2, weight_power=1e9, backend=b), ValueError,
     "weight_power must be a finite number in [1, 16]"),
    ("estimator", reg(estimator="w"), ValueError, "estimator must be one of"),
    ("method", reg(method="nufft"), ValueError, "method must be one of"),
    ("tol zero", reg(tol=0.0), ValueError, "tol must be a positive"),
    ("tol one", reg(tol=1.0), ValueError, "tol must lie in [1e-12, 1)"),
    ("tol below rounding", reg(tol=1e-14), ValueError, "tol must lie in [1e-12, 1)"),
    ("tol string", reg(tol="1e-6"), TypeError, "tol must be a"),
    ("mmd tol", lambda b: pa.mmd(SAMPLE, SAMPLE, bandwidth=0.2, tol=float("nan"), backend=b), ValueError,
     "tol must be a positive"),
    ("grid too large", lambda b: pa.mmd(*[SAMPLE._replace(lifetime=np.linspace(1.0, 1e4, 10))] * 2, bandwidth=1e-3,
                                        method="fft", backend=b), ValueError, "use method='direct'"),
    ("backend", lambda b: pa.ppm_reg(X, Y, bandwidth=0.2, backend="cuda"), ValueError, "backend must be one of"),
    ("squared", reg(squared="yes"), TypeError, "squared must be True or False"),
    ("rng RandomState", reg(rng=np.random.RandomState(0)), TypeError, "rng must be None"),
    ("rng negative", reg(rng=-3), ValueError, "rng must be a non-negative integer seed"),
    ("u with one subsample", reg(estimator="u", n_subsamples=1), ValueError, "estimator='u' needs"),
    ("replace=False, too few points in X", reg(x=X[:3], replace=False), ValueError,
     "replace=False needs at least 2q+2=4 points (q=1) in X; got 3"),
    ("replace=False, too few points", lambda b: pa.principal_persistence(X[:3], 1, n_subsamples=5, replace=False, backend=b),
     ValueError, "replace=False needs at least"),
    # indices
    ("indices width", lambda b: pa.principal_persistence(X, 1, indices=np.zeros((3, 3), dtype=int), backend=b), ValueError,
     "indices must have shape (n_subsamples, 4)"),
    ("indices range", lambda b: pa.principal_persistence(X, 0, indices=np.array([[0, 20]]), backend=b), ValueError,
     "indices must lie in [0, 20)"),
    ("indices negative", lambda b: pa.principal_persistence(X, 0, indices=np.array([[-1, 2]]), backend=b), ValueError,
     "indices must lie in"),
    ("indices float", lambda b: pa.principal_persistence(X, 0, indices=np.array([[0.0, 1.0]]), backend=b), TypeError,
     "indices must have an integer dtype"),
    ("indices and n_subsamples", lambda b: pa.principal_persistence(X, 0, indices=np.array([[0, 1]]), n_subsamples=3, backend=b),
     ValueError, "exactly one of n_subsamples and indices"),
    # samples and upstream gradients
    ("not a sample", lambda b: pa.mmd((1, 2), SAMPLE, bandwidth=0.2, backend=b), TypeError, "P must be a PersistenceSample"),
    ("q mismatch", lambda b: pa.mmd(SAMPLE, pa.principal_persistence(X, 0, n_subsamples=4, rng=0), bandwidth=0.2, backend=b),
     ValueError, "same homology dimension"),
    ("vjp shape", lambda b: pa.persistence_vjp(X, SAMPLE, np.ones(3), np.ones(10), backend=b), ValueError, "grad_birth must have shape"),
    ("vjp cloud", lambda b: pa.persistence_vjp(Y, SAMPLE, np.ones(10), np.ones(10), backend=b), ValueError,
     "sample was computed from a cloud of 20 points"),
    # hand-built samples: never read or scattered out of bounds
    ("edge beyond the cloud", vjp(birth_edge=np.full((10, 2), 99)), ValueError, "sample.birth_edge must lie in [0, 20)"),
    ("negative edge", vjp(death_edge=np.full((10, 2), -1)), ValueError, "sample.death_edge must lie in [0, 20)"),
    ("float edges", vjp(death_edge=np.zeros((10, 2))), TypeError, "sample.death_edge must have an integer dtype"),
    ("edge shape", vjp(birth_edge=np.zeros((10, 3), dtype=np.int64)), ValueError, "sample.birth_edge must have shape (10, 2)"),
    ("lifetime shape", vjp(lifetime=np.ones(9)), ValueError, "sample.lifetime must have the shape of sample.birth"),
    ("negative mass", vjp(mass=-np.ones(10)), ValueError, "sample.mass must be finite and non-negative"),
    ("NaN birth", vjp(birth=np.full(10, np.nan)), ValueError, "sample.birth and sample.lifetime must be finite"),
    ("negative lifetime", vjp(lifetime=-np.ones(10)), ValueError, "sample.lifetime must be non-negative"),
    ("list field", vjp(mass=[0.1] * 10), TypeError, "sample.mass must be an array"),
    ("sample q", vjp(q=-1), ValueError, "sample.q must be a non-negative integer"),
    ("mmd negative mass", lambda b: pa.mmd(SAMPLE._replace(mass=-SAMPLE.mass), SAMPLE, bandwidth=0.2, backend=b),
     ValueError, "P.mass must be finite and non-negative"),
    ("mmd mixed dtypes", lambda b: pa.mmd(SAMPLE, SAMPLE._replace(birth=SAMPLE.birth.astype(np.float32)),
                                         bandwidth=0.2, backend=b), TypeError, "Q.lifetime must have the dtype of Q.birth"),
    # other arguments
    ("rng garbage with indices", lambda b: pa.principal_persistence(X, 0, indices=np.array([[0, 1]]), rng="garbage",
                                                                    backend=b), TypeError, "rng must be None"),
    ("n_points float", lambda b: pa.subsample_indices(2.0, 0, 3), TypeError, "n_points must be a positive integer"),
    ("n_points zero", lambda b: pa.subsample_indices(0, 0, 3), ValueError, "n_points must be a positive integer"),
    ("check_finite", reg(check_finite="no"), TypeError, "check_finite must be True or False"),
    ("exact too large", lambda b: pa.exact_principal_persistence(np.zeros((200, 2)), 2, backend=b), ValueError, "use principal_persistence"),
]


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_refused_with_a_named_argument(case, backend):
    _, call, error, message = case
    with pytest.raises(error, match=re.escape(message)):
        call(backend)


def test_namespaces_and_devices_must_match():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="X and Y must come from the same array library"):
        pa.ppm_reg(X, torch.asarray(Y), bandwidth=0.2)


def test_a_sample_from_another_library_is_named():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=re.escape("sample.birth must be an array of the library of the other inputs")):
        pa.persistence_vjp(torch.asarray(X), SAMPLE, torch.ones(10), torch.ones(10))
    torch_sample = pa.principal_persistence(torch.asarray(X), 1, n_subsamples=10, rng=0)
    with pytest.raises(TypeError, match=re.escape("Q.birth must be an array of the library of the other inputs")):
        pa.mmd(torch_sample, SAMPLE, bandwidth=0.2)
    with pytest.raises(TypeError, match=re.escape("grad_birth must be an array of the library of X")):
        pa.persistence_vjp(torch.asarray(X), torch_sample, np.ones(10), torch.ones(10))


def test_numba_backend_refuses_arrays_numpy_cannot_view():
    """CPU tensors reach the Numba kernels as NumPy views (tests/test_namespaces.py); bfloat16, which NumPy
    lacks, cannot, and backend='numba' says so."""
    torch = pytest.importorskip("torch")
    X16, Y16 = (torch.asarray(a, dtype=torch.bfloat16) for a in (X, Y))
    with pytest.raises(ValueError, match="backend='numba' needs NumPy or CuPy arrays, or CPU arrays that NumPy"):
        pa.ppm_reg(X16, Y16, bandwidth=0.2, backend="numba")

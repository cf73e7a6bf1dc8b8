"""Numba CPU kernels against the Array-API reference."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import ppm_array as pa
from builders import blob_and_circle
from numba import njit
from ppm_array._backends import _fastmath, array_api, numba_cpu
from ppm_array._backends.contract import KernelPoints


@st.composite
def cloud_and_indices(draw):
    q = draw(st.sampled_from([0, 1, 2]))
    n_points = draw(st.integers(1, 30))
    d = draw(st.integers(1, 5))
    X = draw(arrays(np.float64, (n_points, d), elements=st.floats(-1, 1, allow_subnormal=False)))
    X *= 10.0 ** draw(st.floats(-3, 3))
    s = draw(st.integers(1, 60))
    indices = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, n_points, size=(s, 2 * q + 2))
    return X, q, indices


def edge_lengths(X, edges):
    return np.linalg.norm(X[edges[:, 0]] - X[edges[:, 1]], axis=1)


@given(case=cloud_and_indices())
def test_persistence_and_vjp_equal_reference(case):
    X, q, indices = case
    ref = pa.principal_persistence(X, q, indices=indices, backend="array_api")
    fast = pa.principal_persistence(X, q, indices=indices, backend="numba")
    scale = max(float(np.abs(X).max()), 1e-300)
    for field in ("birth", "lifetime"):
        np.testing.assert_allclose(getattr(fast, field), getattr(ref, field), rtol=1e-12, atol=1e-13 * scale)
    for field in ("birth_edge", "death_edge"):
        np.testing.assert_allclose(edge_lengths(X, getattr(fast, field)), edge_lengths(X, getattr(ref, field)),
                                   rtol=1e-12, atol=1e-13 * scale)
    upstream = np.random.default_rng(0).normal(size=(2, indices.shape[0]))
    grad_ref = pa.persistence_vjp(X, ref, *upstream, backend="array_api")
    grad_fast = pa.persistence_vjp(X, ref, *upstream, backend="numba")
    np.testing.assert_allclose(grad_fast, grad_ref, rtol=1e-12, atol=1e-12 * max(np.abs(grad_ref).max(), 1e-300))


def scatter_case(seed: int = 0):
    """A float64 cloud, edges between its rows (some of a point with itself), and float64 upstream gradients."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20, 2))
    edges = np.concatenate([rng.integers(0, 20, size=(50, 2)), [[3, 3]]])
    return X, edges, rng.normal(size=edges.shape[0])


@pytest.mark.parametrize("backend", [array_api, numba_cpu], ids=["array_api", "numba_cpu"])
def test_scatter_of_a_wider_upstream_is_in_the_clouds_dtype(backend):
    """PPM-Reg hands the VJP its upstream gradients in the moments' dtype, float64 for a float32 cloud on the
    Numba backend and with the Fourier method: the scatter's result is still float32 (the contract), and equals
    the float64 scatter of the same float32 coordinates to float32's precision."""
    X, edges, upstream = scatter_case()
    X32 = X.astype(np.float32)
    grad = backend.scatter_edges(X32, edges, upstream, xp=np)
    assert grad.dtype == np.float32 and grad.shape == X.shape
    expected = array_api.scatter_edges(X32.astype(np.float64), edges, upstream, xp=np)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("dtype, exponents", [(np.float32, (-40, 36)), (np.float64, (-300, 300))])
def test_every_backend_measures_distances_alike(dtype, exponents):
    """One distance contract, one algorithm (docs/math.md, "Distances"): the reference and the compiled kernels
    give the same persistence, bit for bit, from the smallest to the largest coordinates of each dtype (``d < 8``,
    where both sum the squares in the same order)."""
    rng = np.random.default_rng(5)
    features = [0, 0, 0]
    for exponent in np.linspace(*exponents, 13):
        for q, d in ((0, 1), (0, 7), (1, 2), (1, 5), (2, 3)):
            X = rng.normal(size=(12, d))
            indices = rng.integers(0, 12, size=(200, 2 * q + 2))
            if q == 2:  # features of q = 2 need an octahedron: its six vertices, jittered, in every order
                X[:6] = np.concatenate([np.eye(3), -np.eye(3)]) + 0.05 * rng.normal(size=(6, 3))
                indices = rng.permuted(np.tile(np.arange(6), (200, 1)), axis=1)
            X = (X * 10.0**exponent).astype(dtype)
            ref = pa.principal_persistence(X, q, indices=indices, backend="array_api")
            fast = pa.principal_persistence(X, q, indices=indices, backend="numba")
            np.testing.assert_array_equal(fast.birth, ref.birth)
            np.testing.assert_array_equal(fast.lifetime, ref.lifetime)
            features[q] += int((ref.lifetime > 0).sum())
    assert min(features) > 0, features  # every dimension compared some features


@given(case=cloud_and_indices(), threads=st.sampled_from([1, 2]))
def test_feature_persistence_is_persistence_of_the_rows_with_a_feature(case, threads):
    """Both backends' ``feature_persistence``: the compacting kernel (chunks that each write their features
    from their first row on) against a selection of the full result."""
    X, q, indices = case
    full = array_api.persistence(X, indices, q, xp=np)
    rows = np.flatnonzero(full[1] > 0)
    for module in (array_api, numba_cpu):
        numba.set_num_threads(threads)
        try:
            got = module.feature_persistence(X, indices, q, xp=np)
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        np.testing.assert_array_equal(got[4], rows)
        scale = max(float(np.abs(X).max()), 1e-300)
        for got_field, want in zip(got[:2], full[:2]):
            np.testing.assert_allclose(got_field, want[rows], rtol=1e-12, atol=1e-13 * scale)
        for got_edges, want in zip(got[2:4], full[2:4]):
            np.testing.assert_allclose(edge_lengths(X, got_edges), edge_lengths(X, want[rows]), rtol=1e-12,
                                       atol=1e-13 * scale)


def test_feature_persistence_of_many_subsamples_in_chunks():
    """10^5 subsamples of q = 1 (a few percent with a feature) across all chunks of the kernel."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2))
    indices = rng.integers(0, 300, size=(10**5, 4))
    full = numba_cpu.persistence(X, indices, 1, xp=np)
    rows = np.flatnonzero(full[1] > 0)
    got = numba_cpu.feature_persistence(X, indices, 1, xp=np)
    assert 0 < rows.size < indices.shape[0] // 10
    np.testing.assert_array_equal(got[4], rows)
    for got_field, want in zip(got[:4], full):
        np.testing.assert_array_equal(got_field, want[rows])


@st.composite
def kernel_point_sets(draw):
    """Two point sets for the moment kernels: float32 or float64; sizes around the tile sides (64 to 512) and
    the SIMD widths; births all 0 (q = 0, the one-dimensional loop) or not; none, some or all collapsed."""
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    planar = draw(st.booleans())

    def one_set():
        s = draw(st.one_of(st.integers(1, 40), st.sampled_from([63, 64, 65, 127, 129, 511, 513, 1100])))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        collapsed = rng.random(s) < draw(st.sampled_from([0.0, 0.3, 0.97, 1.0]))
        lifetime = np.where(collapsed, 0.0, rng.uniform(0, 2, s))
        birth = rng.uniform(0, 3, s) if planar else np.zeros(s)
        mass = np.full(s, 1 / s)
        return KernelPoints(*(a.astype(dtype) for a in (birth, lifetime, mass * lifetime)))

    return one_set(), one_set(), dtype


@given(sets=kernel_point_sets(), bandwidth=st.floats(0.05, 2))
def test_moment_kernels_equal_the_slow_reference(sets, bandwidth):
    """Within- and cross-moments of the tiled kernels against the dense Array-API reference in float64."""
    A, B, dtype = sets
    inv_two_h2 = np.asarray(1 / (2 * bandwidth**2), dtype=dtype)
    as64 = [KernelPoints(*(a.astype(np.float64) for a in S)) for S in (A, B)]
    for same_set in (True, False):
        got = numba_cpu.pair_moments(A, A if same_set else B, same_set=same_set, inv_two_h2=inv_two_h2, xp=np)
        want = array_api.pair_moments(as64[0], as64[0] if same_set else as64[1], same_set=same_set,
                                      inv_two_h2=np.float64(inv_two_h2), xp=np)
        for side, (moments, expected, S) in enumerate(zip(got, want, (A, A if same_set else B))):
            alive = S.v > 0  # the contract leaves moments of weight-0 points to the backend
            # Each moment is a sum of terms bounded by sum_j v_j (times a distance of at most 5 for mb, ml).
            scale = float(np.sum((A if side else (A if same_set else B)).v, dtype=np.float64)) * 5 + 1e-300
            tolerance = (1e-12 if dtype == np.float64 else 2e-6) * scale
            for got_moment, want_moment in zip(moments, expected):
                assert got_moment.dtype == np.float64
                np.testing.assert_allclose(got_moment[alive], want_moment[alive], rtol=0, atol=tolerance)


def test_moment_memory_does_not_grow_with_the_thread_count(tmp_path):
    """64 threads on a set of 65,536 points (the rounds schedule): the extra memory stays O(s) (tile scratch
    per task, no per-thread copies of the moments), measured as the peak resident memory of a fresh process."""
    code = """
import resource, sys
import numpy as np, numba
from ppm_array._backends import numba_cpu
from ppm_array._backends.contract import KernelPoints
numba_cpu.threads.thread_limit = lambda: None  # every thread, even beyond this machine's cores
s = 2**16
rng = np.random.default_rng(0)
A = KernelPoints(np.zeros(s, np.float32), rng.uniform(0.1, 1, s).astype(np.float32), np.full(s, 1 / s, np.float32))
numba_cpu.moment_kernels.within_rounds_kernel(*(a[:64] for a in A), np.float32(1), 64, False, np.zeros((3, 64)))  # compile first
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
numba_cpu.pair_moments(A, A, same_set=True, inv_two_h2=np.float32(1), xp=np)
print(numba.get_num_threads(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "NUMBA_NUM_THREADS": "64"})
    threads, growth_kib = map(int, result.stdout.split())
    assert threads == 64
    # Per-thread moment buffers of length s would take 64 * 3 * s * 8 bytes = 96 MiB here.
    assert growth_kib * 1024 < 16 * 2**20


@pytest.mark.parametrize("dims", [(0, 1), (0, 1, 2)])
def test_ppm_reg_equals_reference(dims):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(200, 3)), 0.7 * rng.normal(size=(150, 3))
    options = dict(bandwidth=0.3, dims=dims, n_subsamples=900, rng=1)
    ref = pa.ppm_reg_value_and_grad(X, Y, backend="array_api", **options)
    fast = pa.ppm_reg_value_and_grad(X, Y, backend="numba", **options)
    assert float(fast[0]) == pytest.approx(float(ref[0]), rel=1e-12)
    for got, want in zip(fast[1:], ref[1:]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_same_seed_is_bitwise_reproducible():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    first = pa.ppm_reg_value_and_grad(X, Y, bandwidth=0.2, n_subsamples=2000, rng=5, backend="numba")
    second = pa.ppm_reg_value_and_grad(X, Y, bandwidth=0.2, n_subsamples=2000, rng=5, backend="numba")
    for a, b in zip(first, second):
        assert np.array_equal(a, b)


def test_float32_gradients_within_1e3_of_float64():
    X, Y = blob_and_circle(512, 512, 0, noise=0.01)
    options = dict(bandwidth=np.sqrt(0.05), weights=(1, 6000), n_subsamples=2048, rng=0, backend="numba")
    value64, grad64, _ = pa.ppm_reg_value_and_grad(X, Y, **options)
    value32, grad32, _ = pa.ppm_reg_value_and_grad(X.astype(np.float32), Y.astype(np.float32), **options)
    assert grad32.dtype == np.float32 and value32.dtype == np.float32
    assert float(value32) == pytest.approx(float(value64), rel=1e-3)
    assert np.linalg.norm(grad32 - grad64) <= 1e-3 * np.linalg.norm(grad64)


@pytest.mark.parametrize("dtype, cutoff, tolerance", [(np.float64, 512.5, 3.4e-16), (np.float32, 64.5, 1.2e-7)])
def test_polynomial_power_of_two_is_accurate_as_compiled_in_the_kernels(dtype, cutoff, tolerance):
    """``exp2_neg`` inlined into a loop compiled with the kernels' fastmath flags, as the moment kernels use it:
    within about one ulp of ``2^-y`` up to the cutoff, exactly 0 above it (the kernels' products of weights and
    kernel values stay clear of subnormal numbers), and exactly 1 at 0."""

    @njit(fastmath=numba_cpu.moment_kernels._VECTORISE)
    def evaluate(y, out):
        for i in range(y.shape[0]):
            out[i] = _fastmath.exp2_neg(y[i])

    edges = [0.0, 1e-30, np.nextafter(cutoff, 0), cutoff, np.nextafter(cutoff, np.inf), 1e30, np.inf]
    y = np.concatenate([np.linspace(0, cutoff + 12, 400_001), np.random.default_rng(0).uniform(0, 60, 200_000),
                        edges]).astype(dtype)
    out = np.empty_like(y)
    evaluate(y, out)
    assert out.dtype == dtype
    expected = np.exp2(-y.astype(np.float64))
    kept = y <= cutoff
    assert np.max(np.abs(out[kept] - expected[kept]) / expected[kept]) < tolerance
    assert np.all(out[kept] >= np.finfo(dtype).tiny)
    assert np.all(out[~kept] == 0.0)
    assert out[y == 0].tolist() == [1.0, 1.0]


def test_kernel_values_below_the_flush_are_zero_in_float32_only():
    """Two points whose kernel value is 2^-100 (``y = 100``): float64 keeps it, float32 drops it (below 2^-64.5,
    where its products with weights would approach the subnormal numbers), and a pair at 2^-60 is kept in both."""
    for y, kept_in_float32 in ((100.0, False), (60.0, True)):
        distance = np.sqrt(y / np.log2(np.e) * 2.0)  # exp(-d^2 / 2) = 2^-y with 1 / (2 h^2) = 1/2
        moments = {}
        for dtype in (np.float32, np.float64):
            points = KernelPoints(np.zeros(2, dtype), np.array([1.0, 1.0 + distance], dtype), np.full(2, 0.5, dtype))
            m, _ = numba_cpu.pair_moments(points, points, same_set=True, inv_two_h2=np.asarray(0.5), xp=np)
            moments[dtype] = m.m0
        assert moments[np.float64] == pytest.approx(0.5 * 2.0**-y, rel=1e-6)
        if kept_in_float32:
            assert moments[np.float32] == pytest.approx(0.5 * 2.0**-y, rel=1e-5)
        else:
            assert np.all(moments[np.float32] == 0.0)


def test_every_memory_layout_uses_the_same_compiled_kernels():
    """Fortran-ordered, strided and read-only clouds are brought to C order at the boundary: no new
    specialisation (each would cost a compilation of several seconds)."""
    X, Y = blob_and_circle(2100, 30, seed=2)  # X large enough for the compiled finite check
    options = dict(bandwidth=0.3, n_subsamples=200, rng=0, backend="numba")
    pa.ppm_reg_value_and_grad(X, Y, **options)
    kernels = [numba_cpu.finite_check.finite_kernel, numba_cpu.persistence_kernels.persistence_kernel,
               numba_cpu.moment_kernels.within_chunks_kernel, numba_cpu.scatter_kernels.scatter_private_kernel]
    compiled = [len(kernel.signatures) for kernel in kernels]
    read_only = X.copy()
    read_only.flags.writeable = False
    for cloud in (np.asfortranarray(X), np.repeat(X, 2, axis=1)[:, ::2], read_only):
        pa.ppm_reg_value_and_grad(cloud, Y, **options)
    assert [len(kernel.signatures) for kernel in kernels] == compiled


@pytest.mark.parametrize("n_entries", [1, 4095, 4096, 100_003])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, None])
def test_finite_check_finds_every_bad_entry(n_entries, bad):
    """NumPy's check for small clouds, the chunked kernel for large ones: both agree with ``np.isfinite`` for a
    bad entry first, in the middle or last, and for none (also for the largest finite numbers)."""
    for dtype in (np.float32, np.float64):
        X = np.full(n_entries, np.finfo(dtype).max, dtype=dtype)
        X[::2] *= -1
        positions = [None] if bad is None else sorted({0, n_entries // 2, n_entries - 1})
        for position in positions:
            cloud = X.copy()
            if position is not None:
                cloud[position] = bad
            cloud = cloud.reshape(-1, 1)
            assert numba_cpu.all_finite(cloud, xp=np) == bool(np.all(np.isfinite(cloud)))


@pytest.fixture
def threads_unset(monkeypatch, tmp_path):
    """No thread count in the environment, no cgroup files, and no cached limit: each test sets its own."""
    from ppm_array._backends import _cores

    for name in (_cores.ENVIRONMENT, "NUMBA_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_cores, "CGROUP_V2_MAX", str(tmp_path / "absent" / "cpu.max"))
    monkeypatch.setattr(_cores, "CGROUP_V1_DIRECTORIES", (str(tmp_path / "absent"),))
    monkeypatch.setattr(_cores, "_last", {"when": -float("inf"), "limit": None})
    return _cores


@pytest.mark.parametrize("content, cores", [("100000 100000\n", 1), ("150000 100000\n", 2), ("50000 100000", 1),
                                            ("max 100000\n", None)])
def test_cgroup_v2_quota_limits_the_threads(threads_unset, tmp_path, monkeypatch, content, cores):
    """A container whose quota is one CPU runs one thread, however idle the host looks; without a quota
    (``max``) the free-core count decides."""
    _cores = threads_unset
    (tmp_path / "cpu.max").write_text(content)
    monkeypatch.setattr(_cores, "CGROUP_V2_MAX", str(tmp_path / "cpu.max"))
    monkeypatch.setattr(_cores, "free_cores", lambda: 7)  # other tenants' load does not count within a quota
    assert _cores.cgroup_cores() == cores
    assert _cores.thread_limit() == (7 if cores is None else cores)
    if cores == 1:
        assert numba_cpu.threads.threads_for(float("inf")) == 1


@pytest.mark.parametrize("quota, cores", [("200000", 2), ("250000", 3), ("-1", None)])
def test_cgroup_v1_quota_limits_the_threads(threads_unset, tmp_path, monkeypatch, quota, cores):
    _cores = threads_unset
    directory = tmp_path / "cpu,cpuacct"
    directory.mkdir()
    (directory / "cpu.cfs_quota_us").write_text(quota + "\n")
    (directory / "cpu.cfs_period_us").write_text("100000\n")
    monkeypatch.setattr(_cores, "CGROUP_V1_DIRECTORIES", (str(tmp_path / "cpu"), str(directory)))
    monkeypatch.setattr(_cores, "free_cores", lambda: 5)
    assert _cores.cgroup_cores() == cores
    assert _cores.thread_limit() == (5 if cores is None else cores)


def test_thread_count_from_the_environment(threads_unset, tmp_path, monkeypatch):
    """PPM_ARRAY_NUM_THREADS, else NUMBA_NUM_THREADS, is the user's choice: it overrides the quota and the load,
    and the kernels never use more threads than it."""
    _cores = threads_unset
    (tmp_path / "cpu.max").write_text("400000 100000\n")
    monkeypatch.setattr(_cores, "CGROUP_V2_MAX", str(tmp_path / "cpu.max"))
    monkeypatch.setattr(_cores, "free_cores", lambda: 0)
    assert _cores.thread_limit() == 4
    monkeypatch.setenv("NUMBA_NUM_THREADS", "3")
    assert _cores.thread_limit() == 3
    monkeypatch.setenv("PPM_ARRAY_NUM_THREADS", " 1 ")
    assert _cores.thread_limit() == 1
    assert numba_cpu.threads.threads_for(float("inf")) == 1


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5", ""])
def test_malformed_ppm_array_num_threads_is_refused(threads_unset, monkeypatch, text):
    import ppm_array as pa

    monkeypatch.setenv("PPM_ARRAY_NUM_THREADS", text)
    with pytest.raises(ValueError, match="PPM_ARRAY_NUM_THREADS must be a positive integer"):
        threads_unset.thread_limit()
    X = np.random.default_rng(0).normal(size=(16, 2))
    with pytest.raises(ValueError, match="PPM_ARRAY_NUM_THREADS must be a positive integer"):
        pa.ppm_reg_value_and_grad(X, X, bandwidth=0.2, n_subsamples=16, rng=0)


@pytest.mark.parametrize("n_points, n_subsamples", [(16, 16), (512, 4096)])
def test_a_call_sets_numbas_thread_count_at_most_twice_and_restores_it(monkeypatch, n_points, n_subsamples):
    """Within a call the thread count is set only where a kernel wants another than the last (a small call: to one
    thread, and back at the end), and the caller finds Numba's count as it left it."""
    import ppm_array as pa

    X, Y = blob_and_circle(n_points, n_points, seed=3)
    pa.ppm_reg_value_and_grad(X, Y, bandwidth=0.3, n_subsamples=n_subsamples, rng=0)  # compiled beforehand
    before = numba.get_num_threads()
    counts = []
    monkeypatch.setattr(numba_cpu.threads.numba, "set_num_threads", lambda n: (counts.append(n), _set(n)))
    pa.ppm_reg_value_and_grad(X, Y, bandwidth=0.3, n_subsamples=n_subsamples, rng=0)
    assert numba.get_num_threads() == before
    if before > 1 and n_points == 16:
        assert counts == [1, before]  # every kernel of a small call on the calling thread
    assert all(a != b for a, b in zip(counts, counts[1:]))  # never set to the count it already has
    assert not counts or counts[-1] == before


_set = numba.set_num_threads

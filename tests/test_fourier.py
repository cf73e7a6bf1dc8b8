"""The Fourier method (``method="fft"``) against the direct sums, which stay the oracle.

The error bound of ``docs/math.md``: the MMD within ``tol * S^2`` and each sample's
gradient within ``tol * G`` of the direct sums, where ``S`` is the total weight
``sum |v|`` of both samples and ``G = 2 S |mass |w'| + 2 |v| / h|`` (the scale of
the gradient's terms), each divided by ``1 - sum a^2`` for the unbiased estimator.
Where nothing cancels (most inputs) this is a relative error of about ``tol``.
"""

from __future__ import annotations

import sys
import types
import warnings

import numpy as np
import pytest
from builders import blob_and_circle, hand_sample

from hypothesis import given
from hypothesis import strategies as st

import ppm_array as pa
from ppm_array._mmd import fourier as _fourier
from ppm_array._mmd.method import FOURIER_CROSSOVER
from ppm_array._backends import _nufft
from ppm_array._boundary import namespace as _namespace
from ppm_array._boundary.namespace import has_float64
from ppm_array._mmd.fourier import MAX_MODES, decay_radius, design_grid
from ppm_array._boundary.namespace import to_numpy

TOLS = (1e-3, 1e-6, 1e-10)


def draw_points(rng, n: int, layout: str, spread: float, planar: bool, collapsed: float):
    """``(birth, lifetime)`` of ``n`` points: ``spread`` is the range over the bandwidth 1."""
    if layout == "ties":  # a few distinct points, each repeated
        distinct = rng.uniform(0, spread, size=(2, max(1, n // 5)))
        points = distinct[:, rng.integers(0, distinct.shape[1], n)]
    elif layout == "clustered":  # two tight clusters far apart
        centres = rng.uniform(0, spread, size=(2, 2))
        points = centres[:, rng.integers(0, 2, n)] + 0.01 * rng.normal(size=(2, n))
    else:
        points = rng.uniform(0, spread, size=(2, n))
    birth, lifetime = np.abs(points[0]) * planar, np.abs(points[1])
    lifetime[rng.random(n) < collapsed] = 0.0
    return birth, lifetime


@st.composite
def sample_pairs(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    layout = draw(st.sampled_from(["uniform", "clustered", "ties"]))
    spread = 10.0 ** draw(st.floats(-2.0, 3.0))
    planar, collapsed = draw(st.booleans()), draw(st.sampled_from([0.0, 0.3]))
    samples = []
    for n in (draw(st.integers(2, 300)), draw(st.integers(2, 300))):
        mass = rng.dirichlet(np.ones(n)) if draw(st.booleans()) else None
        samples.append(hand_sample(*draw_points(rng, n, layout, spread, planar, collapsed), mass))
    return samples


def error_scales(P, Q, bandwidth: float, weight_power: float, unbiased: bool):
    """``(S^2, G_P, G_Q)`` of the module docstring."""
    weights = [S.mass * S.lifetime**weight_power for S in (P, Q)]
    total = sum(np.sum(np.abs(v)) for v in weights)
    factors = [1.0 / (1.0 - np.sum(S.mass**2)) if unbiased else 1.0 for S in (P, Q)]
    gradients = []
    for S, v, factor in zip((P, Q), weights, factors):
        slope = np.where(S.lifetime > 0, weight_power * S.lifetime ** (weight_power - 1), weight_power == 1.0)
        gradients.append(2.0 * total * factor * np.linalg.norm(S.mass * slope + 2.0 * np.abs(v) / bandwidth))
    return total * total * max(factors), *gradients


def assert_within_bound(P, Q, tol, *, bandwidth=1.0, weight_power=1.0, estimator="v", backend="numba",
                        slack=1.0, to_host=np.asarray):
    options = dict(bandwidth=bandwidth, weight_power=weight_power, estimator=estimator, backend=backend)
    direct = pa.mmd_value_and_grad(P, Q, method="direct", **options)
    fourier = pa.mmd_value_and_grad(P, Q, method="fft", tol=tol, **options)
    value_scale, *grad_scales = error_scales(*(host_sample(S, to_host) for S in (P, Q)), bandwidth, weight_power,
                                             estimator == "u")
    assert abs(float(fourier[0]) - float(direct[0])) <= slack * tol * value_scale
    for got, want, scale in zip(fourier[1:], direct[1:], grad_scales):
        difference = np.concatenate([to_host(g) - to_host(w) for g, w in zip(got, want)])
        assert np.linalg.norm(difference) <= slack * tol * scale


def host_sample(S, to_host):
    return S._replace(**{name: to_host(getattr(S, name)) for name in ("birth", "lifetime", "mass")})


# The bound is what docs/math.md promises; the method does better. Over 150 random draws of these samples with
# each tol, estimator and weight power (1,800 comparisons) the largest error was 0.06 of the bound, so the test holds
# the errors to a quarter of it: a margin of 4 over that worst case, which a coarser grid or a less precise NUFFT
# (errors growing like exp(-tau^2 / 2) as the grid shrinks) would exceed.
BOUND_FRACTION = 0.25


@given(samples=sample_pairs(), tol=st.sampled_from(TOLS), estimator=st.sampled_from(["v", "u"]),
       weight_power=st.sampled_from([1.0, 2.5]))
def test_fft_equals_direct_within_tol(samples, tol, estimator, weight_power):
    assert_within_bound(*samples, tol, estimator=estimator, weight_power=weight_power, slack=BOUND_FRACTION)


def test_a_coarser_grid_breaks_the_margin(monkeypatch):
    """The margin notices a real loss of accuracy: with the grid cut to 0.7 of its decay radius the gradients'
    errors reach half the bound (measured: 0.50 and 0.51; 2e-5 with the full grid), which the bound alone
    lets pass."""
    rng = np.random.default_rng(4)
    P, Q = (hand_sample(*draw_points(rng, n, "uniform", 20.0, True, 0.0)) for n in (200, 150))
    radius = _fourier.decay_radius
    monkeypatch.setattr(_fourier, "decay_radius", lambda tol: 0.7 * radius(tol))
    with pytest.raises(AssertionError):
        assert_within_bound(P, Q, 1e-6, slack=BOUND_FRACTION)


def test_fft_relative_error_where_nothing_cancels():
    """Two different samples, range 300 bandwidths: the value and each gradient to ``tol`` relative."""
    rng = np.random.default_rng(3)
    P = hand_sample(*draw_points(rng, 2000, "uniform", 300.0, True, 0.0))
    Q = hand_sample(*draw_points(rng, 1500, "uniform", 200.0, True, 0.0))
    direct = pa.mmd_value_and_grad(P, Q, bandwidth=1.0, method="direct")
    for tol in TOLS:
        fourier = pa.mmd_value_and_grad(P, Q, bandwidth=1.0, method="fft", tol=tol)
        assert abs(fourier[0] - direct[0]) <= tol * abs(direct[0])
        for got, want in zip(fourier[1:], direct[1:]):
            assert np.linalg.norm(np.stack(got) - np.stack(want)) <= tol * np.linalg.norm(np.stack(want))


@pytest.mark.parametrize("estimator", ["v", "u"])
def test_fft_root_equals_direct_root(estimator):
    """``squared=False``: the root of the same MMD (P and Q apart, so the root is well conditioned)."""
    rng = np.random.default_rng(4)
    P = hand_sample(*draw_points(rng, 400, "clustered", 30.0, True, 0.3))
    Q = hand_sample(*draw_points(rng, 300, "uniform", 30.0, True, 0.3))
    options = dict(bandwidth=2.0, estimator=estimator, squared=False)
    direct = pa.mmd_value_and_grad(P, Q, method="direct", **options)
    fourier = pa.mmd_value_and_grad(P, Q, method="fft", tol=1e-10, **options)
    assert fourier[0] == pytest.approx(direct[0], rel=1e-9)
    for got, want in zip(fourier[1:], direct[1:]):
        np.testing.assert_allclose(np.stack(got), np.stack(want), rtol=0, atol=1e-9 * np.abs(np.stack(want)).max())


@pytest.mark.parametrize("q", [0, 1, 2])
def test_fft_on_exact_ppms_with_masses(q):
    X, Y = blob_and_circle(9, 8, seed=2, noise=0.05)
    P, Q = pa.exact_principal_persistence(X, q), pa.exact_principal_persistence(Y, q)
    assert_within_bound(P, Q, 1e-8, bandwidth=0.2)


def test_float32_within_float32s_own_error():
    rng = np.random.default_rng(5)
    P = hand_sample(*draw_points(rng, 500, "uniform", 20.0, True, 0.3))
    Q = hand_sample(*draw_points(rng, 400, "clustered", 20.0, True, 0.3))
    single = [S._replace(**{k: getattr(S, k).astype(np.float32) for k in ("birth", "lifetime", "mass")}) for S in (P, Q)]
    oracle = [S._replace(**{k: getattr(S, k).astype(np.float64) for k in ("birth", "lifetime", "mass")}) for S in single]
    value_scale, *grad_scales = error_scales(*oracle, 1.0, 1.0, False)
    truth = pa.mmd_value_and_grad(*oracle, bandwidth=1.0, method="direct")
    for method in ("fft", "direct"):
        got = pa.mmd_value_and_grad(*single, bandwidth=1.0, method=method)
        assert got[0].dtype == np.float32 and got[1][0].dtype == np.float32
        assert abs(float(got[0]) - truth[0]) <= 1e-5 * value_scale
        for grads, want, scale in zip(got[1:], truth[1:], grad_scales):
            assert np.linalg.norm(np.stack(grads) - np.stack(want)) <= 1e-5 * scale


def test_fft_in_every_namespace(xp):
    """The explicit sums over the grid in Array-API calls (no NUFFT library) in each namespace."""
    rng = np.random.default_rng(6)
    samples = [hand_sample(*draw_points(rng, n, "uniform", 20.0, True, 0.3)) for n in (40, 30)]
    moved = [S._replace(**{k: xp.asarray(getattr(S, k)) for k in ("birth", "lifetime", "mass", "birth_edge",
                                                                   "death_edge")}) for S in samples]
    assert_within_bound(*moved, 1e-8, backend="array_api", to_host=to_numpy)


def test_explicit_sums_are_the_transforms():
    """Type 1 and type 2 of the explicit sums, against the definitions written out point by point."""
    rng = np.random.default_rng(7)
    angles = (rng.uniform(-np.pi, np.pi, 7), rng.uniform(-np.pi, np.pi, 7))
    strengths, modes = rng.normal(size=7), (6, 5)
    k = [np.arange(-(m // 2), m - m // 2) for m in modes]
    expected = np.array([[sum(c * np.exp(1j * (a * x + b * y)) for c, x, y in zip(strengths, *angles))
                          for b in k[1]] for a in k[0]])
    explicit = _nufft.Explicit(np, chunk_entries=20)  # several chunks
    np.testing.assert_allclose(explicit.type1(angles, strengths, modes), expected, rtol=1e-13, atol=1e-13)
    coefficients = rng.normal(size=(2, *modes)) + 1j * rng.normal(size=(2, *modes))
    expected = np.array([[np.sum(f * np.exp(1j * (k[0][:, None] * x + k[1][None, :] * y))) for x, y in zip(*angles)]
                         for f in coefficients])
    np.testing.assert_allclose(explicit.type2(angles, coefficients), expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dimension", [1, 2])
def test_finufft_equals_the_explicit_sums(dimension):
    pytest.importorskip("finufft")
    rng = np.random.default_rng(8)
    angles = tuple(rng.uniform(-np.pi, np.pi, 500) for _ in range(dimension))
    strengths, modes = rng.normal(size=500), (40, 31)[:dimension]
    coefficients = rng.normal(size=(2, *modes)) + 1j * rng.normal(size=(2, *modes))
    fast, explicit = _nufft.Finufft(1e-12, threads=2), _nufft.Explicit(np)
    for got, want in ((fast.type1(angles, strengths, modes), explicit.type1(angles, strengths, modes)),
                      (fast.type2(angles, coefficients), explicit.type2(angles, coefficients))):
        assert np.linalg.norm(got - want) <= 1e-11 * np.linalg.norm(want)


@pytest.mark.parametrize("dimension", [1, 2])
def test_finufft_type1_in_chunks_is_the_same_for_any_thread_count(monkeypatch, dimension):
    """Chunks of 2,000 points: 7 chunks, summed in order, bitwise the same on 1, 2 and 3 threads, and the
    explicit sums to FINUFFT's precision."""
    pytest.importorskip("finufft")
    monkeypatch.setattr(_nufft.Finufft, "CHUNK_POINTS", 2000)
    rng = np.random.default_rng(9)
    angles = tuple(rng.uniform(-np.pi, np.pi, 13_000) for _ in range(dimension))
    strengths, modes = rng.normal(size=13_000), (24, 15)[:dimension]
    grids = [_nufft.Finufft(1e-12, threads=threads).type1(angles, strengths, modes) for threads in (1, 2, 3)]
    for grid in grids[1:]:
        np.testing.assert_array_equal(grid, grids[0])
    want = _nufft.Explicit(np).type1(angles, strengths, modes)
    assert np.linalg.norm(grids[0] - want) <= 1e-11 * np.linalg.norm(want)


def test_without_a_nufft_library_the_explicit_sums_are_used(monkeypatch):
    """The ``fft`` extra is optional: without FINUFFT the Numba backend sums over the grid itself."""
    rng = np.random.default_rng(9)
    P, Q = (hand_sample(*draw_points(rng, n, "uniform", 10.0, True, 0.0)) for n in (50, 60))
    with_library = pa.mmd(P, Q, bandwidth=1.0, method="fft")
    monkeypatch.setattr(_nufft, "available", lambda module: False)
    from ppm_array._backends import numba_cpu

    monkeypatch.setattr(numba_cpu, "available", lambda module: False)
    assert isinstance(numba_cpu.fourier_transforms(1e-10, xp=np), _nufft.Explicit)
    assert float(pa.mmd(P, Q, bandwidth=1.0, method="fft")) == pytest.approx(float(with_library), rel=1e-9)


@pytest.fixture
def fresh_availability():
    """:func:`_nufft.available` decides once per process: forget its verdicts before and after the test."""
    _nufft.available.cache_clear()
    yield
    _nufft.available.cache_clear()


def install_fake(monkeypatch, tmp_path, name: str, source: str) -> None:
    """A package ``name`` with ``source`` as its ``__init__``, found before any installed one."""
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)


# cuFINUFFT 2.5.1's simple interface (cufinufft/_simple.py) and the options its Plan accepts (the fields of
# NufftOpts): any other keyword is a TypeError there too. The calls are recorded.
FAKE_CUFINUFFT = """
PLAN_OPTIONS = {"upsampfac", "gpu_method", "gpu_sort", "gpu_binsizex", "gpu_binsizey", "gpu_binsizez",
                "gpu_obinsizex", "gpu_obinsizey", "gpu_obinsizez", "gpu_maxsubprobsize", "gpu_kerevalmeth",
                "gpu_spreadinterponly", "gpu_maxbatchsize", "gpu_device_id", "gpu_stream", "modeord", "gpu_np",
                "debug"}
calls = []

def _plan(name, eps, isign, options):
    if set(options) - PLAN_OPTIONS:
        raise TypeError(f"Invalid option {sorted(set(options) - PLAN_OPTIONS)}")
    calls.append((name, dict(options, eps=eps, isign=isign)))
    return name

def nufft1d1(x, data, n_modes=None, out=None, eps=1e-6, isign=1, **kwargs):
    return _plan("nufft1d1", eps, isign, kwargs)

def nufft1d2(x, data, out=None, eps=1e-6, isign=-1, **kwargs):
    return _plan("nufft1d2", eps, isign, kwargs)

def nufft2d1(x, y, data, n_modes=None, out=None, eps=1e-6, isign=1, **kwargs):
    return _plan("nufft2d1", eps, isign, kwargs)

def nufft2d2(x, y, data, out=None, eps=1e-6, isign=-1, **kwargs):
    return _plan("nufft2d2", eps, isign, kwargs)
"""


def test_cufinufft_plans_on_the_callers_device_and_stream(monkeypatch, tmp_path, fresh_availability):
    """Every plan gets CuPy's current device and stream at the time of the call (cuFINUFFT's own defaults
    are device 0 and the legacy default stream). CuPy and cuFINUFFT are fakes here."""
    pytest.importorskip("numba")
    from ppm_array._backends import numba_cuda

    install_fake(monkeypatch, tmp_path, "cufinufft", FAKE_CUFINUFFT)
    preloaded = []  # the CUDA libraries cuFINUFFT links are loaded first, from the CUDA wheels
    monkeypatch.setattr(_nufft, "_load_linked_libraries", preloaded.append)
    stream = types.SimpleNamespace(ptr=0x7F00)
    cuda = types.SimpleNamespace(Device=lambda: types.SimpleNamespace(id=3), get_current_stream=lambda: stream)
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(cuda=cuda))
    transforms = numba_cuda.fourier_transforms(1e-10, xp=np)  # loads without a warning (warnings are errors)
    assert isinstance(transforms, _nufft.Cufinufft) and preloaded == ["cufinufft"]
    line, plane = (np.zeros(4),), (np.zeros(4), np.zeros(4))
    assert transforms.type1(line, np.ones(4), (6,)) == "nufft1d1"
    assert transforms.type2(line, np.ones((2, 6), dtype=complex)) == "nufft1d2"
    stream.ptr = 0x7F80  # the caller moved to another stream: the next plans follow it
    assert transforms.type1(plane, np.ones(4), (6, 5)) == "nufft2d1"
    assert transforms.type2(plane, np.ones((2, 6, 5), dtype=complex)) == "nufft2d2"
    calls = sys.modules["cufinufft"].calls
    assert [(name, options["gpu_device_id"], options["gpu_stream"]) for name, options in calls] == [
        ("nufft1d1", 3, 0x7F00), ("nufft1d2", 3, 0x7F00), ("nufft2d1", 3, 0x7F80), ("nufft2d2", 3, 0x7F80)]
    assert all(options["isign"] == 1 and options["eps"] == 1e-10 * _nufft._PRECISION_FACTOR for _, options in calls)


def test_a_cufinufft_that_does_not_load_counts_as_absent_with_one_warning(monkeypatch, tmp_path,
                                                                         fresh_availability):
    """An installed cuFINUFFT whose shared library does not load: the explicit sums (``"fft"``; ``"auto"``
    takes the direct sums on them, test_auto_picks_by_size_and_falls_back_to_direct), one warning a process."""
    pytest.importorskip("numba")
    from ppm_array._backends import numba_cuda

    install_fake(monkeypatch, tmp_path, "cufinufft",
                 'raise OSError("libcudart.so.12: cannot open shared object file: No such file or directory")')
    monkeypatch.setattr(_nufft, "_load_linked_libraries", lambda module: None)  # found: the import itself fails
    with pytest.warns(RuntimeWarning) as caught:
        chosen = [numba_cuda.fourier_transforms(1e-10, xp=np) for _ in range(3)]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("cuFINUFFT (the cufinufft package) is installed but does not load")
    assert message.endswith("OSError: libcudart.so.12: cannot open shared object file: No such file or directory")
    assert all(isinstance(transforms, _nufft.Explicit) for transforms in chosen)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not _nufft.available("cufinufft")


def test_a_cufinufft_whose_cuda_libraries_are_missing_counts_as_absent(monkeypatch, tmp_path, fresh_availability):
    install_fake(monkeypatch, tmp_path, "cufinufft", FAKE_CUFINUFFT)

    def missing(module):
        raise RuntimeError('Failure finding "libcufft.so.12 or libcufft.so.11"')

    monkeypatch.setattr(_nufft, "_load_linked_libraries", missing)
    with pytest.warns(RuntimeWarning, match="RuntimeError: Failure finding"):
        assert not _nufft.available("cufinufft")


def test_a_finufft_that_does_not_load_falls_back_with_one_warning(monkeypatch, tmp_path, fresh_availability):
    """The same on the CPU, end to end: ``"auto"`` gives the direct sums exactly, ``"fft"`` the explicit
    sums (within tol of them), and only the first call warns."""
    rng = np.random.default_rng(11)
    half = FOURIER_CROSSOVER[64] // 2 + 1  # "auto" would take the Fourier method with a NUFFT library
    P, Q = (hand_sample(*draw_points(rng, half, "uniform", 5.0, True, 0.0)) for _ in range(2))
    direct = pa.mmd_value_and_grad(P, Q, bandwidth=1.0, method="direct")
    install_fake(monkeypatch, tmp_path, "finufft", 'raise OSError("libgomp.so.1: cannot open shared object file")')
    with pytest.warns(RuntimeWarning, match=r"^FINUFFT \(the finufft package\) is installed but does not") as caught:
        auto = pa.mmd_value_and_grad(P, Q, bandwidth=1.0, method="auto")
        fourier = pa.mmd_value_and_grad(P, Q, bandwidth=1.0, method="fft", tol=1e-10)
    assert len(caught) == 1 and str(caught[0].message).endswith("OSError: libgomp.so.1: cannot open shared object file")
    assert same(auto, direct)
    assert float(fourier[0]) == pytest.approx(float(direct[0]), rel=1e-9)


def test_grid_size_follows_from_tol_range_and_bandwidth():
    """``M = 2 ceil(tau (R + h tau) / (2 pi h)) + 2`` per axis (docs/math.md): the range over the bandwidth and
    ``tol`` decide it, and a grid beyond ``MAX_MODES`` is refused."""
    for tol in TOLS:
        tau = decay_radius(tol)
        assert 2 * (2 * tau + 1) * np.exp(-tau * tau / 2) == pytest.approx(tol / 2, rel=1e-9)
        for width, bandwidth in ((10.0, 1.0), (1000.0, 10.0), (0.5, 0.01)):
            grid = design_grid((3.0,), (3.0 + width,), bandwidth, tol)
            assert grid.modes == (2 * int(np.ceil(tau * (width + bandwidth * tau) / (2 * np.pi * bandwidth))) + 2,)
            assert grid.spacing[0] == pytest.approx(2 * np.pi / (width + bandwidth * tau))
    assert design_grid((0.0,), (100.0,), 10.0, 1e-10).modes == design_grid((0.0,), (10.0,), 1.0, 1e-10).modes
    with pytest.raises(ValueError, match="use method='direct'"):
        design_grid((0.0, 0.0), (1e4, 1e4), 1.0, 1e-10)
    assert design_grid((0.0, 0.0), (1e3, 1e3), 1.0, 1e-10).modes[0] ** 2 <= MAX_MODES


def auto_and_methods(P, Q, **options):
    return [pa.mmd_value_and_grad(P, Q, method=method, **options) for method in ("auto", "direct", "fft")]


def same(a, b) -> bool:
    return float(a[0]) == float(b[0]) and all(np.array_equal(x, y) for g, h in zip(a[1:], b[1:]) for x, y in zip(g, h))


def test_auto_picks_by_size_and_falls_back_to_direct():
    rng = np.random.default_rng(10)
    few = [hand_sample(*draw_points(rng, n, "uniform", 20.0, True, 0.0)) for n in (100, 100)]
    auto, direct, _ = auto_and_methods(*few, bandwidth=1.0)
    assert same(auto, direct)
    half = FOURIER_CROSSOVER[64] // 2 + 1
    many = [hand_sample(*draw_points(rng, half, "uniform", 20.0, True, 0.0)) for _ in range(2)]
    auto, _, fourier = auto_and_methods(*many, bandwidth=1.0)
    assert same(auto, fourier)
    auto, direct, _ = auto_and_methods(*many, bandwidth=1.0, backend="array_api")  # no NUFFT: direct
    assert same(auto, direct)
    spread = [S._replace(lifetime=S.lifetime * 1e6) for S in many]  # a grid beyond MAX_MODES
    auto = pa.mmd_value_and_grad(*spread, bandwidth=1.0, method="auto")
    assert same(auto, pa.mmd_value_and_grad(*spread, bandwidth=1.0, method="direct"))


def test_auto_crossover_is_later_in_float32():
    """float32's direct sums are about twice as fast: "auto" keeps them up to FOURIER_CROSSOVER[32] points."""
    assert FOURIER_CROSSOVER[32] > FOURIER_CROSSOVER[64]
    rng = np.random.default_rng(13)
    for half, picks in ((FOURIER_CROSSOVER[64] // 2 + 1, "direct"), (FOURIER_CROSSOVER[32] // 2 + 1, "fft")):
        points = [draw_points(rng, half, "uniform", 20.0, True, 0.0) for _ in range(2)]
        sets = [hand_sample(*(np.asarray(a, dtype=np.float32) for a in p)) for p in points]
        auto, direct, fourier = auto_and_methods(*sets, bandwidth=1.0)
        assert same(auto, direct if picks == "direct" else fourier)
        assert not same(direct, fourier)


def test_ppm_reg_fft_equals_direct():
    """Both dimensions, the merged pairs of a large q = 0 draw, per-dimension n_subsamples."""
    X, Y = blob_and_circle(60, 50, seed=3, noise=0.05)
    options = dict(bandwidth=0.2, dims=(0, 1), weights=(1.0, 50.0), n_subsamples=(4000, 20000), rng=4)
    direct = pa.ppm_reg_value_and_grad(X, Y, method="direct", **options)
    fourier = pa.ppm_reg_value_and_grad(X, Y, method="fft", tol=1e-10, **options)
    assert float(fourier[0]) == pytest.approx(float(direct[0]), rel=1e-9)
    for got, want in zip(fourier[1:], direct[1:]):
        assert np.linalg.norm(got - want) <= 1e-9 * np.linalg.norm(want)


@pytest.mark.parametrize("dtype, bandwidth", [(np.float64, 1e10), (np.float64, 1e160), (np.float64, 1e300),
                                              (np.float32, 1e25)])
def test_bandwidth_far_above_the_data_is_the_constant_kernel(dtype, bandwidth):
    """With ``(scale / h)^2`` below the dtype's range the kernel is 1: the MMD is the squared difference of the
    total weights ``W``, its lifetime gradient ``2 (W_P - W_Q) mass`` (``p = 1``) and its birth gradient 0. The
    Fourier method must neither divide by the vanishing ``1 / h^2`` nor fail to design its grid."""
    rng = np.random.default_rng(11)
    P, Q = (hand_sample(*(a.astype(dtype) for a in draw_points(rng, n, "uniform", 2.0, True, 0.3)))
            for n in (300, 200))
    totals = [float(np.sum(S.mass.astype(np.float64) * S.lifetime)) for S in (P, Q)]
    difference, total = totals[0] - totals[1], totals[0] + totals[1]
    for method in ("direct", "fft"):
        # The documented bound (tol = 1e-10 times S^2, S the total weight), or float32's rounding.
        relative = 1e-5 if dtype == np.float32 else 1e-10 if method == "fft" else 1e-13
        value, *grads = pa.mmd_value_and_grad(P, Q, bandwidth=bandwidth, method=method)
        assert value.dtype == dtype
        assert abs(float(value) - difference**2) <= relative * total**2
        for (d_birth, d_lifetime), S, sign in zip(grads, (P, Q), (1, -1)):
            expected = sign * 2 * difference * S.mass.astype(np.float64)
            scale = 2 * total * np.linalg.norm(S.mass.astype(np.float64))
            assert np.linalg.norm(d_lifetime - expected) <= relative * scale
            assert np.linalg.norm(d_birth) <= relative * scale


def test_has_float64_asks_the_namespace_about_the_device():
    torch = pytest.importorskip("torch")
    from array_api_compat import array_namespace

    assert has_float64(array_namespace(np.zeros(1)), "cpu")
    assert has_float64(array_namespace(torch.zeros(1)), torch.device("cpu"))

    class Info:  # what array-api-compat answers for torch's MPS devices, which lack float64 and complex128
        def dtypes(self, *, device=None, kind=None):
            return {"float32": None, "complex64": None}

    mps_like = type("Namespace", (), {"__array_namespace_info__": staticmethod(Info)})
    assert not has_float64(mps_like, "mps")


def test_without_float64_on_the_device_fft_is_refused_and_auto_takes_the_direct_sums(monkeypatch):
    """The Fourier method computes in float64 and complex128: on a device without them (torch's MPS) it casts
    nothing; ``"fft"`` is refused and ``"auto"`` falls back to the direct sums."""
    rng = np.random.default_rng(12)
    half = FOURIER_CROSSOVER[64] // 2 + 1
    many = [hand_sample(*draw_points(rng, half, "uniform", 20.0, True, 0.0)) for _ in range(2)]
    assert not same(*(pa.mmd_value_and_grad(*many, bandwidth=1.0, method=m) for m in ("auto", "direct")))
    monkeypatch.setattr(_namespace, "has_float64", lambda xp, device: False)
    with pytest.raises(ValueError, match=r"method='fft' computes in float64, which the device cpu does not support"):
        pa.mmd_value_and_grad(*many, bandwidth=1.0, method="fft")
    assert same(*(pa.mmd_value_and_grad(*many, bandwidth=1.0, method=m) for m in ("auto", "direct")))

"""PyTorch adapter against the core."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ppm_array as pa  # noqa: E402
import ppm_array.torch as pat  # noqa: E402
from builders import blob_and_circle  # noqa: E402

OPTIONS = dict(bandwidth=0.3, dims=(0, 1), weights=(1.0, 20.0), n_subsamples=300, rng=4)


def clouds(n_x=40, n_y=35, seed=0):
    return blob_and_circle(n_x, n_y, seed)


def test_value_and_gradients_equal_the_core():
    X, Y = clouds()
    value, grad_x, grad_y = pa.ppm_reg_value_and_grad(X, Y, **OPTIONS)
    Xt = torch.tensor(X, requires_grad=True)
    Yt = torch.tensor(Y, requires_grad=True)
    loss = pat.ppm_reg(Xt, Yt, **OPTIONS)
    loss.backward()
    assert loss.dtype == torch.float64 and loss.shape == ()
    assert float(loss.detach()) == pytest.approx(float(value), rel=1e-10)
    np.testing.assert_allclose(Xt.grad.numpy(), grad_x, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(Yt.grad.numpy(), grad_y, rtol=1e-10, atol=1e-14)


def test_gradcheck_float64():
    X, Y = clouds(14, 12, seed=1)
    Xt = torch.tensor(X, requires_grad=True)
    Yt = torch.tensor(Y, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: pat.ppm_reg(x, y, **OPTIONS), (Xt, Yt), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_no_gradient_work_without_autograd(monkeypatch):
    """Under no_grad, or for inputs that do not require grad, only the value is computed."""
    import ppm_array._adapters.torch as module

    core = module.evaluate

    def value_only(*args, with_grad, **kwargs):
        assert not with_grad, "gradients computed although autograd does not need them"
        return core(*args, with_grad=with_grad, **kwargs)

    monkeypatch.setattr(module, "evaluate", value_only)
    X, Y = (torch.tensor(a) for a in clouds())
    value = pat.ppm_reg(X, Y, **OPTIONS)
    with torch.no_grad():
        assert float(pat.ppm_reg(X.requires_grad_(), Y, **OPTIONS)) == float(value)


def test_only_the_gradients_are_saved():
    """Backward keeps the two gradients and references to the inputs (no copies, no intermediate arrays)."""
    X, Y = clouds()
    Xt, Yt = torch.tensor(X, requires_grad=True), torch.tensor(Y)
    loss = pat.ppm_reg(Xt, Yt, **OPTIONS)
    grad_x, grad_y, saved_x, saved_y = loss.grad_fn.saved_tensors
    assert (grad_x.shape, grad_y.shape) == (Xt.shape, Yt.shape)
    assert saved_x.data_ptr() == Xt.data_ptr() and saved_y.data_ptr() == Yt.data_ptr()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_is_computed_in_float32(dtype):
    X, Y = clouds()
    Xt = torch.tensor(X, dtype=dtype, requires_grad=True)
    loss = pat.ppm_reg(Xt, torch.tensor(Y, dtype=dtype), **OPTIONS)
    loss.backward()
    assert loss.dtype == dtype and Xt.grad.dtype == dtype
    X32, Y32 = (torch.tensor(a, dtype=dtype).to(torch.float32).numpy() for a in (X, Y))
    value, grad_x, _ = pa.ppm_reg_value_and_grad(X32, Y32, **OPTIONS)
    assert float(loss.detach()) == pytest.approx(float(value), rel=1e-2)
    np.testing.assert_allclose(Xt.grad.float().numpy(), grad_x, rtol=2e-2, atol=2e-2 * np.abs(grad_x).max())


@pytest.mark.parametrize("requires_grad", [False, True])
def test_float16_results_beyond_its_range_are_refused_not_inf(requires_grad):
    """Computed in float32, PPM-Reg of clouds at scale 1000 is about 6e5, beyond float16's 65504: refused with
    the core's error after the cast back, with or without the gradients, and computed without check_finite."""
    X, Y = (torch.tensor(1000 * a, dtype=torch.float16) for a in clouds())
    X.requires_grad_(requires_grad)
    options = dict(OPTIONS, bandwidth=300.0)
    assert float(pa.ppm_reg(X.detach().float().numpy(), Y.float().numpy(), **options)) > 65504
    with pytest.raises(ValueError, match=r"X and Y are too large for results in torch.float16"):
        pat.ppm_reg(X, Y, **options)
    assert torch.isinf(pat.ppm_reg(X, Y, check_finite=False, **options))


def test_module_draws_fresh_subsamples_reproducibly():
    X, Y = (torch.tensor(a) for a in clouds())
    first, second = pat.PPMReg(bandwidth=0.3, seed=1), pat.PPMReg(bandwidth=0.3, seed=1)
    values = [float(first(X, Y)) for _ in range(2)]
    assert values[0] != values[1]
    assert [float(second(X, Y)) for _ in range(2)] == values
    with pytest.raises(TypeError, match="seed="):
        pat.PPMReg(bandwidth=0.3, rng=0)


def test_sgd_loop_halves_the_loss_in_float32():
    """150 steps of SGD on PPM-Reg alone pull a Gaussian cloud towards a circle's PPM."""
    X, Y = clouds(128, 128, seed=2)
    Xt = torch.tensor(X, dtype=torch.float32, requires_grad=True)
    Yt = torch.tensor(Y, dtype=torch.float32)
    regularizer = pat.PPMReg(bandwidth=0.2, weights=(1.0, 100.0), n_subsamples=512, seed=0)
    optimizer = torch.optim.SGD([Xt], lr=0.5, momentum=0.9)
    losses = []
    for _ in range(150):
        optimizer.zero_grad()
        loss = regularizer(Xt, Yt)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-10:]) <= 0.5 * np.mean(losses[:10])


def test_inside_torch_compile():
    X, Y = (torch.tensor(a) for a in clouds())

    def objective(x, y):
        return 2.0 * pat.ppm_reg(x, y, **OPTIONS) + 1.0

    compiled = torch.compile(objective, backend="aot_eager")
    assert float(compiled(X, Y)) == float(objective(X, Y))


def test_refuses_non_tensors():
    X, Y = clouds()
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        pat.ppm_reg(X, torch.tensor(Y), bandwidth=0.2)


def test_example_training_loop_runs(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "torch_shape_matching.py"
    spec = importlib.util.spec_from_file_location("torch_shape_matching", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(["--steps", "5", "--n-points", "64"])
    assert "final radius" in capsys.readouterr().out


def test_batched_example_pulls_the_clouds_towards_their_circles(tmp_path):
    """examples/batched_shapes.py: 4 clouds trained at once for 120 steps lie, on average, less than half as far
    from their circles as they started (0.627 to 0.247 when written), and the figure is written."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "batched_shapes.py"
    spec = importlib.util.spec_from_file_location("batched_shapes", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    figure = tmp_path / "batched.png"
    result = example.main(["--steps", "120", "--clouds", "4", "--out", str(figure)])
    assert result["after"] < 0.5 * result["before"]
    assert figure.stat().st_size > 0


def test_torch_func_grad_equals_autograd():
    X, Y = (torch.tensor(a) for a in clouds(30, 25, seed=4))

    def objective(x):
        return 3.0 * pat.ppm_reg(x, Y, **OPTIONS) + x.square().sum()

    expected_input = X.clone().requires_grad_()
    objective(expected_input).backward()
    np.testing.assert_allclose(torch.func.grad(objective)(X).numpy(), expected_input.grad.numpy(), rtol=1e-12)


def test_torch_func_vmap_maps_onto_one_batched_call(monkeypatch):
    """vmap over the clouds is one call of the core on the batch (every item on the same subsamples), equal to
    each item's own call; so are grad of vmap, vmap of grad and jacrev."""
    import ppm_array._adapters.torch as module

    X, Y = (torch.tensor(a) for a in clouds(30, 25, seed=5))
    batch = torch.stack([X, 2 * X, 0.5 * X, X.flip(0)])
    calls, core = [], module.evaluate

    def counting(X, Y, *args, **kwargs):
        calls.append(tuple(X.shape))
        return core(X, Y, *args, **kwargs)

    monkeypatch.setattr(module, "evaluate", counting)
    values = torch.func.vmap(lambda x: pat.ppm_reg(x, Y, **OPTIONS))(batch)
    assert calls == [tuple(batch.shape)]
    expected = [pa.ppm_reg_value_and_grad(x.numpy(), Y.numpy(), **OPTIONS) for x in batch]
    np.testing.assert_allclose(values.numpy(), [float(e[0]) for e in expected], rtol=1e-12)
    gradients = np.stack([e[1] for e in expected])
    grads = torch.func.grad(lambda b: torch.func.vmap(lambda x: pat.ppm_reg(x, Y, **OPTIONS))(b).sum())(batch)
    np.testing.assert_allclose(grads.numpy(), gradients, rtol=1e-10, atol=1e-14)
    calls.clear()
    per_item = torch.func.vmap(torch.func.grad(lambda x: pat.ppm_reg(x, Y, **OPTIONS)))(batch)
    assert calls == [tuple(batch.shape)]
    np.testing.assert_allclose(per_item.numpy(), gradients, rtol=1e-10, atol=1e-14)
    jacobian = torch.func.jacrev(lambda b: pat.ppm_reg(b, Y, **OPTIONS))(batch)
    assert jacobian.shape == (4, *batch.shape)
    for b in range(4):  # item b's value depends on cloud b only
        np.testing.assert_allclose(jacobian[b, b].numpy(), gradients[b], rtol=1e-10, atol=1e-14)
        assert not jacobian[b, (b + 1) % 4].any()


def test_batched_tensors_with_a_shared_reference_equal_the_core():
    """X of shape (B, N, d) and one Y: each item's gradient is its own call's, and Y's gradient is the sum over
    the items of theirs, weighted by the upstream gradient of each value."""
    X, Y = clouds(30, 25, seed=6)
    batch = np.stack([X, 1.5 * X + 0.2, 0.7 * X])
    Xt, Yt = torch.tensor(batch, requires_grad=True), torch.tensor(Y, requires_grad=True)
    values = pat.ppm_reg(Xt, Yt, **OPTIONS)
    upstream = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    (values * upstream).sum().backward()
    expected = [pa.ppm_reg_value_and_grad(x, Y, **OPTIONS) for x in batch]
    np.testing.assert_allclose(values.detach().numpy(), [float(e[0]) for e in expected], rtol=1e-12)
    np.testing.assert_allclose(Xt.grad.numpy(), np.stack([w * e[1] for w, e in zip(upstream.numpy(), expected)]),
                               rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(Yt.grad.numpy(), sum(w * e[2] for w, e in zip(upstream.numpy(), expected)),
                               rtol=1e-10, atol=1e-14)
    module = pat.PPMReg(bandwidth=0.3, seed=2, n_subsamples=300)
    assert module(Xt, Yt).shape == (3,)


def test_second_derivatives_are_refused_under_vmap_too():
    X, Y = (torch.tensor(a) for a in clouds(30, 25, seed=5))
    hessian = torch.func.vmap(torch.func.jacrev(torch.func.grad(lambda x: pat.ppm_reg(x, Y, **OPTIONS))))
    with pytest.raises(RuntimeError, match="has no second derivative"):
        hessian(torch.stack([X, 2 * X]))


def test_second_derivatives_are_refused_clearly():
    X, Y = clouds()
    Xt = torch.tensor(X, requires_grad=True)
    (gradient,) = torch.autograd.grad(pat.ppm_reg(Xt, torch.tensor(Y), **OPTIONS), Xt, create_graph=True)
    with pytest.raises(RuntimeError, match="has no second derivative"):
        gradient.square().sum().backward()


def test_module_checks_its_options_when_built():
    with pytest.raises(ValueError, match="bandwidth must be a positive finite number"):
        pat.PPMReg(bandwidth=-1.0)
    with pytest.raises(TypeError, match="PPMReg got unexpected keyword arguments: n_subsample"):
        pat.PPMReg(bandwidth=0.2, n_subsample=10)
    with pytest.raises(TypeError, match=r"ppm_array.torch.ppm_reg\(\) got unexpected keyword arguments: weight"):
        pat.ppm_reg(torch.zeros(5, 2), torch.zeros(5, 2), bandwidth=0.2, weight=(1, 2))


@pytest.mark.parametrize("bandwidth", [torch.tensor(0.3, dtype=torch.float64), np.float64(0.3), np.array(0.3)])
def test_bandwidth_as_a_zero_dimensional_tensor_or_array(bandwidth):
    X, Y = (torch.tensor(a) for a in clouds())
    options = dict(OPTIONS, bandwidth=bandwidth)
    assert float(pat.ppm_reg(X, Y, **options)) == float(pat.ppm_reg(X, Y, **dict(OPTIONS, bandwidth=0.3)))


def test_state_dict_restores_the_generator():
    """A module restored from a checkpoint draws the subsamples the original would have drawn next."""
    X, Y = (torch.tensor(a) for a in clouds())
    original = pat.PPMReg(bandwidth=0.3, seed=7)
    original(X, Y)
    checkpoint = original.state_dict()
    expected = [float(original(X, Y)) for _ in range(3)]
    restored = pat.PPMReg(bandwidth=0.3, seed=123)
    restored.load_state_dict(checkpoint)
    assert [float(restored(X, Y)) for _ in range(3)] == expected


def test_state_dict_refuses_a_module_with_other_options():
    """A state keeps the options that define the value: loading it into a module with others is refused, naming
    them, and restores nothing; through torch.save and torch.load (weights only) too."""
    original = pat.PPMReg(bandwidth=0.3, n_subsamples=512, seed=7)
    checkpoint = original.state_dict()
    other = pat.PPMReg(bandwidth=0.7, n_subsamples=2048, seed=1)
    before = other.generator.bit_generator.state
    with pytest.raises(ValueError, match=r"n_subsamples=\(512, 512\) \(this module: \(2048, 2048\)\), "
                                         r"bandwidth=0.3 \(this module: 0.7\)"):
        other.load_state_dict(checkpoint)
    assert other.generator.bit_generator.state == before
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    with pytest.raises(ValueError, match="weight_power=1.0 \\(this module: 2.0\\)"):
        pat.PPMReg(bandwidth=0.3, n_subsamples=512, weight_power=2.0).load_state_dict(loaded)
    same = pat.PPMReg(bandwidth=0.3, n_subsamples=512, method="direct", seed=1)  # how it computes may differ
    same.load_state_dict(loaded)
    assert same.generator.bit_generator.state == original.generator.bit_generator.state


def test_terms_are_returned_without_gradient():
    X, Y = clouds()
    Xt = torch.tensor(X, requires_grad=True)
    value, terms = pat.ppm_reg(Xt, torch.tensor(Y), return_terms=True, **OPTIONS)
    assert terms.mmd.shape == (2,) and not terms.mmd.requires_grad and not terms.bandwidth.requires_grad
    assert value.item() == pytest.approx(float((torch.tensor(OPTIONS["weights"]) * terms.mmd).sum()), rel=1e-12)
    value.backward()
    assert Xt.grad is not None


def test_tensors_on_cuda_compute_with_cupy_only_when_it_can(monkeypatch):
    """CUDA tensors go to CuPy when it is installed and the backend may use it; otherwise the Array-API
    backend computes on the tensors themselves (never a ModuleNotFoundError)."""
    from ppm_array._adapters import torch as adapter

    monkeypatch.setattr(adapter, "_cupy_available", lambda: False)
    assert adapter._core_library("cuda", "auto") == "torch"
    monkeypatch.setattr(adapter, "_cupy_available", lambda: True)
    assert adapter._core_library("cuda", "auto") == "cupy"
    assert adapter._core_library("cuda", "array_api") == "torch"
    assert adapter._core_library("cpu", "auto") == "numpy"
    assert adapter._core_library("mps", "auto") == "torch"


def test_data_space_against_a_latent_space():
    rng = np.random.default_rng(9)
    X, Z = rng.normal(size=(20, 64)), rng.normal(size=(15, 2))
    options = dict(OPTIONS, bandwidth=0.8)
    _, grad_x, grad_z = pa.ppm_reg_value_and_grad(X, Z, **options)
    Xt, Zt = torch.tensor(X, requires_grad=True), torch.tensor(Z, requires_grad=True)
    pat.ppm_reg(Xt, Zt, **options).backward()
    np.testing.assert_allclose(Xt.grad.numpy(), grad_x, rtol=1e-12)
    np.testing.assert_allclose(Zt.grad.numpy(), grad_z, rtol=1e-12)


def test_autoencoder_example_runs():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "autoencoder_digits.py"
    spec = importlib.util.spec_from_file_location("autoencoder_digits", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    results = example.main(["--epochs", "2", "--seeds", "1"])
    assert [r["weight"] for r in results] == [0.0, 10.0]
    assert all(np.isfinite(r["reconstruction"]) and r["first"] >= r["second"] >= 0 for r in results)
    assert results[1]["terms"] is not None and len(results[1]["terms"]) == 2


@pytest.mark.parametrize("method", ["fft", "direct"])
def test_method_tol_and_per_dimension_subsamples_reach_the_core(method):
    X, Y = clouds()
    options = {**OPTIONS, "n_subsamples": (2500, 4000), "method": method, "tol": 1e-6}
    value, grad_x, _ = pa.ppm_reg_value_and_grad(X, Y, **options)
    Xt = torch.tensor(X, requires_grad=True)
    loss = pat.ppm_reg(Xt, torch.tensor(Y), **options)
    loss.backward()
    assert float(loss.detach()) == float(value)
    np.testing.assert_array_equal(Xt.grad.numpy(), grad_x)
    module = pat.PPMReg(**{k: v for k, v in options.items() if k != "rng"}, seed=4)
    assert float(module(torch.tensor(X), torch.tensor(Y))) == float(value)

"""PyTorch adapter against the core."""

from __future__ import annotations

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
    import ppm_array.torch as module

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
    X, Y = clouds()
    Xt = torch.tensor(X, requires_grad=True)
    loss = pat.ppm_reg(Xt, torch.tensor(Y), **OPTIONS)
    saved = loss.grad_fn.saved_tensors
    assert [tuple(t.shape) for t in saved] == [X.shape, Y.shape]


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

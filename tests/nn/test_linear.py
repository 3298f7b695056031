"""Linear (the fused primitive, F.linear and the layer), Bilinear, Identity, Flatten, Unflatten."""

import math

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn
from deepgrad.autograd import gradcheck

torch = pytest.importorskip("torch")


def rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def pair(layer, torch_layer, *inputs):
    """Load torch's weights into our layer, run both on the same inputs and backprop the same
    upstream gradient; return (ours, theirs): output, input grads, parameter grads."""
    result = layer.load_state_dict(torch_layer.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    xs = [dg.tensor(x, requires_grad=True) for x in inputs]
    txs = [torch.tensor(x, requires_grad=True) for x in inputs]
    y, ty = layer(*xs), torch_layer(*txs)
    g = rand(*ty.shape, seed=9)
    y.backward(dg.tensor(g))
    ty.backward(torch.tensor(g))
    ours = [y] + [x.grad for x in xs] + [p.grad for p in layer.parameters()]
    theirs = [ty] + [x.grad for x in txs] + [p.grad for p in torch_layer.parameters()]
    return ours, theirs


def assert_close(ours, theirs, rtol=1e-5, atol=1e-5):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.dtype == dg.float32  # nothing was upcast on the way
        np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=rtol, atol=atol)


# -- Linear against PyTorch ---------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,), (2, 1, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(shape, bias):
    ours, theirs = pair(nn.Linear(4, 3, bias=bias), torch.nn.Linear(4, 3, bias=bias), rand(*shape))
    assert tuple(ours[0].shape) == tuple(theirs[0].shape)
    assert_close(ours, theirs)


def test_linear_in_a_model_trains_like_torch():
    """Three SGD steps of a two-layer net give the same weights in both frameworks."""
    ours = nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Linear(5, 2))
    ours.load_state_dict(theirs.state_dict())
    x, t = rand(8, 6), rand(8, 2, seed=1)
    for _ in range(3):
        for model, X, T in ((ours, dg.tensor(x), dg.tensor(t)),
                            (theirs, torch.tensor(x), torch.tensor(t))):
            model.zero_grad()
            h = model[1](dg.relu(model[0](X)) if model is ours else torch.relu(model[0](X)))
            ((h - T) ** 2).mean().backward()
            for p in model.parameters():
                p.data = p.data - 0.1 * p.grad
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(p.array, tp.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_linear_default_init_is_uniform_within_one_over_sqrt_fan_in():
    dg.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.array, layer.bias.array
    assert w.shape == (300, 400) and b.shape == (300,) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.99 * bound
    assert abs(w.mean()) < 0.01 * bound and abs(w.var() / (bound**2 / 3) - 1) < 0.02
    dg.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.array, w)  # reproducible
    assert not np.array_equal(nn.Linear(400, 300).weight.array, w)
    assert nn.Linear(3, 2, dtype=dg.float64).weight.dtype == dg.float64
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]


def test_linear_reset_parameters_redraws_in_place():
    layer = nn.Linear(3, 2)
    w = layer.weight.array
    before = w.copy()
    layer.reset_parameters()
    assert layer.weight.array is w and not np.array_equal(w, before)


# -- the primitive ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 3), (3,)])
def test_linear_primitive_gradcheck(shape):
    x = dg.tensor(rand(*shape, dtype=np.float64), requires_grad=True)
    w = dg.tensor(rand(2, 3, seed=1, dtype=np.float64), requires_grad=True)
    b = dg.tensor(rand(2, seed=2, dtype=np.float64), requires_grad=True)
    assert gradcheck(F.linear, (x, w, b))
    assert gradcheck(F.linear, (x, w))


def test_linear_computes_only_the_gradients_asked_for():
    x = dg.tensor(rand(4, 3))
    w = dg.tensor(rand(2, 3, seed=1), requires_grad=True)
    b = dg.tensor(rand(2, seed=2))
    y = F.linear(x, w, b)
    assert y.grad_fn.needs_input_grad == (False, True, False)
    assert y.grad_fn.backward(np.ones((4, 2), np.float32))[0] is None
    y.sum().backward()
    assert x.grad is None and b.grad is None
    np.testing.assert_allclose(w.grad.array, np.ones((4, 2)).T @ x.array, rtol=1e-6)
    with dg.no_grad():
        assert F.linear(x, w, b).grad_fn is None


def test_linear_errors_name_the_shapes_and_dtypes():
    w = dg.zeros(3, 4)
    with pytest.raises(RuntimeError, match=r"linear: input has shape \(2, 5\) and weight has "
                                           r"shape \(3, 4\)"):
        F.linear(dg.zeros(2, 5), w)
    with pytest.raises(RuntimeError, match=r"bias has shape \(4,\), expected \(3,\)"):
        F.linear(dg.zeros(2, 4), w, dg.zeros(4))
    with pytest.raises(RuntimeError, match="input float64, weight float32"):
        F.linear(dg.zeros(2, 4, dtype=dg.float64), w)
    with pytest.raises(RuntimeError, match="weight must be 2-D"):
        F.linear(dg.zeros(2, 4), dg.zeros(4))
    with pytest.raises(RuntimeError, match=r"\(8, 7\).*in_features \(5\)"):
        nn.Linear(5, 2)(dg.zeros(8, 7))
    with pytest.raises(TypeError, match="floating"):
        nn.Linear(2, 2, dtype=dg.int64)


# -- Bilinear -----------------------------------------------------------------------------------
@pytest.mark.parametrize("lead", [(5,), (2, 3)])
def test_bilinear_matches_torch(lead):
    ours, theirs = pair(nn.Bilinear(3, 4, 2), torch.nn.Bilinear(3, 4, 2),
                        rand(*lead, 3), rand(*lead, 4, seed=1))
    assert_close(ours, theirs)
    assert repr(nn.Bilinear(3, 4, 2, bias=False)) == repr(torch.nn.Bilinear(3, 4, 2, bias=False))


def test_bilinear_gradcheck_and_errors():
    x1 = dg.tensor(rand(3, 2, dtype=np.float64), requires_grad=True)
    x2 = dg.tensor(rand(3, 3, seed=1, dtype=np.float64), requires_grad=True)
    w = dg.tensor(rand(2, 2, 3, seed=2, dtype=np.float64), requires_grad=True)
    b = dg.tensor(rand(2, seed=3, dtype=np.float64), requires_grad=True)
    assert gradcheck(F.bilinear, (x1, x2, w, b))
    with pytest.raises(RuntimeError, match=r"bilinear: input1 \(3, 2\) and input2 \(4, 3\)"):
        F.bilinear(x1, dg.zeros(4, 3, dtype=dg.float64), w)
    with pytest.raises(RuntimeError, match="bilinear: expected one dtype"):
        F.bilinear(x1.float(), x2, w)


# -- shape layers -------------------------------------------------------------------------------
def test_identity_flatten_unflatten_match_torch():
    x = rand(2, 3, 4, 5)
    cases = [
        (nn.Identity(54, unused=1), torch.nn.Identity(54, unused=1)),
        (nn.Flatten(), torch.nn.Flatten()),
        (nn.Flatten(0, 2), torch.nn.Flatten(0, 2)),
        (nn.Flatten(-2), torch.nn.Flatten(-2)),
        (nn.Unflatten(1, (3, 1)), torch.nn.Unflatten(1, (3, 1))),
        (nn.Unflatten(-1, (5, 1)), torch.nn.Unflatten(-1, (5, 1))),
    ]
    for layer, torch_layer in cases:
        assert repr(layer) == repr(torch_layer)
        ours, theirs = pair(layer, torch_layer, x)
        assert tuple(ours[0].shape) == tuple(theirs[0].shape)
        assert_close(ours, theirs, rtol=0, atol=0)
    y = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (3, 20)))(dg.tensor(x))
    assert y.shape == (2, 3, 20)
    with pytest.raises(RuntimeError, match=r"Unflatten: dim 1 .*\(2, 3, 4, 5\).*size 3"):
        nn.Unflatten(1, (2, 2))(dg.tensor(x))
    with pytest.raises(TypeError, match="tuple of ints"):
        nn.Unflatten(1, 6)

"""Activations: primitives (gradcheck + torch oracle), nn.functional, modules, the step, erf."""

import math
import warnings

import numpy as np
import pytest
from harness import Case, In, OpSpec, assert_same, make_tests, optional_torch

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn
from deepgrad.ops.activation import erf, erfc

torch = optional_torch()
TF = torch.nn.functional if torch else None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

INF = float("inf")
SHAPES = [(3, 4), (), (2, 3, 2)]


def unary(**opts) -> list:
    return [Case(In(s, **opts)) for s in SHAPES]


def with_kwargs(cases: list, **kwargs) -> list:
    return [Case(*c.inputs, **c.kwargs, **kwargs) for c in cases]


def softmax_cases() -> list:
    return [
        Case((3, 4), dim=1), Case((3, 4), dim=0), Case((3, 4), dim=-1), Case((2, 3, 4), dim=1),
        Case((5,), dim=0), Case((), dim=0), Case((2, 0, 3), dim=1, strided=False),
        Case(In((2, 3), values=[[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -999.0]]), dim=1,
             label="extreme"),
        Case(In((2, 3), values=[[1000.0, 999.0, -1000.0], [0.5, -1000.0, 1000.0]]), dim=0,
             label="extreme-dim0"),
        Case(In((3, 2), values=[[0.0, -INF], [-INF, -INF], [1.0, 2.0]]), dim=1, label="-inf",
             gradcheck=False, warns=True),
    ]


def kinked(lo=-3.0, hi=3.0, avoid=(0.0,)) -> list:
    """Inputs kept away from the points where the function has no derivative."""
    return unary(low=lo, high=hi, avoid=avoid, gap=0.05)


def module(name: str) -> dict:
    """fn and torch_fn that build the layer from the case's kwargs and apply it."""
    def ours(x, **kw):
        return getattr(nn, name)(**kw)(x)

    def theirs(x, **kw):
        return getattr(torch.nn, name)(**kw)(x)

    return dict(fn=ours, torch_fn=theirs)


SPECS = [
    # primitives, through their public functions
    OpSpec("softmax", lambda x, dim: dg.softmax(x, dim), softmax_cases(),
           torch_fn=lambda x, dim: torch.softmax(x, dim)),
    OpSpec("log_softmax", lambda x, dim: dg.log_softmax(x, dim), softmax_cases(),
           torch_fn=lambda x, dim: torch.log_softmax(x, dim)),
    OpSpec("softmax_method", lambda x, dim: x.softmax(dim), softmax_cases()[:2]),
    OpSpec("log_softmax_method", lambda x, dim: x.log_softmax(dim), softmax_cases()[:2]),
    OpSpec("F.softmax", lambda x, **kw: F.softmax(x, **kw), softmax_cases(),
           torch_fn=lambda x, **kw: TF.softmax(x, **kw)),
    OpSpec("F.log_softmax", lambda x, **kw: F.log_softmax(x, **kw), softmax_cases(),
           torch_fn=lambda x, **kw: TF.log_softmax(x, **kw)),
    OpSpec("F.softmax_dtype", lambda x: F.softmax(x, 1, dtype=dg.float64), [Case((3, 4))],
           torch_fn=lambda x: TF.softmax(x, 1, dtype=torch.float64)),
    OpSpec("F.relu", lambda x: F.relu(x), kinked(), torch_fn=lambda x: TF.relu(x)),
    OpSpec("F.sigmoid", lambda x: F.sigmoid(x), unary(low=-8, high=8),
           torch_fn=lambda x: TF.sigmoid(x)),
    OpSpec("F.tanh", lambda x: F.tanh(x), unary(), torch_fn=lambda x: TF.tanh(x)),
    OpSpec("F.leaky_relu", lambda x, **kw: F.leaky_relu(x, **kw),
           kinked() + with_kwargs(kinked()[:1], negative_slope=0.2),
           torch_fn=lambda x, **kw: TF.leaky_relu(x, **kw)),
    OpSpec("F.elu", lambda x, **kw: F.elu(x, **kw),
           kinked(-6, 4) + with_kwargs(kinked()[:1], alpha=0.5),
           torch_fn=lambda x, **kw: TF.elu(x, **kw)),
    OpSpec("F.gelu", lambda x: F.gelu(x), unary(low=-6, high=6) + [
        Case(In((7,), values=[-40.0, -9.0, -5.0, 0.0, 1e-8, 5.0, 40.0]), label="tails")],
        torch_fn=lambda x: TF.gelu(x)),
    # torch's float32 tanh form loses up to ~1e-6 to cancellation in 1 + tanh(u) near -1
    OpSpec("F.gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), unary(low=-6, high=6) + [
        Case(In((7,), values=[-40.0, -9.0, -5.0, 0.0, 1e-8, 5.0, 40.0]), label="tails")],
        torch_fn=lambda x: TF.gelu(x, approximate="tanh"), atol=2e-6),
    OpSpec("F.silu", lambda x: F.silu(x), unary(low=-8, high=8) + [
        Case(In((4,), values=[-200.0, -50.0, 50.0, 200.0]), label="tails")],
        torch_fn=lambda x: TF.silu(x)),
    OpSpec("F.softplus", lambda x, **kw: F.softplus(x, **kw),
           unary(low=-8, high=8)
           + with_kwargs(kinked(-2, 2, avoid=(0.5,)), beta=2.0, threshold=1.0)
           + with_kwargs(kinked(-2, 2, avoid=(-0.5,)), beta=-2.0, threshold=1.0)
           + [Case(In((4,), values=[-200.0, -30.0, 19.0, 200.0]), label="tails")],
           torch_fn=lambda x, **kw: TF.softplus(x, **kw)),
    OpSpec("F.hardtanh", lambda x, **kw: F.hardtanh(x, **kw),
           kinked(avoid=(-1.0, 1.0))
           + with_kwargs(kinked(avoid=(-0.5, 1.5))[:1], min_val=-0.5, max_val=1.5)
           + [Case(In((4,), values=[-1.0, 1.0, 0.0, 2.0]), gradcheck=False, label="edges")],
           torch_fn=lambda x, **kw: TF.hardtanh(x, **kw)),
    OpSpec("F.relu6", lambda x: F.relu6(x), kinked(-3, 9, avoid=(0.0, 6.0)) + [
        Case(In((3,), values=[0.0, 6.0, 3.0]), gradcheck=False, label="edges")],
        torch_fn=lambda x: TF.relu6(x)),
    OpSpec("heaviside", lambda x, v: dg.heaviside(x, v), [
        Case(In((6,), values=[-2.0, -0.0, 0.0, 1e-30, 3.0, math.nan]), In((1,), values=[0.5])),
        Case(In((2, 3), values=[[0.0, 1.0, -1.0], [0.0, 0.0, 2.0]]), In((3,), values=[1, 2, 3])),
        Case((3, 4), ()),
    ], torch_fn=lambda x, v: torch.heaviside(x, v), grad=False),
    OpSpec("heaviside_method", lambda x, v: x.heaviside(v), [Case((3, 4), (4,))], grad=False),
    # layers
    OpSpec("Sigmoid", **module("Sigmoid"), cases=unary()),
    OpSpec("Tanh", **module("Tanh"), cases=unary()),
    OpSpec("ReLU", **module("ReLU"), cases=kinked()),
    OpSpec("ReLU6", **module("ReLU6"), cases=kinked(-3, 9, avoid=(0.0, 6.0))),
    OpSpec("LeakyReLU", **module("LeakyReLU"), cases=with_kwargs(kinked(), negative_slope=0.1)),
    OpSpec("ELU", **module("ELU"), cases=with_kwargs(kinked(), alpha=2.0)),
    OpSpec("GELU", **module("GELU"), cases=unary() + with_kwargs(unary(), approximate="tanh")),
    OpSpec("SiLU", **module("SiLU"), cases=unary()),
    OpSpec("Softplus", **module("Softplus"),
           cases=with_kwargs(kinked(avoid=(1.0,)), beta=0.5, threshold=0.5)),
    OpSpec("Hardtanh", **module("Hardtanh"),
           cases=with_kwargs(kinked(avoid=(-2.0, 0.5)), min_val=-2.0, max_val=0.5)),
    OpSpec("Softmax", **module("Softmax"), cases=[Case((3, 4), dim=0), Case((2, 3, 2), dim=2)]),
    OpSpec("LogSoftmax", **module("LogSoftmax"),
           cases=[Case((3, 4), dim=1), Case((2, 3, 2), dim=-1)]),
]

test_gradcheck, test_oracle = make_tests(SPECS)


# -- softmax ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [dg.softmax, dg.log_softmax])
def test_softmax_of_huge_logits_is_finite_in_float32(fn):
    x = dg.tensor([[1000.0, -1000.0, 0.0], [-1e30, 1e30, 3.0]], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fn(x, 1)
        (out * dg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
    assert out.dtype == x.grad.dtype == dg.float32
    assert np.isfinite(out.array).all() and np.isfinite(x.grad.array).all()
    probs = out.array if fn is dg.softmax else np.exp(out.array)
    np.testing.assert_allclose(probs, [[1, 0, 0], [0, 1, 0]], atol=1e-6)


@needs_torch
@pytest.mark.parametrize("ndim", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_implicit_dim_warns_and_picks_torchs_dim(name, ndim):
    a = np.random.default_rng(ndim).standard_normal((2,) * ndim).astype(np.float32)
    with pytest.warns(UserWarning, match="dim"):
        ours = getattr(F, name)(dg.tensor(a))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(TF, name)(torch.tensor(a))
    assert_same(ours, theirs)


def test_softmax_rejects_integer_tensors_and_bad_dims():
    with pytest.raises(TypeError, match=r"softmax: needs a floating point tensor, got .*int64"):
        dg.softmax(dg.tensor([1, 2]), 0)
    with pytest.raises(IndexError, match="log_softmax: dimension 2 is out of range"):
        dg.log_softmax(dg.zeros(2, 3), 2)
    assert dg.softmax(dg.tensor([1, 2]), 0, dtype=dg.float32).dtype == dg.float32


# -- the other functions ------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [F.leaky_relu, F.elu, F.gelu, F.silu, F.softplus])
def test_floating_only_with_a_clear_error(fn):
    with pytest.raises(TypeError, match=f"{fn.__name__}: needs a floating point tensor"):
        fn(dg.tensor([1, 2, 3]))


@needs_torch
def test_hardtanh_and_relu_keep_integer_dtypes_like_torch():
    x = [-3, 0, 2, 7]
    assert_same(F.hardtanh(dg.tensor(x)), TF.hardtanh(torch.tensor(x)))
    assert_same(F.relu6(dg.tensor(x)), TF.relu6(torch.tensor(x)))


def test_numpy_scalar_options_do_not_upcast_float32():
    x = dg.randn(3, 4, requires_grad=True)
    outs = [F.leaky_relu(x, np.float64(0.2)), F.elu(x, np.float64(0.5)),
            F.softplus(x, np.float64(2.0), np.float64(1.0)),
            F.hardtanh(x, np.float64(-0.5), np.float64(0.5))]
    sum(o.sum() for o in outs).backward()
    assert all(o.dtype == dg.float32 for o in outs) and x.grad.dtype == dg.float32


def test_argument_errors_name_the_function():
    with pytest.raises(ValueError, match=r"gelu: approximate must be 'none' or 'tanh', got 'x'"):
        F.gelu(dg.zeros(2), approximate="x")
    with pytest.raises(ValueError, match=r"hardtanh: min_val \(2\) cannot be greater than"):
        F.hardtanh(dg.zeros(2), 2, 1)
    with pytest.raises(ValueError, match="Hardtanh: min_val"):
        nn.Hardtanh(1.0, 0.0)


@needs_torch
@pytest.mark.parametrize("name, kwargs", [
    ("relu", {}), ("relu6", {}), ("leaky_relu", {"negative_slope": 0.3}), ("elu", {}),
    ("silu", {}), ("hardtanh", {"min_val": -0.5, "max_val": 0.5}),
])
def test_inplace_writes_into_the_input_and_backpropagates_like_torch(name, kwargs):
    a = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    leaf, ref_leaf = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    x, ref_x = leaf * 2, ref_leaf * 2
    y = getattr(F, name)(x, inplace=True, **kwargs)
    ref_y = getattr(TF, name)(ref_x, inplace=True, **kwargs)
    assert y is x
    assert_same(x, ref_x)
    (y * y).sum().backward()
    (ref_y * ref_y).sum().backward()
    assert_same(leaf.grad, ref_leaf.grad)
    with pytest.raises(RuntimeError, match=f"{name}_: a leaf tensor that requires grad"):
        getattr(F, name)(leaf, inplace=True, **kwargs)
    plain = dg.tensor(a)
    getattr(F, name)(plain, inplace=True, **kwargs)
    np.testing.assert_allclose(plain.array, getattr(TF, name)(torch.tensor(a), **kwargs).numpy(),
                               rtol=1e-6)


# -- the step -----------------------------------------------------------------------------------
@needs_torch
def test_heaviside_output_requires_grad_but_backward_raises_like_torch():
    x = dg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    y = dg.heaviside(x, dg.tensor([0.5]))
    ref = torch.heaviside(torch.tensor([-1.0, 0.0, 2.0], requires_grad=True),
                          torch.tensor([0.5]))
    assert y.requires_grad == ref.requires_grad
    with pytest.raises(RuntimeError, match="derivative"):
        ref.sum().backward()
    with pytest.raises(RuntimeError, match="heaviside: the derivative is not implemented"):
        y.sum().backward()


@needs_torch
def test_heaviside_keeps_integer_dtypes_and_rejects_mixed_ones_like_torch():
    ours = dg.heaviside(dg.tensor([-3, 0, 4]), dg.tensor([7]))
    assert_same(ours, torch.heaviside(torch.tensor([-3, 0, 4]), torch.tensor([7])))
    with pytest.raises(RuntimeError, match="different dtypes"):
        torch.heaviside(torch.tensor([1.0]), torch.tensor([1.0], dtype=torch.float64))
    with pytest.raises(RuntimeError, match=r"heaviside: .*same dtype, got .*float32 .*float64"):
        dg.heaviside(dg.tensor([1.0]), dg.tensor([1.0], dtype=dg.float64))


def test_heaviside_takes_a_number_and_errors_on_bad_shapes():
    out = dg.heaviside(dg.tensor([-1.0, 0.0, 1.0]), 1.0)
    np.testing.assert_array_equal(out.array, [0.0, 1.0, 1.0])
    assert out.dtype == dg.float32
    with pytest.raises(RuntimeError, match=r"heaviside: .*cannot be broadcast.*\(3,\).*\(2,\)"):
        dg.heaviside(dg.zeros(3), dg.zeros(2))


def test_step_module_is_heaviside_with_values_at_zero():
    assert nn.Step is nn.Heaviside
    x = dg.tensor([[-0.5, 0.0, 0.25]])
    np.testing.assert_array_equal(nn.Step()(x).array, [[0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(nn.Heaviside(values=1.0)(x).array, [[0.0, 1.0, 1.0]])
    assert repr(nn.Step()) == "Heaviside(values=0.0)"
    assert repr(nn.Heaviside(1.0)) == "Heaviside(values=1.0)"
    assert list(nn.Step().parameters()) == []


# -- modules ------------------------------------------------------------------------------------
MODULES = [
    ("Sigmoid", (), {}), ("Tanh", (), {}), ("ReLU", (), {}), ("ReLU", (True,), {}),
    ("ReLU6", (), {}), ("ReLU6", (), {"inplace": True}), ("LeakyReLU", (), {}),
    ("LeakyReLU", (0.2, True), {}), ("ELU", (), {}), ("ELU", (0.5,), {"inplace": True}),
    ("GELU", (), {}), ("GELU", ("tanh",), {}), ("SiLU", (), {}), ("SiLU", (True,), {}),
    ("Softplus", (), {}), ("Softplus", (2, 10), {}), ("Hardtanh", (), {}),
    ("Hardtanh", (-2, 3, True), {}), ("Softmax", (), {}), ("Softmax", (1,), {}),
    ("LogSoftmax", (), {"dim": -1}), ("LogSoftmax", (), {}),
]


@needs_torch
@pytest.mark.parametrize("name, args, kwargs", MODULES)
def test_module_repr_matches_torch(name, args, kwargs):
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args,
                                                                                     **kwargs))


def test_modules_in_a_sequential_keep_float32():
    model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 4), nn.SiLU(),
                          nn.Linear(4, 2), nn.LogSoftmax(dim=1))
    x = dg.randn(5, 3)
    out = model(x)
    out.sum().backward()
    assert out.dtype == dg.float32
    assert all(p.grad is not None and p.grad.dtype == dg.float32 for p in model.parameters())


# -- the error function behind GELU -------------------------------------------------------------
def test_erf_and_erfc_match_math_in_float64():
    x = np.concatenate([np.linspace(-27, 27, 20001), np.geomspace(1e-12, 10, 500), [0.0]])
    np.testing.assert_allclose(erf(x), [math.erf(v) for v in x], rtol=0, atol=5e-15)
    np.testing.assert_allclose(erfc(x), [math.erfc(v) for v in x], rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(erfc(np.array([-INF, INF, 40.0, -40.0])), [2.0, 0.0, 0.0, 2.0])
    assert np.isnan(erfc(np.array([math.nan]))).all()


@needs_torch
def test_erf_matches_torch_in_float32():
    x = np.linspace(-12, 12, 101 * 1001, dtype=np.float32).reshape(1001, 101)
    ours, theirs = erf(x), torch.erf(torch.from_numpy(x)).numpy()
    assert ours.dtype == np.float32 and ours.shape == x.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1.2e-7)
    exact = np.array([math.erfc(v) for v in x.ravel().tolist()]).reshape(x.shape)
    np.testing.assert_allclose(erfc(x), exact, rtol=2.4e-7, atol=1e-44)

"""Elementwise primitives: gradcheck and torch oracle from declarations, then the edge cases."""

import warnings

import numpy as np
import pytest
from harness import Case, In, OpSpec, make_tests, optional_torch

import deepgrad as dg

torch = optional_torch()

INF = float("inf")


def binary_cases(**other) -> list:
    """Same shapes, broadcasting both ways, 0-d on either side, and an input without grad."""
    return [
        Case((3, 4), In((3, 4), **other)),
        Case((3, 4), In((4,), **other)),
        Case((2, 1, 3), In((4, 1), **other)),
        Case((), In((2, 3), **other)),
        Case((2, 3), In((), **other)),
        Case((), In((), **other)),
        Case((3, 1), In((3, 4), requires_grad=False, **other), label="3x1,3x4-nograd"),
    ]


def unary_cases(**opts) -> list:
    return [Case(In((3, 4), **opts)), Case(In((), **opts)), Case(In((2, 3, 2), **opts))]


NONZERO = dict(avoid=(0,), gap=0.3)
POSITIVE = dict(low=0.2, high=3.0)

ARITHMETIC = [
    OpSpec("add", lambda a, b: a + b, binary_cases()),
    OpSpec("add_alpha", lambda a, b: a.add(b, alpha=-1.5), binary_cases()[:3],
           torch_fn=lambda a, b: torch.add(a, b, alpha=-1.5)),
    OpSpec("sub", lambda a, b: a - b, binary_cases()),
    OpSpec("sub_alpha", lambda a, b: dg.sub(a, b, alpha=2), binary_cases()[:3],
           torch_fn=lambda a, b: torch.sub(a, b, alpha=2)),
    OpSpec("mul", lambda a, b: a * b, binary_cases()),
    OpSpec("div", lambda a, b: a / b, binary_cases(**NONZERO)),
    OpSpec("scalar_add", lambda x: x + 2.5, unary_cases()),
    OpSpec("scalar_radd", lambda x: 2.5 + x, unary_cases()),
    OpSpec("scalar_sub", lambda x: x - 3, unary_cases()),
    OpSpec("scalar_rsub", lambda x: 2 - x, unary_cases()),
    OpSpec("scalar_mul", lambda x: x * -1.5, unary_cases()),
    OpSpec("scalar_rmul", lambda x: 3 * x, unary_cases()),
    OpSpec("scalar_div", lambda x: x / 4, unary_cases()),
    OpSpec("scalar_rdiv", lambda x: 2 / x, unary_cases(**NONZERO)),
    OpSpec("neg", lambda x: -x, unary_cases()),
    OpSpec("neg_method", lambda x: x.neg(), unary_cases()[:1]),
    OpSpec("pos", lambda x: +x, unary_cases()[:1]),
]

POWERS = [
    OpSpec("pow_square", lambda x: x**2, unary_cases()),
    OpSpec("pow_cube", lambda x: x.pow(3), unary_cases()),
    OpSpec("pow_zero", lambda x: x**0, unary_cases()),
    OpSpec("pow_half", lambda x: x**0.5, unary_cases(**POSITIVE)),
    OpSpec("pow_negative", lambda x: x**-1.5, unary_cases(**POSITIVE)),
    OpSpec("pow_tensor", lambda a, b: a**b, binary_cases(low=-2, high=2), low=0.2, high=3),
    OpSpec("rpow", lambda x: 2**x, unary_cases()),
    OpSpec("rpow_float", lambda x: 0.5**x, unary_cases()),
    OpSpec("pow_zero_base", lambda a, b: a**b, [
        # d/da at a = 0 with b = 0 is 0, and d/db at a = 0 with b >= 0 is 0, as in torch
        Case(In(values=[0.0, 0.0, 0.0, 2.0, 0.5]), In(values=[0.0, 1.0, 2.0, 0.0, 3.0]),
             gradcheck=False),
    ]),
    OpSpec("pow_scalar_at_zero", lambda x: x**2, [Case(In(values=[0.0, -1.0, 2.0]))]),
]

FUNCTIONS = [
    OpSpec("exp", lambda x: x.exp(), unary_cases()),
    OpSpec("log", lambda x: x.log(), unary_cases(**POSITIVE)),
    OpSpec("sqrt", lambda x: x.sqrt(), unary_cases(**POSITIVE)),
    OpSpec("abs", lambda x: x.abs(), unary_cases(**NONZERO)),
    OpSpec("abs_at_zero", lambda x: x.abs(), [Case(In(values=[0.0, -1.0, 2.0]), gradcheck=False)]),
    OpSpec("sin", lambda x: x.sin(), unary_cases()),
    OpSpec("cos", lambda x: x.cos(), unary_cases()),
    OpSpec("tanh", lambda x: x.tanh(), unary_cases()),
    OpSpec("sigmoid", lambda x: x.sigmoid(), unary_cases(low=-6, high=6)),
    OpSpec("sigmoid_tails", lambda x: x.sigmoid(), [
        Case(In(values=[-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0]), gradcheck=False),
        Case(In(values=[-100.0, -40.0, 40.0, 100.0]), label="gradcheck-tails"),
    ]),
    OpSpec("tanh_tails", lambda x: x.tanh(), [
        Case(In(values=[-1000.0, -20.0, 0.0, 20.0, 1000.0]), gradcheck=False)]),
    OpSpec("relu", lambda x: x.relu(), unary_cases(**NONZERO)),
    OpSpec("relu_at_zero", lambda x: x.relu(), [Case(In(values=[0.0, -1.0, 2.0]),
                                                     gradcheck=False)]),
    OpSpec("clamp_min", lambda x: x.clamp(min=-0.5), unary_cases(avoid=(-0.5,))),
    OpSpec("clamp_max", lambda x: x.clamp(max=0.5), unary_cases(avoid=(0.5,))),
    OpSpec("clamp_both", lambda x: x.clamp(-0.5, 0.5), unary_cases(avoid=(-0.5, 0.5))),
    OpSpec("clamp_min_above_max", lambda x: x.clamp(0.5, -0.5), unary_cases(avoid=(-0.5, 0.5))),
    OpSpec("clamp_at_bounds", lambda x: x.clamp(-0.5, 0.5), [
        Case(In(values=[-0.5, 0.5, 0.0, 1.0]), gradcheck=False)]),
    OpSpec("clip", lambda x: dg.clip(x, -1, 1), unary_cases(avoid=(-1, 1)),
           torch_fn=lambda x: torch.clip(x, -1, 1)),
    OpSpec("clamp_tensor_min", lambda x, lo: x.clamp(min=lo), [
        Case((3, 4), (3, 4)), Case((3, 4), (4,)), Case((3, 4), In((3, 1), requires_grad=False)),
    ]),
    OpSpec("clamp_tensor_max", lambda x, hi: x.clamp(max=hi), [Case((3, 4), (4,))]),
    OpSpec("clamp_tensor_both", lambda x, lo, hi: x.clamp(lo, hi), [
        Case((3, 4), In((4,), high=0), In((3, 1), low=0)),
        Case((3, 4), (4,), (3, 1), label="min-above-max-somewhere"),
        Case((3, 4), (3, 4), In((), requires_grad=False)),
    ]),
    OpSpec("clamp_tensor_ties", lambda x, lo, hi: x.clamp(lo, hi), [
        Case(In(values=[0.0, 1.0, -1.0, 2.0]), In(values=[0.0, 0.0, -1.0, 0.0]),
             In(values=[1.0, 1.0, 1.0, 2.0]), gradcheck=False),
    ]),
]

SELECTION = [
    OpSpec("maximum", lambda a, b: a.maximum(b), binary_cases()),
    OpSpec("minimum", lambda a, b: a.minimum(b), binary_cases()),
    OpSpec("maximum_ties", lambda a, b: dg.maximum(a, b), [
        Case(In(values=[1.0, 2.0, 3.0, -1.0]), In(values=[1.0, 0.0, 3.0, 5.0]), gradcheck=False),
        Case(In(values=[[1.0, 2.0], [0.0, -3.0]]), In(values=[2.0, -3.0]), gradcheck=False),
    ], torch_fn=lambda a, b: torch.maximum(a, b)),
    OpSpec("minimum_ties", lambda a, b: dg.minimum(a, b), [
        Case(In(values=[1.0, 2.0, 3.0, -1.0]), In(values=[1.0, 0.0, 3.0, 5.0]), gradcheck=False),
    ], torch_fn=lambda a, b: torch.minimum(a, b)),
    OpSpec("where", lambda c, a, b: dg.where(c, a, b), [
        Case(In((3, 4), dtype="bool"), (3, 4), (3, 4)),
        Case(In((3, 4), dtype="bool"), (4,), (3, 1)),
        Case(In((4,), dtype="bool"), (3, 4), ()),
        Case(In((), dtype="bool"), (2, 3), (2, 3)),
    ], torch_fn=lambda c, a, b: torch.where(c, a, b)),
    OpSpec("where_method", lambda a, c, b: a.where(c, b), [
        Case((3, 4), In((3, 4), dtype="bool"), (4,))]),
    OpSpec("where_scalar", lambda c, a: dg.where(c, a, 0.0), [
        Case(In((3, 4), dtype="bool"), (3, 4))], torch_fn=lambda c, a: torch.where(c, a, 0.0)),
    OpSpec("where_scalar_first", lambda c, a: dg.where(c, -1, a), [
        Case(In((3, 4), dtype="bool"), (3, 4))], torch_fn=lambda c, a: torch.where(c, -1, a)),
    OpSpec("masked_fill", lambda x, m: x.masked_fill(m, 0.5), [
        Case((3, 4), In((3, 4), dtype="bool")),
        Case((3, 4), In((4,), dtype="bool")),
        Case((3, 4), In((3, 1), dtype="bool")),
        Case((), In((), dtype="bool")),
    ]),
    OpSpec("masked_fill_neg_inf", lambda x, m: x.masked_fill(m, -INF), [
        Case((3, 4), In((3, 4), dtype="bool"), gradcheck=False, warns=True)]),
    OpSpec("masked_fill_tensor_value", lambda x, m, v: x.masked_fill(m, v), [
        Case((3, 4), In((3, 4), dtype="bool"), ()),
        Case((2, 3), In((3,), dtype="bool"), ()),
        Case((2, 3), In((2, 3), dtype="bool"), In((), requires_grad=False)),
    ]),
    OpSpec("clone", lambda x: x.clone(), unary_cases()),
    OpSpec("remainder", lambda a, b: a % b, [
        Case((3, 4), In((4,), low=0.5, high=2)),
        Case((3, 4), In((3, 4), low=-2, high=-0.5), label="negative-divisor"),
        Case((2, 3), In((), low=0.5, high=2)),
        Case(In((3, 4), dtype="int64", low=-9, high=9), In((4,), dtype="int64", low=1, high=5)),
    ], low=-5, high=5),
    OpSpec("remainder_scalar", lambda x: x % 1.5, unary_cases(low=-5, high=5)),
    # torch has no derivative for number % tensor: gradcheck only
    OpSpec("rmod", lambda x: 5 % x, [Case((3, 4), oracle=False)], low=0.5, high=2),
]

# forward only: bool results (or no gradient in deepgrad)
COMPARE_CASES = [
    Case((3, 4), (3, 4)), Case((3, 4), (4,)), Case((), (2, 3)),
    Case(In((3, 4), dtype="int64"), In((4,), dtype="int64"), label="int64"),
    Case(In((3, 4), dtype="int64"), (3, 4), label="int64,float"),
    Case(In(values=[1.0, 2.0, INF, -INF]), In(values=[1.0, 3.0, INF, 0.0]), label="equal-inf"),
]
LOGIC_CASES = [
    Case(In((3, 4), dtype="bool"), In((3, 4), dtype="bool")),
    Case(In((3, 4), dtype="bool"), In((4,), dtype="bool")),
    Case((3, 4), In((3, 4), dtype="int64"), label="float,int64"),
]
BITWISE_CASES = [
    Case(In((3, 4), dtype="bool"), In((4,), dtype="bool")),
    Case(In((3, 4), dtype="int64", low=-8, high=8), In((4,), dtype="int64", low=-8, high=8)),
]
INT_PAIRS = [Case(In((3, 4), dtype="int64", low=-9, high=9),
                  In((4,), dtype="int64", low=1, high=5), label="int64"),
             Case((3, 4), In((4,), low=0.5, high=2))]


def _forward_only(cases, **fns) -> list:
    return [OpSpec(name, fn, cases, grad=False) for name, fn in fns.items()]


def _torch_function(name):
    return lambda *args: getattr(torch, name)(*args)


SPECIALS = [Case(In(values=[0.0, -1.5, INF, -INF, float("nan")])), Case((3, 4)), Case(()),
            Case(In((3,), dtype="int64")), Case(In((), dtype="int64")),
            Case(In((3,), dtype="bool"))]
UNARY_LOGIC = [Case(In((3, 4), dtype="bool")), Case(In((), dtype="bool")),
               Case(In((3, 4), dtype="int64", low=-5, high=5))]

FORWARD_ONLY = (
    _forward_only(COMPARE_CASES, eq=lambda a, b: a == b, ne=lambda a, b: a != b,
                  lt=lambda a, b: a < b, le=lambda a, b: a <= b, gt=lambda a, b: a > b,
                  ge=lambda a, b: a >= b, eq_method=lambda a, b: a.eq(b),
                  gt_method=lambda a, b: a.gt(b))
    + _forward_only([Case((3, 4)), Case(In((3,), dtype="int64"))], lt_scalar=lambda a: a < 0.5,
                    ge_scalar=lambda a: a >= 1, eq_scalar=lambda a: a == 1)
    + [OpSpec(name, getattr(dg, name), LOGIC_CASES, torch_fn=_torch_function(name), grad=False)
       for name in ("logical_and", "logical_or", "logical_xor")]
    + _forward_only(BITWISE_CASES, bitwise_and=lambda a, b: a & b,
                    bitwise_or=lambda a, b: a | b, bitwise_xor=lambda a, b: a ^ b)
    + _forward_only(UNARY_LOGIC, bitwise_not=lambda a: ~a, logical_not=lambda a: a.logical_not())
    + _forward_only(SPECIALS, isnan=lambda a: a.isnan(), isinf=lambda a: a.isinf(),
                    isfinite=lambda a: a.isfinite(), sign=lambda a: a.sign())
    + _forward_only(INT_PAIRS, floor_divide=lambda a, b: a // b)
    + [OpSpec(f"div_{mode}", lambda a, b, mode=mode: dg.div(a, b, rounding_mode=mode), INT_PAIRS,
              torch_fn=lambda a, b, mode=mode: torch.div(a, b, rounding_mode=mode), grad=False)
       for mode in ("floor", "trunc")]
)


SPECS = ARITHMETIC + POWERS + FUNCTIONS + SELECTION + FORWARD_ONLY
test_gradcheck, test_oracle = make_tests(SPECS)


# -- edge cases ---------------------------------------------------------------------------------
def test_sigmoid_saturates_without_nan_or_warnings_in_float32():
    x = dg.tensor([-1000.0, -100.0, -88.5, 88.5, 100.0, 1000.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x.sigmoid()
        y.sum().backward()
    assert y.dtype == dg.float32 and x.grad.dtype == dg.float32
    assert np.isfinite(y.array).all() and np.isfinite(x.grad.array).all()
    assert (y.array[:3] < 1.2e-38).all() and (y.array[3:] == 1.0).all()
    assert (x.grad.array[[0, 1, 4, 5]] < 1.2e-38).all()


def test_ops_on_integer_tensors_compute_forward_like_torch():
    pytest.importorskip("torch")
    a, b = np.array([[3, -7, 0], [5, 2, -1]]), np.array([2, 3, -4])
    for op in (lambda x, y: x + y, lambda x, y: x * y - 1, lambda x, y: x.maximum(y),
               lambda x, y: x // y, lambda x, y: x % y, lambda x, y: x / y,
               lambda x, y: (-x).abs() ** 2, lambda x, y: x.clamp(-2, 2), lambda x, y: x.relu()):
        ours, theirs = op(dg.tensor(a), dg.tensor(b)), op(torch.tensor(a), torch.tensor(b))
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_allclose(ours.array, theirs.numpy(), rtol=1e-6)
        assert not ours.requires_grad


def test_backward_twice_needs_retain_graph():
    x = dg.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (x.exp() * x.sin()).sum()
    y.backward()
    first = x.grad.array.copy()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    x.grad = None
    z = (x.exp() * x.sin()).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad.array, 2 * first, rtol=1e-6)


def test_no_grad_records_nothing_and_enable_grad_records_again():
    x = dg.tensor([0.5, -1.0], requires_grad=True)
    with dg.no_grad():
        y = (x * 2).exp().clamp(max=1.0)
        with dg.enable_grad():
            z = x * 2
    assert y.grad_fn is None and not y.requires_grad
    assert z.grad_fn is not None and z.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_inplace_ops_follow_torch():
    pytest.importorskip("torch")
    a = np.array([0.5, -1.0, 2.0], np.float32)
    results = []
    for m in (dg, torch):
        x = m.tensor(a, requires_grad=True)
        y = x * 1
        y.mul_(3).add_(1).clamp_(max=4.0).tanh_()
        (y * x).sum().backward()
        results.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6)


def test_inplace_on_a_leaf_that_requires_grad_raises_unless_no_grad():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="mul_"):
        x.mul_(2)
    with dg.no_grad():
        x.mul_(2)
    np.testing.assert_array_equal(x.array, [2.0, 4.0])


def test_errors_name_the_op_and_the_shapes():
    a, b = dg.ones(2, 3), dg.ones(4)
    with pytest.raises(RuntimeError, match=r"add.*\(2, 3\).*\(4,\)"):
        a + b
    with pytest.raises(RuntimeError, match=r"mul.*\(2, 3\).*\(4,\)"):
        a * b
    with pytest.raises(RuntimeError, match=r"maximum.*\(2, 3\).*\(4,\)"):
        dg.maximum(a, b)
    with pytest.raises(TypeError, match="where.*bool"):
        dg.where(dg.ones(2, 3), a, a)
    with pytest.raises(RuntimeError, match=r"masked_fill.*\(4,\).*\(2, 3\)"):
        a.masked_fill(dg.ones(4, dtype=dg.bool), 0.0)
    with pytest.raises(RuntimeError, match="masked_fill.*0-d"):
        a.masked_fill(dg.ones(2, 3, dtype=dg.bool), dg.ones(2))
    with pytest.raises(ValueError, match="clamp"):
        a.clamp()
    with pytest.raises(ValueError, match="rounding_mode"):
        dg.div(a, a, rounding_mode="round")
    with pytest.raises(TypeError, match="bitwise_and.*float"):
        a & a


def test_maximum_ties_share_the_gradient_and_where_routes_it():
    a = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = dg.tensor([1.0, 5.0, 0.0], requires_grad=True)
    dg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.array, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.array, [0.5, 1.0, 0.0])
    a.grad = b.grad = None
    dg.where(dg.tensor([True, False, True]), a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.array, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.array, [0.0, 1.0, 0.0])


def test_binary_op_gradient_is_summed_back_to_a_broadcast_shape():
    # (100, 1) against (100, 1000): PyTorch #1787, Chainer #3398
    x = dg.ones(100, 1, requires_grad=True)
    y = dg.ones(100, 1000, requires_grad=True)
    (x * y).sum().backward()
    assert x.grad.shape == (100, 1) and y.grad.shape == (100, 1000)
    np.testing.assert_array_equal(x.grad.array, np.full((100, 1), 1000.0, np.float32))

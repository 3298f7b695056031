"""Reductions: gradcheck and torch oracle from declarations, then the edge cases."""

import numpy as np
import pytest
from harness import Case, In, OpSpec, make_tests, optional_torch

import deepgrad as dg

torch = optional_torch()

INF = float("inf")
TIES = [[1.0, 3.0, 3.0, -1.0], [3.0, 0.0, 3.0, 3.0], [2.0, 2.0, 2.0, 2.0]]
ZEROS = [[1.5, 0.0, 2.0, -1.0], [0.0, 0.0, 3.0, 2.0], [1.0, 2.0, -3.0, 0.5]]  # one, two, none


def method(name):
    """x.<name>(**case kwargs): the same call in deepgrad and torch."""
    return lambda x, **kw: getattr(x, name)(**kw)


def dim_cases(keepdim: bool = True) -> list:
    """No dim, an int, a negative int, a tuple, keepdim, a 0-d input."""
    cases = [Case((3, 4)), Case((3, 4), dim=1), Case((2, 3, 4), dim=-1), Case((), dim=0),
             Case(()), Case((2, 3, 4), dim=(0, 2))]
    if keepdim:
        cases += [Case((3, 4), dim=0, keepdim=True), Case((2, 3, 4), dim=(0, -1), keepdim=True)]
    return cases


EMPTY = [Case((0, 3)), Case((0, 3), dim=0), Case((0, 3), dim=1), Case((2, 0), dim=1)]
INTS = [Case(In((3, 4), dtype="int64", low=-5, high=5)),
        Case(In((3, 4), dtype="int32", low=-5, high=5), dim=1),
        Case(In((3, 4), dtype="bool"), dim=0)]

SUMS = [
    OpSpec("sum", method("sum"), dim_cases() + EMPTY + INTS),
    OpSpec("sum_positional", lambda x: x.sum(1, True), [Case((3, 4))]),
    OpSpec("sum_dtype", lambda x: dg.sum(x, 1, dtype=dg.float64), [Case((3, 4))],
           torch_fn=lambda x: torch.sum(x, 1, dtype=torch.float64)),
    OpSpec("mean", method("mean"), dim_cases() + [
        Case((0, 3), dim=1), Case((2, 0), dim=0),
        Case((0, 3), dim=0), Case((0, 3))]),
    OpSpec("var", method("var"), dim_cases() + [
        Case((3, 4), dim=1, correction=0), Case((3, 4), dim=0, correction=2),
        Case((3, 4), dim=1, unbiased=False), Case((3, 4), dim=(0, 1), unbiased=True, keepdim=True),
    ]),
    OpSpec("var_positional", lambda x: x.var(0, False), [Case((3, 4))]),
    OpSpec("std", method("std"), dim_cases() + [
        Case((3, 4), dim=1, correction=0), Case((3, 4), dim=(0, 1), unbiased=False)]),
    OpSpec("var_single_element", method("var"), [Case((1, 3), dim=0, warns=True)]),
    # two-pass variance: no cancellation far from 0 (E[x^2] - E[x]^2 would lose 1e-3 here)
    OpSpec("var_shifted", method("var"), [Case((4, 5), dim=1)], dtype="float64", low=1e6,
           high=1e6 + 1, rtol64=1e-7),
]

EXTREMES = [
    OpSpec("max", method("max"), [Case((3, 4)), Case(()), Case((2, 3, 4))]),
    OpSpec("min", method("min"), [Case((3, 4)), Case(()), Case((2, 3, 4))]),
    OpSpec("max_dim", method("max"), [
        Case((3, 4), dim=1), Case((3, 4), dim=0, keepdim=True), Case((2, 3, 4), dim=-1),
        Case((), dim=0), Case(In((3, 4), dtype="int64", low=-9, high=9), dim=1)]),
    OpSpec("min_dim", method("min"), [
        Case((3, 4), dim=1), Case((3, 4), dim=-2, keepdim=True), Case((), dim=0)]),
    OpSpec("max_ties", method("max"), [  # full reduction: ties share; along dim: the first one
        Case(In(values=TIES), gradcheck=False), Case(In(values=TIES), dim=1, gradcheck=False),
        Case(In(values=TIES), dim=0, keepdim=True, gradcheck=False)]),
    OpSpec("min_ties", method("min"), [
        Case(In(values=TIES), gradcheck=False), Case(In(values=TIES), dim=1, gradcheck=False)]),
    OpSpec("max_elementwise", lambda a, b: dg.max(a, b), [Case((3, 4), (4,))],
           torch_fn=lambda a, b: torch.max(a, b)),
    OpSpec("min_elementwise", lambda a, b: dg.min(a, b), [Case((3, 4), (3, 1))],
           torch_fn=lambda a, b: torch.min(a, b)),
    OpSpec("amax", method("amax"), dim_cases() + [
        Case(In(values=TIES), dim=1, gradcheck=False),
        Case(In(values=TIES), gradcheck=False),
        Case(In(values=TIES), dim=(0, 1), keepdim=True, gradcheck=False),
        Case(In((3, 4), dtype="int64", low=-9, high=9), dim=0)]),
    OpSpec("amin", method("amin"), dim_cases() + [
        Case(In(values=TIES), dim=0, gradcheck=False)]),
    OpSpec("argmax", method("argmax"), [
        Case((3, 4)), Case((3, 4), dim=1), Case((2, 3, 4), dim=-1, keepdim=True),
        Case(()), Case((), dim=0), Case(In(values=TIES), dim=1), Case(In(values=TIES)),
        Case(In((3, 4), dtype="int64", low=-3, high=3), dim=0), Case((3, 4), keepdim=True)],
           grad=False),
    OpSpec("argmin", method("argmin"), [
        Case((3, 4)), Case((3, 4), dim=0), Case(In(values=TIES), dim=1)], grad=False),
]

OTHERS = [
    OpSpec("logsumexp", method("logsumexp"), [
        Case((3, 4), dim=1), Case((3, 4), dim=0, keepdim=True), Case((2, 3, 4), dim=(0, 2)),
        Case((2, 3, 4), dim=-1, keepdim=True), Case((), dim=0),
        Case(In(values=[[1000.0, 1000.0, 999.0], [-1000.0, -1001.0, -999.0]]), dim=1)]),
    OpSpec("logsumexp_neg_inf", method("logsumexp"), [
        Case(In(values=[[-INF, 0.0, 1.0], [-INF, -INF, 2.0]]), dim=1, gradcheck=False),
        Case(In(values=[[-INF, -INF, -INF], [0.0, 1.0, 2.0]]), dim=1, gradcheck=False,
             warns=True, label="all-neg-inf-row"),
    ]),
    OpSpec("prod", method("prod"), [
        Case((3, 4)), Case((3, 4), dim=1), Case((3, 4), dim=0, keepdim=True),
        Case((2, 3, 4), dim=-1), Case(()), Case((), dim=0),
        Case(In(values=ZEROS), dim=1), Case(In(values=ZEROS), dim=0),
        Case(In(values=ZEROS[0]), label="one-zero"), Case(In(values=ZEROS[1]), label="two-zeros"),
        Case(In((3, 4), dtype="int64", low=-3, high=3), dim=1),
        Case(In((3, 4), dtype="int32", low=-3, high=3))]),
    OpSpec("all", method("all"), [
        Case(In((3, 4), dtype="bool")), Case(In((3, 4), dtype="bool"), dim=1),
        Case(In(values=[[1.0, 0.0], [2.0, 3.0]]), dim=1, keepdim=True),
        Case(In((0, 2), dtype="bool"))], grad=False),
    OpSpec("any", method("any"), [
        Case(In((3, 4), dtype="bool")), Case(In((3, 4), dtype="bool"), dim=0),
        Case(In(values=[[1.0, 0.0], [0.0, 0.0]]), dim=1), Case(In((0, 2), dtype="bool"))],
           grad=False),
]

SPECS = SUMS + EXTREMES + OTHERS
test_gradcheck, test_oracle = make_tests(SPECS)


# -- edge cases ---------------------------------------------------------------------------------
def test_empty_sums_to_zeros_and_means_to_nan():
    x = dg.zeros(0, 3, requires_grad=True)
    np.testing.assert_array_equal(x.sum(0).array, np.zeros(3, np.float32))
    assert x.sum().item() == 0.0 and x.sum(1).shape == (0,)
    m = x.mean(0)
    assert m.shape == (3,) and np.isnan(m.array).all() and m.dtype == dg.float32
    (x.sum(0) + m).sum().backward()
    assert x.grad.shape == (0, 3)


def test_integer_reductions():
    a = dg.tensor([[1, 2, 3], [4, 5, 6]], dtype=dg.int32)
    assert a.sum().dtype == dg.int64 and a.sum().item() == 21
    assert a.sum(1).tolist() == [6, 15]
    assert a.max().item() == 6 and a.max().dtype == dg.int32
    values, indices = a.max(1)
    assert values.tolist() == [3, 6] and indices.dtype == dg.int64 and indices.tolist() == [2, 2]
    assert a.argmin().item() == 0 and a.prod().item() == 720
    with pytest.raises(TypeError, match="mean.*int32"):
        a.mean()
    with pytest.raises(TypeError, match="var.*int32"):
        a.var()


def test_max_along_dim_sends_the_gradient_to_the_first_maximum():
    x = dg.tensor([[3.0, 1.0, 3.0], [0.0, 2.0, 2.0]], requires_grad=True)
    values, indices = x.max(dim=1)
    assert indices.tolist() == [0, 1] and not indices.requires_grad
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.array, [[1, 0, 0], [0, 1, 0]])
    x.grad = None
    x.amax(dim=1).sum().backward()  # amax: ties share
    np.testing.assert_array_equal(x.grad.array, [[0.5, 0, 0.5], [0, 0.5, 0.5]])


def test_prod_gradient_is_exact_with_zeros():
    x = dg.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]], requires_grad=True)
    x.prod(1).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [[0, 6, 0], [0, 0, 0], [8, 4, 2]])


def test_logsumexp_is_stable_and_handles_neg_inf_rows():
    x = dg.tensor([[1000.0, 1000.0], [-1000.0, -1000.0], [-INF, 0.0]], requires_grad=True)
    out = x.logsumexp(1)
    np.testing.assert_allclose(out.array, [1000 + np.log(2), -1000 + np.log(2), 0.0], rtol=1e-6)
    out.sum().backward()
    # exp(x - out) as in torch: |out| = 1000 costs float32 a few ulps of out
    np.testing.assert_allclose(x.grad.array, [[0.5, 0.5], [0.5, 0.5], [0.0, 1.0]], rtol=1e-4)
    assert dg.tensor([[-INF, -INF]]).logsumexp(1).item() == -INF


def test_reduction_keeps_float32_and_float64():
    for dt in (dg.float32, dg.float64):
        x = dg.randn(2, 3, dtype=dt, requires_grad=True)
        outs = [x.sum(), x.mean(0), x.var(1), x.std(), x.amax(0), x.logsumexp(1), x.prod(0)]
        sum(o.sum() for o in outs).backward()
        assert all(o.dtype == dt for o in outs) and x.grad.dtype == dt


def test_no_grad_and_retain_graph():
    x = dg.tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True)
    with dg.no_grad():
        assert x.var().grad_fn is None and x.max(0).values.grad_fn is None
    y = x.std(0).sum() + x.logsumexp(1).sum()
    y.backward(retain_graph=True)
    once = x.grad.array.copy()
    y.backward()
    np.testing.assert_allclose(x.grad.array, 2 * once)


def test_errors_name_the_op_and_the_problem():
    x = dg.ones(2, 3)
    with pytest.raises(IndexError, match=r"sum: dimension 2 .* 2 dimensions"):
        x.sum(2)
    with pytest.raises(IndexError, match="mean: dimension -3"):
        x.mean(-3)
    with pytest.raises(RuntimeError, match="var: dimension listed twice"):
        x.var((1, -1))
    with pytest.raises(RuntimeError, match=r"amax: cannot reduce an empty dimension.*\(0, 3\)"):
        dg.zeros(0, 3).amax(0)
    with pytest.raises(RuntimeError, match="max"):
        dg.zeros(0, 3).max()
    with pytest.raises(RuntimeError, match=r"argmax.*empty.*\(0,\)"):
        dg.zeros(0).argmax()
    with pytest.raises(IndexError, match="prod: dimension 5"):
        x.prod(5)
    for op in ("sum", "prod", "amax", "logsumexp", "max"):
        with pytest.raises(IndexError, match=f"{op}: dimension 1 .* 0 dimensions"):
            getattr(dg.tensor(2.0), op)(1)

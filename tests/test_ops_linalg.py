"""Matrix products: gradcheck and torch oracle from declarations, then errors and edge cases."""

import numpy as np
import pytest
from harness import Case, In, OpSpec, make_tests, optional_torch

import deepgrad as dg

torch = optional_torch()

INTS = dict(dtype="int64", low=-4, high=4)

SPECS = [
    OpSpec("matmul", lambda a, b: a @ b, [
        Case((4,), (4,)),
        Case((4,), (4, 3)),
        Case((3, 4), (4,)),
        Case((3, 4), (4, 2)),
        Case((2, 3, 4), (2, 4, 5)),
        Case((2, 1, 3, 4), (5, 4, 2)),
        Case((3, 4), (2, 4, 5)),
        Case((2, 3, 4), (4,)),
        Case((4,), (2, 4, 3)),
        Case((1, 4), (4, 1)),
        Case((3, 4), In((4, 2), requires_grad=False), label="3x4,4x2-nograd"),
        Case((0, 4), (4, 3)),
        Case((3, 0), (0, 2)),
        Case(In((3, 4), **INTS), In((4, 2), **INTS), label="int64"),
    ], rtol=1e-5, atol=1e-5),
    OpSpec("matmul_method", lambda a, b: a.matmul(b), [Case((2, 3), (3, 2))]),
    OpSpec("matmul_function", lambda a, b: dg.matmul(a, b), [Case((2, 2, 3), (3,))],
           torch_fn=lambda a, b: torch.matmul(a, b)),
    OpSpec("mm", lambda a, b: a.mm(b), [Case((3, 4), (4, 2)), Case((1, 4), (4, 1)),
                                         Case(In((2, 3), **INTS), In((3, 2), **INTS))]),
    OpSpec("bmm", lambda a, b: a.bmm(b), [Case((2, 3, 4), (2, 4, 5)), Case((1, 2, 2), (1, 2, 3))]),
    OpSpec("dot", lambda a, b: a.dot(b), [Case((5,), (5,)), Case((1,), (1,)),
                                           Case(In((4,), **INTS), In((4,), **INTS))]),
    OpSpec("outer", lambda a, b: a.outer(b), [Case((3,), (4,)), Case((1,), (2,))]),
    OpSpec("matmul_transposed", lambda a, b: a.T @ b.mT, [Case((4, 3), (2, 4))]),
]
test_gradcheck, test_oracle = make_tests(SPECS)


# -- errors and edge cases ----------------------------------------------------------------------
def test_errors_name_the_op_and_the_shapes():
    with pytest.raises(RuntimeError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        dg.ones(2, 3) @ dg.ones(4, 5)
    with pytest.raises(RuntimeError, match=r"matmul.*\(3,\) and \(4,\)"):
        dg.ones(3) @ dg.ones(4)
    with pytest.raises(RuntimeError, match="matmul: both arguments need at least 1 dimension"):
        dg.ones(()) @ dg.ones(3)
    with pytest.raises(RuntimeError, match=r"matmul: the batch dims of \(2, 3, 4\) and \(3, 4"):
        dg.ones(2, 3, 4) @ dg.ones(3, 4, 5)
    with pytest.raises(RuntimeError, match=r"mm: expects two matrices.*\(3,\)"):
        dg.ones(2, 3).mm(dg.ones(3))
    with pytest.raises(RuntimeError, match=r"bmm.*\(2, 3, 4\) and \(3, 4, 5\)"):
        dg.ones(2, 3, 4).bmm(dg.ones(3, 4, 5))
    with pytest.raises(RuntimeError, match=r"dot: expects two 1-D tensors.*\(2, 2\)"):
        dg.ones(2, 2).dot(dg.ones(2))
    with pytest.raises(RuntimeError, match=r"outer: expects two 1-D tensors.*\(2, 2\)"):
        dg.ones(2, 2).outer(dg.ones(3))


def test_empty_inner_dimension_gives_zeros_and_zero_gradients():
    a = dg.ones(3, 0, requires_grad=True)
    b = dg.ones(0, 2, requires_grad=True)
    out = a @ b
    np.testing.assert_array_equal(out.array, np.zeros((3, 2), np.float32))
    out.sum().backward()
    assert a.grad.shape == (3, 0) and b.grad.shape == (0, 2)


def test_broadcast_batch_gradient_is_summed_over_the_batch():
    a = dg.ones(2, 1, 3, 4, requires_grad=True)
    b = dg.ones(5, 4, 2, requires_grad=True)
    (a @ b).sum().backward()
    assert a.grad.shape == (2, 1, 3, 4) and b.grad.shape == (5, 4, 2)
    np.testing.assert_array_equal(a.grad.array, np.full((2, 1, 3, 4), 10.0, np.float32))
    np.testing.assert_array_equal(b.grad.array, np.full((5, 4, 2), 6.0, np.float32))


def test_matmul_keeps_float32_and_records_nothing_under_no_grad():
    a = dg.randn(3, 4, requires_grad=True)
    b = dg.randn(4, 2, dtype=dg.float32)
    out = a @ b
    out.sum().backward(retain_graph=True)
    assert out.dtype == dg.float32 and a.grad.dtype == dg.float32
    once = a.grad.array.copy()
    out.sum().backward()
    np.testing.assert_allclose(a.grad.array, 2 * once)
    with dg.no_grad():
        assert (a @ b).grad_fn is None

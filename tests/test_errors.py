"""Errors that help: a user's mistake names the operation and the shapes, dtypes or values."""

import re

import pytest

import deepgrad as dg
import deepgrad.nn.functional as F

A, B = dg.zeros(2, 3), dg.zeros(4, 5)
I64 = dg.tensor([1, 2])


def _shapes(*shapes) -> str:
    """A pattern that requires every shape to appear in the message, in this order."""
    return ".*".join(re.escape(str(s)) for s in shapes)


SHAPE_ERRORS = {
    "add": (lambda: A + B, "add", [(2, 3), (4, 5)]),
    "sub": (lambda: A - dg.zeros(3, 2), "sub", [(2, 3), (3, 2)]),
    "mul": (lambda: A * B, "mul", [(2, 3), (4, 5)]),
    "div": (lambda: A / dg.zeros(4), "div", [(2, 3), (4,)]),
    "maximum": (lambda: dg.maximum(A, B), "maximum", [(2, 3), (4, 5)]),
    "where": (lambda: dg.where(A > 0, A, B), "where", [(2, 3), (4, 5)]),
    "matmul": (lambda: A @ B, "matmul", [(2, 3), (4, 5)]),
    "matmul_1d": (lambda: dg.zeros(3) @ dg.zeros(4), "matmul", [(3,), (4,)]),
    "bmm": (lambda: dg.bmm(dg.zeros(2, 3, 4), dg.zeros(2, 5, 6)), "m", [(2, 3, 4), (2, 5, 6)]),
    "reshape": (lambda: A.reshape(4, 2), "reshape", [(4, 2), (2, 3)]),
    "view": (lambda: A.view(7), "(reshape|view)", [(7,), (2, 3)]),
    "cat": (lambda: dg.cat([A, B]), "cat", [(4, 5), (2, 3)]),
    "stack": (lambda: dg.stack([A, B]), "stack", [(4, 5), (2, 3)]),
    "expand": (lambda: A.expand(4, 3), "expand", [(2, 3), (4, 3)]),
    "setitem": (lambda: A.__setitem__(0, dg.zeros(4)), "setitem", [(2, 3), (4,)]),
    "getitem": (lambda: A[5], "getitem", [(2, 3)]),
    "getitem_too_many": (lambda: A[0, 0, 0], "getitem", [(2, 3)]),
    "bool_mask": (lambda: A[dg.zeros(3, dtype=dg.bool)], "getitem", [(2, 3)]),
    "masked_fill": (lambda: A.masked_fill(dg.zeros(4) > 0, 1.0), "masked_fill", [(4,), (2, 3)]),
    "masked_select": (lambda: dg.masked_select(A, dg.zeros(4) > 0), "masked_select",
                      [(4,), (2, 3)]),
    "iadd": (lambda: A.__iadd__(dg.zeros(2, 1, 3)), "iadd", [(2, 2, 3), (2, 3)]),
    "gather": (lambda: dg.gather(A, 1, dg.tensor([[5]])), "gather", [(2, 3)]),
    "gather_ndim": (lambda: dg.gather(A, 1, dg.tensor([0])), "gather", [(1,), (2, 3)]),
    "index_select": (lambda: dg.index_select(A, 0, dg.tensor([3])), "index_select", [(2, 3)]),
    "scatter_add": (lambda: dg.scatter_add(A, 0, dg.tensor([[0, 1, 1, 1]]), dg.ones(1, 4)),
                    "scatter_add", [(1, 4), (2, 3)]),
    "repeat": (lambda: A.repeat(2), "repeat", [(2, 3)]),
    "permute": (lambda: A.permute(1, 0, 2), "permute", [(2, 3)]),
    "pad": (lambda: F.pad(A, (1,)), "pad", [(2, 3)]),
    "pad_reflect": (lambda: F.pad(A, (3, 3), mode="reflect"), "pad", [(2, 3)]),
    "split": (lambda: A.split([1, 1], 1), "split", []),
    "backward_gradient": (lambda: (dg.ones(2, requires_grad=True) * 2).backward(dg.ones(3)),
                          "backward", [(3,), (2,)]),
    "backward_non_scalar": (lambda: (dg.ones(2, requires_grad=True) * 2).backward(), "backward",
                            [(2,)]),
    "item": (lambda: A.item(), "item", [(2, 3)]),
}


@pytest.mark.parametrize("name", SHAPE_ERRORS)
def test_shape_errors_name_the_operation_and_the_shapes(name):
    make, op, shapes = SHAPE_ERRORS[name]
    with pytest.raises((RuntimeError, ValueError, IndexError)) as info:
        make()
    message = str(info.value)
    assert re.search(op, message), message
    assert re.search(_shapes(*shapes), message), message
    assert "Traceback" not in message


DIM_ERRORS = {
    "sum": lambda: A.sum(2), "max": lambda: A.max(5), "transpose": lambda: A.transpose(0, 2),
    "squeeze": lambda: A.squeeze(3),
    "cat": lambda: dg.cat([A, A], dim=3), "size": lambda: A.size(-3),
    "flatten": lambda: A.flatten(0, 2), "gather": lambda: dg.gather(A, 2, dg.tensor([[0]])),
}


@pytest.mark.parametrize("name", DIM_ERRORS)
def test_dimension_out_of_range_names_the_operation_and_the_range(name):
    with pytest.raises(IndexError, match=r"out of range.*2 dimensions.*\[-2, 1\]") as info:
        DIM_ERRORS[name]()
    assert str(info.value).startswith(name + ":"), str(info.value)


DTYPE_ERRORS = {
    "mean_int": (lambda: I64.mean(), "mean", "int64"),
    "bitwise_float": (lambda: A & A, "bitwise_and", "float32"),
    "masked_fill_float_mask": (lambda: A.masked_fill(A, 1.0), "masked_fill", "float32"),
    "where_int_condition": (lambda: dg.where(I64, 1.0, 2.0), "where", "int64"),
    "float_index": (lambda: A[dg.tensor([0.5])], "index", "float32"),
    "gather_float_index": (lambda: dg.gather(A, 1, dg.tensor([[0.5]])), "gather", "float32"),
    "masked_select_int_mask": (lambda: dg.masked_select(I64, I64), "masked_select", "int64"),
    "requires_grad_int": (lambda: I64.requires_grad_(), "floating point", "int64"),
    "gradcheck_float32": (lambda: dg.autograd.gradcheck(lambda x: x, [dg.ones(1).requires_grad_()]),
                          "gradcheck", "float32"),
    "randn_int": (lambda: dg.randn(2, dtype=dg.int64), "randn", "int64"),
    "unsupported": (lambda: dg.zeros(2, dtype="complex64"), "dtype", "complex64"),
}


@pytest.mark.parametrize("name", DTYPE_ERRORS)
def test_dtype_errors_name_the_dtypes(name):
    make, op, dtype = DTYPE_ERRORS[name]
    with pytest.raises((TypeError, RuntimeError, IndexError)) as info:
        make()
    message = str(info.value)
    assert op in message and dtype in message, message


@pytest.mark.parametrize("op", [lambda x: x.add_(1.5), lambda x: x.log_(), lambda x: x.div_(2)])
def test_in_place_op_that_changes_the_dtype_is_an_error(op):
    x = dg.tensor([1, 2])
    with pytest.raises(RuntimeError, match="int64"):
        op(x)


def test_value_errors_name_the_values():
    with pytest.raises(IndexError, match=r"unsqueeze: dimension 4 .*\[-3, 2\]"):
        A.unsqueeze(4)
    with pytest.raises(RuntimeError, match=r"split: split_size must be positive, got 0"):
        A.split(0)
    with pytest.raises(RuntimeError, match=r"chunk: chunks must be positive, got 0"):
        A.chunk(0)
    with pytest.raises(RuntimeError, match=r"randint: low \(3\) must be below high \(1\)"):
        dg.randint(3, 1, (2,))
    with pytest.raises(IndexError, match=r"index_select: .*\[-2, 1\].*3"):
        dg.index_select(A, 0, dg.tensor([3]))
    with pytest.raises(NotImplementedError, match="pad: mode 'bogus'"):
        F.pad(A, (1, 1), mode="bogus")
    with pytest.raises(RuntimeError, match="pad: negative padding"):
        F.pad(A, (-1, 1), mode="replicate")


def test_autograd_errors_say_what_to_do():
    x = dg.ones(2, requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    with pytest.raises(RuntimeError, match=r"no_grad"):
        x.add_(1)
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        dg.ones(2).sum().backward()
    with pytest.raises(RuntimeError, match=r"detach\(\)"):
        x.numpy()


def test_errors_from_numpy_inside_a_primitive_name_the_primitive():
    class Broken(dg.autograd.Function):
        __slots__ = ()

        def forward(self, x):
            return x.reshape(7)

    with pytest.raises(ValueError, match=r"broken: .*\(2, 3\) float32"):
        Broken.apply(A)

"""PyTorch's type promotion: result_dtype and the dtypes that operations produce, vs torch."""

import itertools

import numpy as np
import pytest

import deepgrad as dg

torch = pytest.importorskip("torch")

DTYPES = ["bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64"]


def _values(dtype: str, shape: tuple) -> np.ndarray:
    """Values that are exact in every dtype and never zero (they divide)."""
    return np.asarray(np.arange(1, 4)[:shape[0]] if shape else np.array(3)).astype(dtype)


def _pair(kind):
    """(deepgrad operand, torch operand) for ("tensor"|"0d", dtype) or a Python number."""
    if not isinstance(kind, tuple):
        return kind, kind
    where, dtype = kind
    a = _values(dtype, (3,) if where == "tensor" else ())
    return dg.tensor(a), torch.tensor(a)


OPERANDS = ([("tensor", d) for d in DTYPES] + [("0d", d) for d in DTYPES] + [True, 2, 2.5])
GRID = [(a, b) for a, b in itertools.product(OPERANDS, repeat=2)
        if isinstance(a, tuple) or isinstance(b, tuple)]


def _np(torch_dtype) -> np.dtype:
    return torch.empty(0, dtype=torch_dtype).numpy().dtype


@pytest.mark.parametrize("a, b", GRID, ids=repr)
def test_result_dtype_matches_torch_result_type(a, b):
    (da, ta), (db, tb) = _pair(a), _pair(b)
    assert np.dtype(dg.result_dtype(da, db)) == _np(torch.result_type(ta, tb))


@pytest.mark.parametrize("a, b", GRID, ids=repr)
def test_binary_ops_promote_like_torch(a, b):
    (da, ta), (db, tb) = _pair(a), _pair(b)
    ops = [("add", lambda x, y: x + y), ("mul", lambda x, y: x * y),
           ("div", lambda x, y: x / y), ("maximum", None), ("eq", lambda x, y: x == y)]
    for name, op in ops:
        if name == "maximum":
            if not (isinstance(a, tuple) and isinstance(b, tuple)):
                continue  # torch.maximum takes tensors only
            ours, theirs = dg.maximum(da, db), torch.maximum(ta, tb)
        else:
            ours, theirs = op(da, db), op(ta, tb)
        assert ours.array.dtype == _np(theirs.dtype), f"{name}({a}, {b})"
        np.testing.assert_allclose(ours.array.astype(np.float64),
                                   theirs.numpy().astype(np.float64), rtol=1e-3,
                                   err_msg=f"{name}({a}, {b})")


def test_sub_and_where_promote_like_torch():
    for a, b in GRID:
        if "bool" in (a[1] if isinstance(a, tuple) else None, b[1] if isinstance(b, tuple)
                      else None) or isinstance(a, bool) or isinstance(b, bool):
            continue  # bool subtraction is an error in torch
        (da, ta), (db, tb) = _pair(a), _pair(b)
        assert (da - db).dtype.np == _np((ta - tb).dtype), (a, b)
    cond = np.array([True, False, True])
    for a, b in GRID:
        (da, ta), (db, tb) = _pair(a), _pair(b)
        ours = dg.where(dg.tensor(cond), da, db)
        theirs = torch.where(torch.tensor(cond), ta, tb)
        assert ours.dtype.np == _np(theirs.dtype), (a, b)


@pytest.mark.parametrize("expr, expected", [
    (lambda m: m.tensor([1, 2]) + 2.5, "float32"),                  # int tensor + float
    (lambda m: m.tensor([1, 2]) * 2, "int64"),                      # int tensor * int
    (lambda m: m.ones(2) + m.tensor(2.0, dtype=m.float64), "float32"),  # float64 0-d loses
    (lambda m: m.ones(2) + m.ones(2, dtype=m.float64), "float64"),  # float64 with dims wins
    (lambda m: m.tensor([1, 2]) / m.tensor([2, 4]), "float32"),     # int / int: true division
    (lambda m: m.tensor([True, False]) + m.tensor([1, 2]), "int64"),  # bool + int
    (lambda m: m.tensor([True, False]) + 1, "int64"),
    (lambda m: m.tensor([True, False]) * 1.5, "float32"),
    (lambda m: m.tensor([1, 2], dtype=m.int32) + m.tensor(5), "int32"),  # int64 0-d loses
    (lambda m: m.tensor([1, 2], dtype=m.uint8) + m.tensor([1], dtype=m.int8), "int16"),
    (lambda m: m.tensor([1, 2], dtype=m.int32) + m.tensor(2.5, dtype=m.float64), "float64"),
    (lambda m: m.tensor([1, 2]).sum(), "int64"),                    # int64 sum
    (lambda m: m.tensor([1, 2], dtype=m.int32).sum(), "int64"),     # int32 sums to int64
    (lambda m: m.tensor([True, True]).sum(), "int64"),
    (lambda m: m.tensor([1, 2], dtype=m.int32).prod(), "int64"),
    (lambda m: m.tensor([1, 2]).exp(), "float32"),                  # functions of ints: floats
    (lambda m: m.tensor([1, 2]).sqrt(), "float32"),
    (lambda m: m.tensor([1, 2]).sigmoid(), "float32"),
    (lambda m: m.tensor([1, 2]).logsumexp(0), "float32"),
    (lambda m: m.tensor([1, 2]) ** 2, "int64"),
    (lambda m: m.tensor([1, 2]) ** 0.5, "float32"),
    (lambda m: 2 ** m.tensor([1, 2]), "int64"),
    (lambda m: 2.0 ** m.tensor([1, 2]), "float32"),
    (lambda m: m.tensor([1, 2]).clamp(0.5, 1.5), "float32"),
    (lambda m: m.tensor([1, 5]).clamp(min=2), "int64"),
    (lambda m: m.tensor([1.0, 2.0]) @ m.tensor([1.0, 2.0]), "float32"),
    (lambda m: m.tensor([1, 2]) @ m.tensor([3, 4]), "int64"),
    (lambda m: m.tensor([1, 2]) > 1.5, "bool"),
    (lambda m: m.tensor([1, 2]).abs(), "int64"),
    (lambda m: -m.tensor([1, 2], dtype=m.int32), "int32"),
    (lambda m: m.tensor([1.0, 2.0], dtype=m.float16) + 1.5, "float16"),
    (lambda m: m.tensor([1, 2], dtype=m.int32).max(), "int32"),
    (lambda m: m.tensor([3, 2]).argmax(), "int64"),
], ids=lambda x: x if isinstance(x, str) else "")
def test_result_dtypes_of_examples(expr, expected):
    ours, theirs = expr(dg), expr(torch)
    assert str(theirs.dtype) == f"torch.{expected}"  # the example states torch's rule
    assert ours.dtype.name == expected
    np.testing.assert_allclose(ours.array.astype(np.float64),
                               theirs.numpy().astype(np.float64), rtol=1e-3)


def test_python_floats_follow_the_default_dtype():
    dg.set_default_dtype(dg.float64)
    torch.set_default_dtype(torch.float64)
    for m in (dg, torch):
        assert str((m.tensor([1, 2]) + 2.5).dtype).endswith("float64")
        assert str((m.tensor([1, 2]) / 2).dtype).endswith("float64")
        assert str(m.tensor([1, 2]).exp().dtype).endswith("float64")
        assert str((m.ones(2, dtype=m.float32) + 2.5).dtype).endswith("float32")


@pytest.mark.parametrize("other_dtype", ["float64", "float16"])
def test_mixed_float_gradients_come_back_in_each_inputs_dtype(other_dtype):
    a = np.array([0.5, -1.0, 2.0], np.float32)
    b = np.array([[1.5], [0.25]], other_dtype)
    grads = []
    for wrap in (dg.tensor, torch.tensor):
        x, y = wrap(a, requires_grad=True), wrap(b, requires_grad=True)
        out = x * y + x.exp() / y
        (out * 2).sum().backward()
        grads.append((out, x.grad, y.grad))
    (o, gx, gy), (to, tgx, tgy) = grads
    assert o.dtype.np == _np(to.dtype)
    assert gx.dtype == dg.float32 and gy.dtype.name == other_dtype
    np.testing.assert_allclose(gx.array, tgx.numpy(), rtol=1e-3)
    np.testing.assert_allclose(gy.array, tgy.numpy(), rtol=1e-3)


def test_integer_tensors_cannot_require_grad_but_mix_with_ones_that_do():
    with pytest.raises(RuntimeError, match="floating point"):
        dg.tensor([1, 2]).requires_grad_()
    x = dg.tensor([0.5, 1.5], requires_grad=True)
    (x * dg.tensor([2, 3])).sum().backward()
    assert x.grad.dtype == dg.float32
    np.testing.assert_array_equal(x.grad.array, [2.0, 3.0])

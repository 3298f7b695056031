"""Operands of an operation: turning values into tensors, and PyTorch's type promotion.

PyTorch ranks dtypes by category (bool < integer < floating). Tensors with dimensions decide the
result unless a 0-d tensor or a Python number is of a higher category: ``float32 + 2.5`` stays
float32, ``int64 + 2.5`` becomes the default float (float32), ``float32 + float64 0-d`` stays
float32. NumPy's own rules differ (``int64 + 2.5`` is float64 there), so the casts are made here.
"""

from __future__ import annotations

import numbers

import numpy as np

from deepgrad import backend
from deepgrad.autograd import Function
from deepgrad.tensor import Tensor, _from_data

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}
# Python number types that leave a tensor of this dtype kind unchanged (checked first: fast)
_SAME_KIND = {"f": (float, int), "i": (int,), "u": (int,)}


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """A tensor for x; scalars take like's dtype when that does not change their category."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, numbers.Number) and not isinstance(x, complex):
        return Tensor._make(np.asarray(x, dtype=_scalar_dtype(x, like.array.dtype)), None)
    return Tensor._make(_from_data(x, None), None)


def _scalar_dtype(x, dt):
    category = 0 if isinstance(x, (bool, np.bool_)) else 1 if isinstance(x, numbers.Integral) else 2
    if category <= _CATEGORY[dt.kind]:
        return dt
    return backend.get_default_dtype().np if category == 2 else np.dtype(np.int64)


def promote_pair(a, b):
    """The result dtype of two NumPy dtypes under PyTorch's table (int + float -> the float)."""
    if a == b:
        return a
    ca, cb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


def result_dtype(*operands):
    """PyTorch's result type of tensors and Python numbers (torch.result_type)."""
    dims, zeros, scalars = [], [], []
    for x in operands:
        if isinstance(x, Tensor):
            (dims if x.array.ndim else zeros).append(x.array.dtype)
        elif isinstance(x, (numbers.Number, np.generic)):
            scalars.append(_scalar_dtype(x, np.dtype(bool)))
    return _combine(_fold(dims), _combine(_fold(zeros), _fold(scalars)))


def _fold(dtypes):
    out = None
    for d in dtypes:
        out = d if out is None else promote_pair(out, d)
    return out


def _combine(higher, lower):
    if higher is None:
        return lower
    if lower is None or higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return promote_pair(higher, lower)
    return higher


def binary_operands(a, b):
    """Bring a and b (tensors or numbers, at least one a tensor) to the common dtype.

    Python numbers are passed through as they are when NumPy keeps the tensor's dtype with
    them, so ``x * 2`` costs no extra array.
    """
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and type(b) in _SAME_KIND.get(a.array.dtype.kind, ()):
        return a, b  # the common `x * 0.5`: NumPy keeps x's dtype
    if ta and tb:
        da, db = a.array.dtype, b.array.dtype
        if da == db:
            return a, b
        out = result_dtype(a, b)
        return _cast(a, out), _cast(b, out)
    t, s = (a, b) if ta else (b, a)
    if isinstance(s, np.generic):
        s = s.item()
    if not isinstance(s, numbers.Number):
        s = as_tensor(s)
        return binary_operands(a if ta else s, s if ta else b)
    dt = t.array.dtype
    if _scalar_dtype(s, dt) != dt:
        t = _cast(t, result_dtype(t, s))
    return (t, s) if ta else (s, t)


def float_operand(x: Tensor) -> Tensor:
    """x as a floating tensor (exp, log, division of integers give floats, as in PyTorch)."""
    if x.array.dtype.kind == "f":
        return x
    return _cast(x, backend.get_default_dtype().np)


def _cast(x: Tensor, dt) -> Tensor:
    if x.array.dtype == dt:
        return x
    return Cast.apply(x, dtype=dt)


class Cast(Function):
    """Change the dtype; the gradient goes back in the input's dtype."""
    __slots__ = ("in_dtype",)

    def forward(self, x, dtype):
        self.in_dtype = x.dtype
        return x.astype(dtype)

    def backward(self, g):
        return g.astype(self.in_dtype, copy=False)


def to(input: Tensor, *args, **kwargs) -> Tensor:
    """``x.to(dtype)``, ``x.to("cpu")``, ``x.to(other)``: a differentiable dtype change."""
    dtype = kwargs.get("dtype")
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, str) and a not in backend._BY_NAME:
            if a.split(":")[0] != "cpu":
                raise RuntimeError(f"to(): device {a!r} is not available; deepgrad runs on 'cpu'")
        elif a is not None:
            dtype = a
    if dtype is None:
        return input
    dt = backend.as_dtype(dtype).np
    if input.array.dtype == dt:
        return input
    if input._requires_grad and dt.kind != "f":
        return Tensor._make(input.array.astype(dt), None)
    return Cast.apply(input, dtype=dt)

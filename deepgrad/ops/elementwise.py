"""Elementwise primitives: arithmetic, the classic functions and activations, selection.

Each primitive's derivative sits next to its forward. Gradients may keep the broadcast shape:
the engine sums them back to each input's shape.
"""

from __future__ import annotations

import numpy as np

from deepgrad.autograd import Function
from deepgrad.ops import fused
from deepgrad.ops.promote import as_tensor, binary_operands, float_operand, result_dtype
from deepgrad.tensor import Tensor


# -- arithmetic ---------------------------------------------------------------------------------
class Add(Function):
    __slots__ = ()

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    __slots__ = ()

    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Function):
    __slots__ = ("a", "b")

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        need_a, need_b = self.needs_input_grad
        return (g * self.b if need_a else None), (g * self.a if need_b else None)


class Div(Function):
    __slots__ = ("b", "out")

    def forward(self, a, b):
        self.b = b
        self.out = a / b
        return self.out

    def backward(self, g):
        ga = g / self.b
        return ga, (-ga * self.out if self.needs_input_grad[1] else None)


class Pow(Function):
    __slots__ = ("out", "a", "b")

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, g):
        a, b = self.a, self.b
        ga = gb = None
        if self.needs_input_grad[0]:
            if _is_number(b):
                ga = g * b * a ** (b - 1) if b != 0 else g * 0
            else:  # 0 where b == 0, even at a == 0 (where a ** -1 is inf), as in PyTorch
                with np.errstate(divide="ignore", invalid="ignore"):
                    ga = g * np.where(b == 0, 0, b * a ** (b - 1))
        if self.needs_input_grad[1]:
            # d(a**b)/db = a**b * log(a), taken as 0 where a == 0 and b >= 0 (as PyTorch does)
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.log(a, dtype=self.out.dtype)  # a Python number must not upcast
                gb = g * np.where((a == 0) & (b >= 0), 0, self.out * log_a)
        return ga, gb


class Neg(Function):
    __slots__ = ()

    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


def _is_number(x) -> bool:
    return not isinstance(x, np.ndarray)


def add(input, other, *, alpha=1) -> Tensor:
    if alpha != 1:
        other = mul(other, alpha)
    return Add.apply(*binary_operands(input, other))


def sub(input, other, *, alpha=1) -> Tensor:
    if alpha != 1:
        other = mul(other, alpha)
    return Sub.apply(*binary_operands(input, other))


def rsub(input, other) -> Tensor:
    return Sub.apply(*binary_operands(other, input))


def mul(input, other) -> Tensor:
    return Mul.apply(*binary_operands(input, other))


def div(input, other, *, rounding_mode=None) -> Tensor:
    """True division; integers divide into the default float dtype, as in PyTorch."""
    a, b = binary_operands(input, other)
    if rounding_mode is not None:
        return _rounded_div(a, b, rounding_mode)
    if isinstance(a, Tensor) and a.array.dtype.kind != "f":
        a = float_operand(a)
        b = float_operand(b) if isinstance(b, Tensor) else b
    elif isinstance(b, Tensor) and b.array.dtype.kind != "f":
        b = float_operand(b)
    return Div.apply(a, b)


def rdiv(input, other) -> Tensor:
    return div(other, input)


def _rounded_div(a, b, mode: str) -> Tensor:
    if mode not in ("floor", "trunc"):
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {mode!r}")
    av, bv = getattr(a, "array", a), getattr(b, "array", b)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.floor_divide(av, bv) if mode == "floor" else np.trunc(np.true_divide(av, bv))
    out_dtype = result_dtype(a, b)
    return Tensor._make(np.asarray(q).astype(out_dtype, copy=False), None)


def floor_divide(input, other) -> Tensor:
    return div(input, other, rounding_mode="floor")


class Remainder(Function):
    __slots__ = ("a", "b")

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.remainder(a, b)

    def backward(self, g):
        # a % b = a - floor(a / b) * b
        need_b = self.needs_input_grad[1]
        return g, (-g * np.floor_divide(self.a, self.b) if need_b else None)


def remainder(input, other) -> Tensor:
    """Python's modulo (the result has the divisor's sign)."""
    return Remainder.apply(*binary_operands(input, other))


def pow(input, exponent) -> Tensor:
    a, b = binary_operands(input, exponent)
    return Pow.apply(a, b)


def rpow(input, other) -> Tensor:
    return pow(other, input)


def neg(input) -> Tensor:
    return Neg.apply(input)


# -- functions of one input ---------------------------------------------------------------------
class Exp(Function):
    __slots__ = ("out",)

    def forward(self, x):
        self.out = np.exp(x)
        return self.out

    def backward(self, g):
        return g * self.out


class Log(Function):
    __slots__ = ("x",)

    def forward(self, x):
        self.x = x
        return np.log(x)

    def backward(self, g):
        return g / self.x


class Sqrt(Function):
    __slots__ = ("out",)

    def forward(self, x):
        self.out = np.sqrt(x)
        return self.out

    def backward(self, g):
        return g / (2 * self.out)


class Abs(Function):
    __slots__ = ("x",)

    def forward(self, x):
        self.x = x
        return np.abs(x)

    def backward(self, g):
        return g * np.sign(self.x)


class Sin(Function):
    __slots__ = ("x",)

    def forward(self, x):
        self.x = x
        return np.sin(x)

    def backward(self, g):
        return g * np.cos(self.x)


class Cos(Function):
    __slots__ = ("x",)

    def forward(self, x):
        self.x = x
        return np.cos(x)

    def backward(self, g):
        return -g * np.sin(self.x)


class Tanh(Function):
    __slots__ = ("out",)

    def forward(self, x):
        self.out = np.tanh(x)
        return self.out

    def backward(self, g):
        return g * (1 - self.out * self.out)


class Sigmoid(Function):
    __slots__ = ("out",)

    def forward(self, x):
        # 1 / (1 + e^-x) is accurate in both tails; capping -x where e^-x would overflow changes
        # only results that are 0 to within the dtype's smallest normal number.
        out = np.negative(x, out=np.empty_like(x))  # out=: an array even when x is 0-d
        np.minimum(out, _EXP_MAX.get(x.dtype, 88.0), out=out)
        np.exp(out, out=out)
        out += 1
        self.out = np.reciprocal(out, out=out)
        return out

    def backward(self, g):
        return g * self.out * (1 - self.out)


_EXP_MAX = {np.dtype(np.float16): 11.0, np.dtype(np.float32): 88.0, np.dtype(np.float64): 709.0}


class ReLU(Function):
    """max(x, 0). Through the compiled kernels of ``deepgrad.ops.fused`` where available (one
    pass each way; the output, usually kept by the next layer anyway, tells backward where x was
    positive), else NumPy with a saved mask."""
    __slots__ = ("mask", "out")

    def forward(self, x):
        out = np.empty_like(x)
        views = fused.flat(x, out)
        if views is not None:
            fused.relu(*views)
            self.out, self.mask = out, None
            return out
        self.mask, self.out = x > 0, None
        return np.maximum(x, 0, out=out)

    def backward(self, g):
        if self.mask is not None:
            return g * self.mask
        dx = np.empty_like(self.out)  # in the output's layout, whatever g's
        views = fused.flat(g, self.out, dx)
        if views is None:
            return np.multiply(g, self.out > 0, out=dx)
        fused.relu_grad(*views)
        return dx


class Clamp(Function):
    __slots__ = ("x", "lo", "hi")

    def forward(self, x, lo, hi):
        self.x, self.lo, self.hi = x, lo, hi
        return np.clip(x, lo, hi)

    def backward(self, g):
        # as in PyTorch: x's gradient passes where min <= x <= max; a tensor bound gets it
        # where it is the result (max wins where min > max); ties go to x
        x, lo, hi = self.x, self.lo, self.hi
        zero = np.zeros((), g.dtype)
        above = True if lo is None else x >= lo
        below = True if hi is None else x <= hi
        need_x, need_lo, need_hi = self.needs_input_grad
        gx = np.where(above & below, g, zero) if need_x else None
        glo = np.where(~above & (True if hi is None else lo < hi), g, zero) if need_lo else None
        ghi = np.where(~below | (False if lo is None else hi < lo), g, zero) if need_hi else None
        return gx, glo, ghi


def _unary(cls):
    def op(input) -> Tensor:
        return cls.apply(float_operand(input))

    op.__name__ = cls.__name__.lower()
    op.__doc__ = f"Elementwise {op.__name__}, differentiable."
    return op


exp, log, sqrt, sin, cos, tanh, sigmoid = map(_unary, (Exp, Log, Sqrt, Sin, Cos, Tanh, Sigmoid))


def abs(input) -> Tensor:
    return Abs.apply(input)


def relu(input) -> Tensor:
    return ReLU.apply(input)


def clamp(input, min=None, max=None) -> Tensor:
    """Limit values to [min, max]; tensor bounds broadcast like maximum/minimum."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        given = [v for v in (input, min, max) if v is not None]
        dt = result_dtype(*given)
        input, min, max = (v if v is None else as_tensor(v).to(dt) for v in (input, min, max))
    elif input.array.dtype.kind != "f" and any(isinstance(v, float) for v in (min, max)):
        input = float_operand(input)
    return Clamp.apply(input, min, max)


clip = clamp


# -- choosing between inputs --------------------------------------------------------------------
class Maximum(Function):
    __slots__ = ("a", "b")

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.maximum(a, b)

    def backward(self, g):
        # ties share the gradient equally, as in PyTorch
        share = np.where(self.a == self.b, g * 0.5, g)
        return np.where(self.a >= self.b, share, 0), np.where(self.b >= self.a, share, 0)


class Minimum(Function):
    __slots__ = ("a", "b")

    def forward(self, a, b):
        self.a, self.b = a, b
        return np.minimum(a, b)

    def backward(self, g):
        share = np.where(self.a == self.b, g * 0.5, g)
        return np.where(self.a <= self.b, share, 0), np.where(self.b <= self.a, share, 0)


class Where(Function):
    __slots__ = ("cond",)

    def forward(self, cond, a, b):
        self.cond = cond
        return np.where(cond, a, b)

    def backward(self, g):
        zero = np.zeros((), g.dtype)
        return (None, np.where(self.cond, g, zero) if self.needs_input_grad[1] else None,
                np.where(self.cond, zero, g) if self.needs_input_grad[2] else None)


def maximum(input, other) -> Tensor:
    return Maximum.apply(*binary_operands(input, other))


def minimum(input, other) -> Tensor:
    return Minimum.apply(*binary_operands(input, other))


def where(condition, input, other) -> Tensor:
    """Pick input where condition holds, else other (both broadcast)."""
    cond = _bool_array(condition, "where")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = as_tensor(input)
    a, b = binary_operands(input, other)
    return Where.apply(cond, a, b)


def masked_fill(input, mask, value) -> Tensor:
    """input with value written where mask (broadcast to input's shape) is True."""
    m = _bool_array(mask, "masked_fill")
    try:
        np.broadcast_shapes(m.shape, input.shape)
    except ValueError:
        raise RuntimeError(
            f"masked_fill: mask of shape {m.shape} does not broadcast to input of shape "
            f"{input.shape}"
        ) from None
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"masked_fill: value must be a number or a 0-d tensor, got shape "
                           f"{value.shape}")
    value = as_tensor(value, like=input).to(input.dtype)
    out = Where.apply(m, value, input)
    return out if out.shape == input.shape else out.expand(input.shape)


def _bool_array(mask, op: str) -> np.ndarray:
    m = mask.array if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"{op}: the mask/condition must be a bool tensor, got dtype {m.dtype}")
    return m


# -- without gradient: comparisons, logic, signs ------------------------------------------------
def _compare(ufunc, name):
    def op(input, other) -> Tensor:
        a, b = binary_operands(input, other)
        return Tensor._make(np.asarray(ufunc(getattr(a, "array", a), getattr(b, "array", b))),
                            None)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name} (a bool tensor; no gradient)."
    return op


eq = _compare(np.equal, "eq")
ne = _compare(np.not_equal, "ne")
lt = _compare(np.less, "lt")
le = _compare(np.less_equal, "le")
gt = _compare(np.greater, "gt")
ge = _compare(np.greater_equal, "ge")
logical_and = _compare(np.logical_and, "logical_and")
logical_or = _compare(np.logical_or, "logical_or")
logical_xor = _compare(np.logical_xor, "logical_xor")


def _bitwise(ufunc, name):
    def op(input, other) -> Tensor:
        a, b = binary_operands(input, other)
        for x in (a, b):
            dt = getattr(x, "array", np.asarray(x)).dtype
            if dt.kind == "f":
                raise TypeError(f"{name}: not defined for floating tensors ({dt})")
        return Tensor._make(np.asarray(ufunc(getattr(a, "array", a), getattr(b, "array", b))),
                            None)

    op.__name__ = name
    return op


bitwise_and = _bitwise(np.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(np.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(np.bitwise_xor, "bitwise_xor")


def logical_not(input) -> Tensor:
    return Tensor._make(np.asarray(np.logical_not(input.array)), None)


def bitwise_not(input) -> Tensor:
    if input.array.dtype.kind == "f":
        raise TypeError(f"bitwise_not: not defined for floating tensors ({input.dtype})")
    return Tensor._make(np.asarray(np.invert(input.array)), None)


def sign(input) -> Tensor:
    """-1, 0 or 1; 0 for nan, as in PyTorch. No gradient (it is 0 everywhere)."""
    a = input.array
    if a.dtype.kind == "b":
        return Tensor._make(a.copy(), None)
    return Tensor._make(np.where(np.isnan(a), 0, np.sign(a)) if a.dtype.kind == "f"
                        else np.asarray(np.sign(a)), None)


def isnan(input) -> Tensor:
    return Tensor._make(np.asarray(np.isnan(input.array)), None)


def isfinite(input) -> Tensor:
    return Tensor._make(np.asarray(np.isfinite(input.array)), None)


def isinf(input) -> Tensor:
    return Tensor._make(np.asarray(np.isinf(input.array)), None)


def allclose(input, other, rtol=1e-5, atol=1e-8, equal_nan=False) -> bool:
    return bool(np.allclose(input.array, as_tensor(other).array, rtol, atol, equal_nan))


def equal(input, other) -> bool:
    """True when both have the same shape and values."""
    return input.shape == other.shape and bool(np.array_equal(input.array, other.array))


# -- copies -------------------------------------------------------------------------------------
class Clone(Function):
    __slots__ = ()

    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return g


def clone(input) -> Tensor:
    return Clone.apply(input)


def contiguous(input) -> Tensor:
    return input if input.array.flags.c_contiguous else Clone.apply(input)

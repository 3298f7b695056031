"""Activation primitives: softmax and log-softmax, the ReLU family, GELU, SiLU, softplus, the step.

ReLU, sigmoid and tanh live with the other elementwise functions (``ops/elementwise.py``); the
layers and ``nn.functional`` wrap the functions here. Each derivative sits next to its forward.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from deepgrad.autograd import Function
from deepgrad.ops.promote import as_tensor
from deepgrad.tensor import Tensor, _dim


# -- softmax ------------------------------------------------------------------------------------
class Softmax(Function):
    __slots__ = ("out", "axis")

    def forward(self, x, axis):
        # subtracting the max keeps exp() in range; an all -inf slice gives nan, as in PyTorch
        # (initial=: an empty dimension is no error)
        with np.errstate(invalid="ignore"):
            e = np.exp(x - x.max(axis=axis, keepdims=True, initial=-np.inf))
        e /= e.sum(axis=axis, keepdims=True)
        self.out, self.axis = e, axis
        return e

    def backward(self, g):
        gy = g * self.out
        gy -= self.out * gy.sum(axis=self.axis, keepdims=True)
        return gy


class LogSoftmax(Function):
    __slots__ = ("out", "axis")

    def forward(self, x, axis):
        # x - max - log(sum(exp(x - max))): no overflow for large x, no log(0) for very negative x
        with np.errstate(invalid="ignore", divide="ignore"):
            out = x - x.max(axis=axis, keepdims=True, initial=-np.inf)
            out -= np.log(np.exp(out).sum(axis=axis, keepdims=True))
        self.out, self.axis = out, axis
        return out

    def backward(self, g):
        return g - np.exp(self.out) * g.sum(axis=self.axis, keepdims=True)


def softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along dim: probabilities that sum to 1 (dtype: cast the input first)."""
    input = _floating(input if dtype is None else input.to(dtype), "softmax")
    return Softmax.apply(input, axis=_axis(dim, input, "softmax"))


def log_softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    """log(softmax(x)) along dim, computed stably in one primitive."""
    input = _floating(input if dtype is None else input.to(dtype), "log_softmax")
    return LogSoftmax.apply(input, axis=_axis(dim, input, "log_softmax"))


def _axis(dim: int, input: Tensor, op: str):
    if not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    axis = _dim(dim, input.ndim, op)
    return axis if input.ndim else None  # a 0-d tensor is its own (single-element) slice


# -- the ReLU family ----------------------------------------------------------------------------
class LeakyReLU(Function):
    """x where x > 0, slope * x elsewhere. np.where is slow on data of mixed signs (a branch
    per element), so the forward is a max (or min) of x and slope * x, and the backward
    multiplies g by a factor (1 or slope) looked up from the saved mask."""

    __slots__ = ("positive", "slope")

    def forward(self, x, slope):
        self.positive, self.slope = x > 0, slope
        if 0 < slope <= 1:  # not 0: inf * 0 is NaN
            return np.maximum(x, x * slope)
        if slope > 1:
            return np.minimum(x, x * slope)
        return np.where(self.positive, x, x * slope)

    def backward(self, g):
        slope, rest = g.dtype.type(self.slope), g.dtype.type(1 - self.slope)
        factor = np.empty_like(g)  # g's memory layout (take alone would give C order)
        if rest + slope == 1:  # then slope + rest * mask is exactly 1 or slope
            np.multiply(self.positive, rest, out=factor)
            factor += slope
        else:
            np.array([slope, 1], g.dtype).take(self.positive.view(np.uint8), out=factor,
                                               mode="clip")
        return np.multiply(factor, g, out=factor)


class ELU(Function):
    __slots__ = ("positive", "out", "alpha")

    def forward(self, x, alpha):
        self.positive, self.alpha = x > 0, alpha
        self.out = np.where(self.positive, x, alpha * np.expm1(np.minimum(x, 0)))
        return self.out

    def backward(self, g):
        # below 0, d/dx alpha*(e^x - 1) = alpha*e^x = out + alpha
        return np.where(self.positive, g, g * (self.out + self.alpha))


class Hardtanh(Function):
    __slots__ = ("inside",)

    def forward(self, x, min_val, max_val):
        # the gradient passes strictly inside (min_val, max_val), as in PyTorch
        self.inside = (x > min_val) & (x < max_val)
        return np.clip(x, min_val, max_val).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * self.inside


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, negative_slope * x elsewhere: a ReLU whose units never die completely."""
    return LeakyReLU.apply(_floating(input, "leaky_relu"), slope=float(negative_slope))


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """x where x > 0, alpha * (exp(x) - 1) elsewhere: smooth, saturating at -alpha."""
    return ELU.apply(_floating(input, "elu"), alpha=float(alpha))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x clipped to [min_val, max_val]: a piecewise-linear tanh."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    return Hardtanh.apply(input, min_val=min_val, max_val=max_val)


# -- smooth ones --------------------------------------------------------------------------------
class GELU(Function):
    __slots__ = ("x", "cdf")

    def forward(self, x):
        # x * Phi(x), Phi the standard normal CDF, written with erfc so that the left tail
        # keeps its relative accuracy (1 + erf(x) would cancel to 0 there)
        self.x, self.cdf = x, 0.5 * erfc(x * -_SQRT1_2)
        return x * self.cdf

    def backward(self, g):
        pdf = np.exp(-0.5 * self.x * self.x) * _INV_SQRT_2PI
        return g * (self.cdf + self.x * pdf)


class GELUTanh(Function):
    __slots__ = ("x", "u", "s")

    def forward(self, x):
        # 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3) (Hendrycks & Gimpel), written as
        # x * sigmoid(2u): the same function, without 1 + tanh(u) cancelling in the left tail
        self.u = _SQRT_2_PI * (x + _GELU_C * x * x * x)
        self.x, self.s = x, _sigmoid(2 * self.u)
        return x * self.s

    def backward(self, g):
        # d/dx = 0.5 (1 + tanh u) + 0.5 x sech^2(u) du/dx; sech^2 stays accurate in both tails
        x = self.x
        with np.errstate(over="ignore"):
            sech2 = 1 / np.cosh(self.u) ** 2
        return g * (self.s + 0.5 * x * sech2 * (_SQRT_2_PI * (1 + 3 * _GELU_C * x * x)))


class SiLU(Function):
    __slots__ = ("x", "s")

    def forward(self, x):
        self.x, self.s = x, _sigmoid(x)
        return x * self.s

    def backward(self, g):
        s = self.s
        return g * (s * (1 + self.x * (1 - s)))


class Softplus(Function):
    __slots__ = ("bx", "linear")

    def forward(self, x, beta, threshold):
        # log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (as in PyTorch);
        # written max(bx, 0) + log(1 + exp(-|bx|)), it never overflows
        self.bx = bx = x * beta if beta != 1 else x
        self.linear = bx > threshold
        soft = np.log1p(np.exp(-np.abs(bx)))
        soft += np.maximum(bx, 0)
        return np.where(self.linear, x, soft / beta)

    def backward(self, g):
        return np.where(self.linear, g, g * _sigmoid(self.bx))


_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT_2_PI = math.sqrt(2 / math.pi)
_GELU_C = 0.044715


def _sigmoid(x):
    with np.errstate(over="ignore"):  # exp(-x) = inf only where the result is 0 anyway
        return 1 / (1 + np.exp(-x))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) (Phi: the standard normal CDF), or its tanh approximation (approximate='tanh')."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    input = _floating(input, "gelu")
    return (GELU if approximate == "none" else GELUTanh).apply(input)


def silu(input: Tensor) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    return SiLU.apply(_floating(input, "silu"))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta: a smooth ReLU; linear where beta * x > threshold."""
    return Softplus.apply(_floating(input, "softplus"), beta=float(beta),
                          threshold=float(threshold))


# -- the step -----------------------------------------------------------------------------------
class Heaviside(Function):
    __slots__ = ()

    def forward(self, x, values):
        # 0 where x < 0 (and where x is nan, as in PyTorch), values where x == 0, 1 where x > 0
        return np.where(x == 0, values, x > 0).astype(x.dtype, copy=False)

    def backward(self, g):
        raise RuntimeError(
            "heaviside: the derivative is not implemented, as in PyTorch: the step is flat "
            "everywhere except at 0, where it jumps, so no gradient can flow through it. Train "
            "a step unit with the perceptron rule (deepgrad.models.Perceptron), or use a smooth "
            "activation such as sigmoid where backpropagation must pass."
        )


def heaviside(input: Tensor, values) -> Tensor:
    """The step: 0 where input < 0, values where input == 0, 1 where input > 0.

    ``values`` is a tensor of input's dtype broadcast against it (or a number). The output
    has no usable gradient: backward through it raises, as in PyTorch.
    """
    if isinstance(values, Tensor):
        if values.dtype != input.dtype:
            raise RuntimeError(f"heaviside: input and values must have the same dtype, got "
                               f"{input.dtype} and {values.dtype}; convert one with .to()")
    else:
        values = as_tensor(values, like=input).to(input.dtype)
    return Heaviside.apply(input, values)


# -- the error function -------------------------------------------------------------------------
def _erfc_series(degree: int, nodes: int = 64) -> tuple:
    """Coefficients, in powers of u, of P(u) = log(erfc(x) / t) + x^2, t = 1 / (1 + x/2).

    u maps t from [_T_MIN, 1] (x from _X_FIT down to 0) onto [-1, 1]. P is smooth and bounded
    there, so its Chebyshev interpolant at Chebyshev nodes (against math.erfc) converges fast:
    relative error on erfc ~2e-9 at degree 12, ~1e-14 at degree 22. In powers of u all its
    coefficients are below 1 in size, so Horner's rule evaluates it stably.
    """
    theta = np.pi * (np.arange(nodes) + 0.5) / nodes
    u = np.cos(theta)
    t = _T_MIN + (1 - _T_MIN) * (u + 1) / 2
    x = 2 / t - 2
    f = np.array([math.log(math.erfc(xi) / ti) + xi * xi for xi, ti in zip(x, t)])
    cheb = 2 / nodes * np.cos(np.outer(np.arange(degree + 1), theta)) @ f
    cheb[0] /= 2
    return tuple(np.polynomial.chebyshev.cheb2poly(cheb).tolist())


_X_FIT = 26.5  # erfc(26.5) ~ 2e-307: beyond it erfc is 0 in float64
_T_MIN = 1 / (1 + _X_FIT / 2)
_ERFC_POWERS_64 = _erfc_series(22)
_ERFC_POWERS_32 = _erfc_series(12)  # for float32 and float16: far below their rounding error
_BLOCK = 1 << 14  # elements per block: the float64 temporaries stay in the CPU cache


def erfc(z: np.ndarray) -> np.ndarray:
    """The complementary error function 1 - erf(z) of an array (NumPy has none), in z's dtype.

    Relative error ~1e-14 in float64; float32 results are correctly rounded but for rare
    last-bit differences. Computed in float64, a cache-sized block at a time.
    """
    powers = _ERFC_POWERS_64 if z.dtype == np.float64 else _ERFC_POWERS_32
    flat = z.reshape(-1)
    out = np.empty(flat.shape, z.dtype)
    for start in range(0, flat.size, _BLOCK):
        out[start:start + _BLOCK] = _erfc_block(flat[start:start + _BLOCK], powers)
    return out.reshape(z.shape)


def _erfc_block(z: np.ndarray, powers: tuple) -> np.ndarray:
    # erfc(x) = t * exp(P(u) - x^2) for x = |z| >= 0, and erfc(-x) = 2 - erfc(x)
    x = np.minimum(np.abs(z, dtype=np.float64), 30.0)  # exp(-900) is 0 already
    t = 1 / (1 + 0.5 * x)
    u = (t - _T_MIN) * (2 / (1 - _T_MIN)) - 1
    p = np.full_like(u, powers[-1])
    for c in powers[-2::-1]:
        p *= u
        p += c
    p -= x * x
    np.exp(p, out=p)
    p *= t
    np.subtract(2, p, out=p, where=z < 0)
    return p


def erf(z: np.ndarray) -> np.ndarray:
    """The error function of an array, 1 - erfc(z): absolute error ~2e-15 in float64."""
    return 1 - erfc(z)


def _floating(x: Tensor, op: str) -> Tensor:
    if x.array.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating point tensor, got {x.dtype}; "
                        "convert it with .float()")
    return x

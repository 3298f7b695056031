"""Reductions: sum, mean, var/std, max/min, argmax/argmin, logsumexp, prod.

Every backward first restores the reduced dimensions (``_unsqueeze``) and then lets the
gradient broadcast back over them.
"""

from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from deepgrad.autograd import Function
from deepgrad.ops.promote import float_operand
from deepgrad.tensor import Tensor, _dim

values_indices = namedtuple("values_indices", ["values", "indices"])


def _axes(dim, ndim: int, op: str):
    """dim (None, int or tuple) as a tuple of non-negative axes, or None for all."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if not dims:  # torch: an empty dim list reduces everything
        return None
    axes = tuple(sorted(_dim(d, ndim, op) for d in dims))
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"{op}: dimension listed twice in dim={dim}")
    return axes if ndim else ()  # dim 0 of a 0-d tensor: nothing to reduce, as in torch


def _unsqueeze(g, shape, axes, keepdim):
    """Give a reduced gradient back its reduced dimensions (size 1), ready to broadcast."""
    if keepdim or axes is None and g.ndim == len(shape):
        return g
    if axes is None:
        return g.reshape((1,) * len(shape))
    return np.expand_dims(g, axes)


def _count(shape, axes) -> int:
    return int(np.prod([shape[a] for a in axes] if axes is not None else shape))


class Sum(Function):
    __slots__ = ("shape", "axes", "keepdim")

    def forward(self, x, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        return x.sum(axis=axes, keepdims=keepdim)

    def backward(self, g):
        return np.broadcast_to(_unsqueeze(g, self.shape, self.axes, self.keepdim), self.shape)


class Mean(Function):
    __slots__ = ("shape", "axes", "keepdim")

    def forward(self, x, axes, keepdim):
        self.shape, self.axes, self.keepdim = x.shape, axes, keepdim
        if x.size == 0:  # nan where nothing is averaged, as in torch, without NumPy's warning
            with np.errstate(invalid="ignore"):
                return x.sum(axis=axes, keepdims=keepdim) / _count(x.shape, axes)
        return x.mean(axis=axes, keepdims=keepdim)

    def backward(self, g):
        n = _count(self.shape, self.axes) or 1
        return np.broadcast_to(_unsqueeze(g, self.shape, self.axes, self.keepdim) / n, self.shape)


class Var(Function):
    __slots__ = ("centered", "dof", "axes", "keepdim", "shape")

    def forward(self, x, axes, correction, keepdim):
        self.axes, self.keepdim, self.shape = axes, keepdim, x.shape
        self.centered = x - x.mean(axis=axes, keepdims=True)  # two-pass: stable
        self.dof = _count(x.shape, axes) - correction
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.centered**2).sum(axis=axes, keepdims=keepdim) / self.dof

    def backward(self, g):
        g = _unsqueeze(g, self.shape, self.axes, self.keepdim)
        return g * self.centered * (2 / self.dof if self.dof > 0 else np.nan)


class Amax(Function):
    """max over dims; equal maxima share the gradient (as torch.amax)."""
    __slots__ = ("out", "x", "axes", "keepdim")

    ufunc = np.max

    def forward(self, x, axes, keepdim):
        if x.size == 0 and (axes is None or builtins.any(x.shape[a] == 0 for a in axes)):
            raise RuntimeError(f"{type(self).__name__.lower()}: cannot reduce an empty dimension "
                               f"(input shape {x.shape})")
        self.x, self.axes, self.keepdim = x, axes, keepdim
        self.out = type(self).ufunc(x, axis=axes, keepdims=True)
        return self.out if keepdim else _squeeze(self.out, axes)

    def backward(self, g):
        hit = self.x == self.out
        g = _unsqueeze(g, self.x.shape, self.axes, self.keepdim)
        return g * hit / hit.sum(axis=self.axes, keepdims=True).astype(g.dtype)


class Amin(Amax):
    __slots__ = ()

    ufunc = np.min


def _squeeze(a, axes):
    return a.reshape(()) if axes is None else np.squeeze(a, axis=axes)


class LogSumExp(Function):
    __slots__ = ("x", "out", "axes", "keepdim")

    def forward(self, x, axes, keepdim):
        m = np.max(x, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)  # all -inf: stays -inf without nan
        with np.errstate(divide="ignore"):
            out = np.log(np.exp(x - m).sum(axis=axes, keepdims=True)) + m
        self.x, self.out, self.axes, self.keepdim = x, out, axes, keepdim
        return out if keepdim else _squeeze(out, axes)

    def backward(self, g):
        g = _unsqueeze(g, self.x.shape, self.axes, self.keepdim)
        return g * np.exp(self.x - self.out)


class Prod(Function):
    __slots__ = ("x", "dim", "keepdim")

    def forward(self, x, dim, keepdim):
        self.x, self.dim, self.keepdim = x, dim, keepdim
        return x.prod(axis=dim, keepdims=keepdim)

    def backward(self, g):
        # product of all the other elements, from exclusive cumulative products on both sides:
        # exact even where x has zeros
        x = self.x.reshape(-1) if self.dim is None else np.moveaxis(self.x, self.dim, -1)
        ones = np.ones(x.shape[:-1] + (1,), x.dtype)
        left = np.cumprod(np.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)
        right = np.cumprod(np.concatenate([ones, x[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        others = left * right
        others = others.reshape(self.x.shape) if self.dim is None else np.moveaxis(
            others, -1, self.dim)
        axes = None if self.dim is None else (self.dim,)
        return _unsqueeze(g, self.x.shape, axes, self.keepdim) * others


# -- functions ----------------------------------------------------------------------------------
def sum(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    if dtype is not None:
        input = input.to(dtype)
    elif input.array.dtype.kind in "biu" and input.array.dtype != np.int64:
        input = input.to(np.int64)  # integer sums are int64, as in PyTorch
    return Sum.apply(input, axes=_axes(dim, input.ndim, "sum"), keepdim=keepdim)


def mean(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    if dtype is not None:
        input = input.to(dtype)
    _need_float(input, "mean")
    return Mean.apply(input, axes=_axes(dim, input.ndim, "mean"), keepdim=keepdim)


def var(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """Variance with Bessel's correction by default (correction=1; unbiased=False means 0)."""
    if isinstance(dim, bool):  # var(x, False): the old unbiased-only call form
        dim, unbiased = None, dim
    if correction is None:
        correction = 0 if unbiased is False else 1
    _need_float(input, "var")
    return Var.apply(input, axes=_axes(dim, input.ndim, "var"), correction=correction,
                     keepdim=keepdim)


def std(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    return var(input, dim, unbiased, keepdim, correction=correction).sqrt()


def _need_float(x, op):
    if x.array.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating point tensor, got {x.dtype}; "
                        "convert it with .float()")


def amax(input, dim=(), keepdim: bool = False) -> Tensor:
    return Amax.apply(input, axes=_axes(dim, input.ndim, "amax"), keepdim=keepdim)


def amin(input, dim=(), keepdim: bool = False) -> Tensor:
    return Amin.apply(input, axes=_axes(dim, input.ndim, "amin"), keepdim=keepdim)


def _extreme(input, dim, keepdim, other, full, pick, pairwise, op):
    if isinstance(dim, Tensor):  # max(a, b): the elementwise form
        other, dim = dim, None
    if other is not None:
        return pairwise(input, other)
    if dim is None:
        return full.apply(input, axes=None, keepdim=False)
    if input.ndim == 0:  # dim 0 of a 0-d tensor: the element itself, at index 0
        _dim(dim, 0, op)
        return _extreme(input.reshape(1), 0, False, None, full, pick, pairwise, op)
    # along a dim: the first extreme's index, and the value gathered from it (the gradient
    # goes to that one element)
    from deepgrad.ops.index import gather

    indices = _arg(pick, input, dim, True, op)
    values = gather(input, dim, indices)
    if not keepdim:
        axis = _dim(dim, input.ndim, op)
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    return values_indices(values, indices)


def max(input, dim=None, keepdim: bool = False, *, other=None):
    """max(x): the largest value; max(x, dim): (values, indices); max(x, y): elementwise."""
    from deepgrad.ops.elementwise import maximum

    return _extreme(input, dim, keepdim, other, Amax, np.argmax, maximum, "max")


def min(input, dim=None, keepdim: bool = False, *, other=None):
    """min(x): the smallest value; min(x, dim): (values, indices); min(x, y): elementwise."""
    from deepgrad.ops.elementwise import minimum

    return _extreme(input, dim, keepdim, other, Amin, np.argmin, minimum, "min")


def argmax(input, dim=None, keepdim: bool = False) -> Tensor:
    return _arg(np.argmax, input, dim, keepdim, "argmax")


def argmin(input, dim=None, keepdim: bool = False) -> Tensor:
    return _arg(np.argmin, input, dim, keepdim, "argmin")


def _arg(fn, input, dim, keepdim, op) -> Tensor:
    a = input.array
    if a.size == 0:
        raise RuntimeError(f"{op}: cannot take the {op} of an empty tensor (shape {a.shape})")
    if dim is None:
        out = np.asarray(fn(a))
        return Tensor._make(out.reshape((1,) * a.ndim) if keepdim else out, None)
    axis = _dim(dim, a.ndim, op)
    out = fn(a.reshape(1) if a.ndim == 0 else a, axis=axis, keepdims=keepdim)
    return Tensor._make(np.asarray(out, np.int64).reshape(out.shape if a.ndim else ()), None)


def logsumexp(input, dim, keepdim: bool = False) -> Tensor:
    input = float_operand(input)
    return LogSumExp.apply(input, axes=_axes(dim, input.ndim, "logsumexp"), keepdim=keepdim)


def prod(input, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    if dtype is not None:
        input = input.to(dtype)
    axis = None if dim is None else _dim(dim, input.ndim, "prod")
    if input.ndim == 0:  # dim 0 of a 0-d tensor: the element itself
        axis = None
    return Prod.apply(input, dim=axis, keepdim=keepdim)


def all(input, dim=None, keepdim: bool = False) -> Tensor:
    axes = _axes(dim, input.ndim, "all")
    return Tensor._make(np.asarray(np.all(input.array, axis=axes, keepdims=keepdim)), None)


def any(input, dim=None, keepdim: bool = False) -> Tensor:
    axes = _axes(dim, input.ndim, "any")
    return Tensor._make(np.asarray(np.any(input.array, axis=axes, keepdims=keepdim)), None)

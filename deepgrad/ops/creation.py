"""Making tensors: from data, filled, ranges, and random (from deepgrad's seeded generator)."""

from __future__ import annotations

import math

import numpy as np

from deepgrad import backend
from deepgrad.ops.shape import _sizes
from deepgrad.tensor import Tensor, _from_data


def _finish(array, requires_grad: bool) -> Tensor:
    t = Tensor._make(array, None)
    return t.requires_grad_(True) if requires_grad else t


def _float(dtype):
    d = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    return d.np


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of data (Python floats -> float32, ints -> int64)."""
    return _finish(_from_data(data, dtype), requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like tensor(), but shares memory with a NumPy array or tensor when no copy is needed."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == backend.as_dtype(dtype)):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == _float(dtype)):
        backend.dtype_of(data)
        return Tensor._make(data, None)
    return tensor(data, dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array (its dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    backend.dtype_of(array)
    return Tensor._make(array, None)


def _filled(fill, size, dtype, requires_grad, op):
    shape = _sizes(size, op)
    if any(n < 0 for n in shape):
        raise RuntimeError(f"{op}: sizes must be non-negative, got {shape}")
    return _finish(fill(shape, _float(dtype) if dtype is None else backend.as_dtype(dtype).np),
                   requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _filled(np.zeros, size, dtype, requires_grad, "zeros")


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _filled(np.ones, size, dtype, requires_grad, "ones")


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _filled(np.empty, size, dtype, requires_grad, "empty")


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Filled with fill_value; the dtype follows fill_value (bool, int64, float32) as in torch."""
    if dtype is None:
        dtype = _from_data(fill_value, None).dtype
    return _filled(lambda s, d: np.full(s, fill_value, d), (size,), dtype, requires_grad, "full")


def _like(fn, input, dtype, requires_grad, *args):
    dtype = input.dtype if dtype is None else dtype
    return fn(input.shape, *args, dtype=dtype, requires_grad=requires_grad)


def zeros_like(input, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(zeros, input, dtype, requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(ones, input, dtype, requires_grad)


def empty_like(input, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(empty, input, dtype, requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full(input.shape, fill_value, dtype=input.dtype if dtype is None else dtype,
                requires_grad=requires_grad)


def rand_like(input, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(rand, input, dtype, requires_grad)


def randn_like(input, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _like(randn, input, dtype, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Values from start to end (excluded) by step; integer arguments give int64."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be non-zero")
    args = [float(v) if isinstance(v, Tensor) and v.is_floating_point() else v
            for v in (start, end, step)]
    if dtype is None:
        floating = any(isinstance(v, float) for v in args)
        dtype = backend.get_default_dtype() if floating else backend.int64
    if (args[1] - args[0]) * args[2] < 0:
        raise RuntimeError(f"arange: the range from {start} to {end} goes the other way from "
                           f"step {step}")
    n = math.ceil((args[1] - args[0]) / args[2])
    array = (args[0] + np.arange(n) * args[2]).astype(backend.as_dtype(dtype).np)
    return _finish(array, requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    return _finish(np.linspace(start, end, steps).astype(_float(dtype)), requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    return _finish(np.eye(n, m, dtype=_float(dtype)), requires_grad)


def _draw(op: str, method: str, size, dtype, requires_grad) -> Tensor:
    """Draw with the generator's float32 or float64 routine (its only two), then cast."""
    dt = _float(dtype)
    if dt.kind != "f":
        raise RuntimeError(f"{op}: draws floating values, got dtype {backend.as_dtype(dt)}")
    draw_dt = dt if dt in (np.float32, np.float64) else np.float32
    values = getattr(backend.rng(), method)(_sizes(size, op), dtype=draw_dt)
    return _finish(values.astype(dt, copy=False), requires_grad)


def rand(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform on [0, 1)."""
    return _draw("rand", "random", size, dtype, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal."""
    return _draw("randn", "standard_normal", size, dtype, requires_grad)


def randint(*args, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """randint(high, size) or randint(low, high, size): integers in [low, high), int64."""
    if size is None:
        *bounds, size = args
    else:
        bounds = list(args)
    low, high = (0, bounds[0]) if len(bounds) == 1 else bounds
    if low >= high:
        raise RuntimeError(f"randint: low ({low}) must be below high ({high})")
    dt = backend.int64 if dtype is None else backend.as_dtype(dtype)
    values = backend.rng().integers(low, high, _sizes((size,), "randint"))
    return _finish(values.astype(dt.np), requires_grad)


def randperm(n: int, dtype=None, device=None) -> Tensor:
    dt = backend.int64 if dtype is None else backend.as_dtype(dtype)
    return Tensor._make(backend.rng().permutation(n).astype(dt.np), None)


def normal(mean: float, std: float, size, dtype=None, requires_grad: bool = False) -> Tensor:
    """Normal with the given mean and standard deviation."""
    t = randn(size, dtype=dtype)
    t.array *= std
    t.array += mean
    return t.requires_grad_(True) if requires_grad else t

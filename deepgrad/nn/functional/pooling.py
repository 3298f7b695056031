"""Pooling functions with PyTorch's signatures: max (1-d, 2-d, with indices), average, adaptive
average and max, and max unpooling. The primitives live in ``deepgrad/ops/pool.py``."""

from __future__ import annotations

import numbers

from deepgrad.ops import pool as _pool
from deepgrad.tensor import Tensor

__all__ = ["max_pool1d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
           "adaptive_max_pool2d", "max_unpool2d"]


def _tuple(value, n: int, name: str, op: str, minimum: int) -> tuple:
    """An int or a sequence of n ints as an n-tuple, each at least minimum."""
    values = (value,) * n if isinstance(value, numbers.Integral) else tuple(value)
    if len(values) == 1:
        values = values * n
    if len(values) != n or not all(isinstance(v, numbers.Integral) for v in values):
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    return tuple(int(v) for v in values)


def _check_input(input: Tensor, dims: int, op: str) -> None:
    if input.ndim not in (dims + 1, dims + 2):
        raise ValueError(f"{op}: expected a {dims + 1}-d (unbatched) or {dims + 2}-d input, "
                         f"got shape {tuple(input.shape)}")
    if input.array.dtype.kind != "f":
        raise TypeError(f"{op}: needs a floating point input, got {input.dtype}")


def _geometry(input, kernel_size, stride, padding, dilation, ceil_mode, op: str):
    """Validated (kernel, stride, padding, dilation) pairs for the last two axes."""
    kernel = _tuple(kernel_size, 2, "kernel_size", op, 1)
    stride = kernel if stride is None else _tuple(stride, 2, "stride", op, 1)
    padding = _tuple(padding, 2, "padding", op, 0)
    dilation = _tuple(dilation, 2, "dilation", op, 1)
    for k, p, d in zip(kernel, padding, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise ValueError(f"{op}: padding {padding} must be at most half of the effective "
                             f"kernel size (kernel_size {kernel}, dilation {dilation})")
    size = input.shape[-2:]
    out = [_pool.pooled_size(n, k, s, p, d, ceil_mode)
           for n, k, s, p, d in zip(size, kernel, stride, padding, dilation)]
    if min(out) < 1:
        raise ValueError(f"{op}: the input of shape {tuple(input.shape)} is too small for "
                         f"kernel_size {kernel} (padding {padding}, dilation {dilation}): the "
                         f"output size would be {tuple(out)}")
    return kernel, stride, padding, dilation


def _max_pool(input, kernel, stride, padding, dilation, ceil_mode, return_indices):
    indices = [] if return_indices else None  # computed only when asked for
    out = _pool.MaxPool2d.apply(input, kernel=kernel, stride=stride, padding=padding,
                                dilation=dilation, ceil_mode=ceil_mode, indices=indices)
    return (out, Tensor._make(indices[0], None)) if return_indices else out


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over kh x kw windows of (N, C, H, W) or (C, H, W) input; padding counts as -inf.

    With return_indices, also the argmax of each window as a flat index into its input
    plane (h * W + w), what ``max_unpool2d`` takes.
    """
    _check_input(input, 2, "max_pool2d")
    geometry = _geometry(input, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    return _max_pool(input, *geometry, ceil_mode, return_indices)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over windows of the last axis of (N, C, L) or (C, L) input (indices into L)."""
    _check_input(input, 1, "max_pool1d")
    op = "max_pool1d"
    plane = input.unsqueeze(-2)  # (..., 1, L): a 2-d pooling with 1-row windows
    geometry = _geometry(plane, (1,) + _tuple(kernel_size, 1, "kernel_size", op, 1),
                         None if stride is None else (1,) + _tuple(stride, 1, "stride", op, 1),
                         (0,) + _tuple(padding, 1, "padding", op, 0),
                         (1,) + _tuple(dilation, 1, "dilation", op, 1), ceil_mode, op)
    out = _max_pool(plane, *geometry, ceil_mode, return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over kh x kw windows; padding is zeros, counted in the divisor when
    count_include_pad (divisor_override: divide every sum by this number instead)."""
    _check_input(input, 2, "avg_pool2d")
    kernel, stride, padding, _ = _geometry(input, kernel_size, stride, padding, 1, ceil_mode,
                                           "avg_pool2d")
    if divisor_override is not None and (not isinstance(divisor_override, numbers.Integral)
                                         or divisor_override <= 0):
        raise ValueError(f"avg_pool2d: divisor_override must be a positive int, got "
                         f"{divisor_override!r}")
    return _pool.AvgPool2d.apply(input, kernel=kernel, stride=stride, padding=padding,
                                 ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                                 divisor_override=divisor_override)


def _output_size(input: Tensor, output_size, op: str) -> tuple:
    """(oh, ow) from an int, a pair, or a pair with None (keep that input size)."""
    sizes = (output_size, output_size) if output_size is None or isinstance(
        output_size, numbers.Integral) else tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    sizes = tuple(n if s is None else s for s, n in zip(sizes, input.shape[-2:]))
    if not all(isinstance(s, numbers.Integral) and s > 0 for s in sizes):
        raise ValueError(f"{op}: output_size must hold positive ints, got {output_size!r}")
    if min(input.shape[-2:]) < 1:
        raise ValueError(f"{op}: the input of shape {tuple(input.shape)} has an empty plane")
    return tuple(int(s) for s in sizes)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Mean pooling to a fixed (oh, ow): window i covers [floor(i*H/oh), ceil((i+1)*H/oh))."""
    _check_input(input, 2, "adaptive_avg_pool2d")
    size = _output_size(input, output_size, "adaptive_avg_pool2d")
    return _pool.AdaptiveAvgPool2d.apply(input, output_size=size)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed (oh, ow), adaptive windows as in adaptive_avg_pool2d
    (indices as in max_pool2d)."""
    _check_input(input, 2, "adaptive_max_pool2d")
    size = _output_size(input, output_size, "adaptive_max_pool2d")
    indices = []
    out = _pool.AdaptiveMaxPool2d.apply(input, output_size=size, indices=indices)
    return (out, Tensor._make(indices[0], None)) if return_indices else out


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """Scatter pooled values back to the positions in indices (from max_pool2d), zeros
    elsewhere; output_size picks among the input sizes that pool to this size."""
    _check_input(input, 2, "max_unpool2d")
    kernel = _tuple(kernel_size, 2, "kernel_size", "max_unpool2d", 1)
    stride = kernel if stride is None else _tuple(stride, 2, "stride", "max_unpool2d", 1)
    padding = _tuple(padding, 2, "padding", "max_unpool2d", 0)
    if tuple(indices.shape) != tuple(input.shape) or indices.array.dtype.kind not in "iu":
        raise ValueError(f"max_unpool2d: indices must be integers of the input's shape "
                         f"{tuple(input.shape)}, got {indices.dtype} of shape "
                         f"{tuple(indices.shape)}")
    size = tuple((n - 1) * s - 2 * p + k
                 for n, k, s, p in zip(input.shape[-2:], kernel, stride, padding))
    if output_size is not None:
        wanted = tuple(int(n) for n in tuple(output_size)[-2:])
        if not all(n - s < w < n + s for n, s, w in zip(size, stride, wanted)):
            low = tuple(n - s + 1 for n, s in zip(size, stride))
            high = tuple(n + s - 1 for n, s in zip(size, stride))
            raise ValueError(f"max_unpool2d: output_size {wanted} must lie between {low} and "
                             f"{high} for input of shape {tuple(input.shape)}")
        size = wanted
    index = indices.array
    if index.size and (index.min() < 0 or index.max() >= size[0] * size[1]):
        raise ValueError(f"max_unpool2d: indices must lie in [0, {size[0] * size[1]}) for the "
                         f"output size {size}, got values in [{index.min()}, {index.max()}]")
    return _pool.MaxUnpool2d.apply(input, index=index, out_size=size)

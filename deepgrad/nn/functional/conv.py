"""Convolutions: ``conv1d``, ``conv2d``, ``conv3d`` and the transposed ``conv_transpose1d``,
``conv_transpose2d``, ``conv_transpose3d``, with PyTorch's signatures and semantics.

Each checks its arguments here, so that a mistake reads as a sentence naming the shapes, and
calls one primitive of ``deepgrad.ops.conv``. Unbatched inputs (C, *S) are accepted as in PyTorch.
"""

from __future__ import annotations

from deepgrad.ops.conv import ConvNd, ConvTransposeNd, conv_out_size
from deepgrad.tensor import Tensor

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d"]


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-d convolution (cross-correlation): input (N, C, L) or (C, L), weight (O, C/groups, K).

    padding is an int, a 1-tuple, 'valid' (none) or 'same' (output as long as the input;
    stride 1 only).
    """
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-d convolution (cross-correlation): input (N, C, H, W) or (C, H, W), weight
    (O, C/groups, kH, kW), bias (O,).

    stride, padding and dilation are ints or pairs; padding may also be 'valid' (none) or
    'same' (output as large as the input; stride 1 only, any extra padding goes after).
    """
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """3-d convolution: input (N, C, D, H, W) or (C, D, H, W), weight (O, C/groups, kD, kH, kW)."""
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-d transposed convolution: input (N, Cin, L), weight (Cin, Cout/groups, K)."""
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-d transposed convolution (the gradient of conv2d with respect to its input): input
    (N, Cin, H, W) or (Cin, H, W), weight (Cin, Cout/groups, kH, kW), bias (Cout,).

    The output is ``(H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1``
    high (and likewise wide); output_padding picks among the sizes a strided conv2d maps to H.
    """
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """3-d transposed convolution: input (N, Cin, D, H, W), weight (Cin, Cout/groups, *K)."""
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def _tuple(value, nd: int, name: str, op: str, least: int) -> tuple:
    """An int or an nd-tuple of ints as an nd-tuple, each at least ``least``."""
    t = (value,) * nd if isinstance(value, int) else tuple(value)
    if len(t) != nd or not all(isinstance(v, int) for v in t):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {nd} ints, got {value!r}")
    if min(t) < least:
        raise ValueError(f"{op}: {name} must be >= {least}, got {value!r}")
    return t


def _check(op: str, nd: int, input, weight, bias, groups: int, transposed: bool) -> None:
    """Raise a readable error for a mistake in the tensors or groups of a convolution."""
    for name, t in (("input", input), ("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{op}: weight must be {nd + 2}-D, got shape {weight.shape}")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) "
                           f"input, got shape {input.shape}")
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    channels = input.shape[-nd - 1]
    if transposed:
        out_channels = weight.shape[1] * groups
        if weight.shape[0] % groups:
            raise RuntimeError(f"{op}: weight of shape {weight.shape}: its in_channels "
                               f"({weight.shape[0]}) are not divisible by groups={groups}")
        if channels != weight.shape[0]:
            raise RuntimeError(f"{op}: input of shape {input.shape} has {channels} channels, "
                               f"expected {weight.shape[0]} (dim 0 of weight {weight.shape})")
    else:
        out_channels = weight.shape[0]
        if out_channels % groups:
            raise RuntimeError(f"{op}: weight of shape {weight.shape}: its out_channels "
                               f"({out_channels}) are not divisible by groups={groups}")
        if channels != weight.shape[1] * groups:
            raise RuntimeError(
                f"{op}: input of shape {input.shape} has {channels} channels, expected "
                f"{weight.shape[1] * groups} (weight {weight.shape}: {weight.shape[1]} per group "
                f"x groups={groups})")
    if bias is not None and bias.shape != (out_channels,):
        raise RuntimeError(f"{op}: bias has shape {bias.shape}, expected ({out_channels},)")
    dtypes = {t.dtype for t in (input, weight, bias) if t is not None}
    if len(dtypes) > 1:
        raise RuntimeError(f"{op}: expected one dtype for input, weight and bias, got "
                           f"{sorted(str(d) for d in dtypes)}; cast the input (x.float()) or "
                           "the layer (layer.double())")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{op}: expected floating point tensors, got {input.dtype}")


def _padding_pairs(padding, nd: int, kernel, stride, dilation, op: str) -> tuple:
    """(lo, hi) per spatial dim from an int, a tuple, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a tuple of "
                             f"{nd} ints, got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                             f"(stride={stride})")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in _tuple(padding, nd, "padding", op, 0))


def _conv(nd, input, weight, bias, stride, padding, dilation, groups) -> Tensor:
    op = f"conv{nd}d"
    _check(op, nd, input, weight, bias, groups, transposed=False)
    stride = _tuple(stride, nd, "stride", op, 1)
    dilation = _tuple(dilation, nd, "dilation", op, 1)
    kernel = weight.shape[2:]
    pads = _padding_pairs(padding, nd, kernel, stride, dilation, op)
    size = input.shape[-nd:]
    if min(conv_out_size(size, kernel, stride, pads, dilation)) < 1:
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(size, pads))
        reach = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
        raise RuntimeError(f"{op}: the padded input of spatial size {padded} (input "
                           f"{input.shape}) is smaller than the dilated kernel {reach} "
                           f"(weight {weight.shape})")
    return _batched(ConvNd, nd, input, weight, bias, stride=stride, padding=pads,
                    dilation=dilation, groups=groups)


def _conv_transpose(nd, input, weight, bias, stride, padding, output_padding, groups,
                    dilation) -> Tensor:
    op = f"conv_transpose{nd}d"
    _check(op, nd, input, weight, bias, groups, transposed=True)
    stride = _tuple(stride, nd, "stride", op, 1)
    dilation = _tuple(dilation, nd, "dilation", op, 1)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of {nd} ints, got "
                         f"{padding!r}")
    pads = _tuple(padding, nd, "padding", op, 0)
    extra = _tuple(output_padding, nd, "output_padding", op, 0)
    if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"{op}: output_padding {extra} must be smaller than either stride "
                         f"{stride} or dilation {dilation}")
    kernel, size = weight.shape[2:], input.shape[-nd:]
    out_size = tuple((s - 1) * st - 2 * p + d * (k - 1) + e + 1
                     for s, st, p, d, k, e in zip(size, stride, pads, dilation, kernel, extra))
    if min(out_size) < 1:
        raise RuntimeError(f"{op}: input {input.shape} with weight {weight.shape}, stride "
                           f"{stride}, padding {pads}, dilation {dilation} gives output size "
                           f"{out_size}, which is not positive")
    return _batched(ConvTransposeNd, nd, input, weight, bias, stride=stride,
                    padding=tuple((p, p) for p in pads), dilation=dilation, groups=groups,
                    out_size=out_size)


def _batched(primitive, nd, input, weight, bias, **options) -> Tensor:
    """Apply a convolution primitive, giving an unbatched (C, *L) input a batch dim of 1."""
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    args = (x, weight) if bias is None else (x, weight, bias)
    out = primitive.apply(*args, **options)
    return out.squeeze(0) if unbatched else out

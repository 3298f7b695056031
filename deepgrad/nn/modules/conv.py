"""Convolution layers: ``Conv1d``, ``Conv2d``, ``Conv3d``, ``ConvTranspose1d``,
``ConvTranspose2d``, ``ConvTranspose3d``, with PyTorch's arguments, parameters and init."""

from __future__ import annotations

import math

import numpy as np

from deepgrad.nn import functional as F
from deepgrad.nn import init
from deepgrad.nn.modules.linear import _param_dtype
from deepgrad.nn.modules.module import Module, Parameter
from deepgrad.tensor import Tensor

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value, nd: int, name: str, layer: str) -> tuple:
    t = (value,) * nd if isinstance(value, int) else tuple(value)
    if len(t) != nd or not all(isinstance(v, int) for v in t):
        raise ValueError(f"{layer}: {name} must be an int or a tuple of {nd} ints, got {value!r}")
    return t


class _ConvNd(Module):
    """What the convolution layers share: arguments, parameters, init and repr.

    weight is (out_channels, in_channels / groups, *kernel_size), or for a transposed layer
    (in_channels, out_channels / groups, *kernel_size); bias (out_channels,). Both start as
    PyTorch's: kaiming_uniform_(a=sqrt(5)) and U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """

    _nd: int
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding,
                 dilation, groups: int, bias: bool, padding_mode: str, output_padding=0,
                 device=None, dtype=None) -> None:
        super().__init__()
        layer, nd = type(self).__name__, self._nd
        dt = _param_dtype(dtype, device, layer)
        if not isinstance(groups, int) or groups < 1:
            raise ValueError(f"{layer}: groups must be a positive integer, got {groups!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{layer}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{layer}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{layer}: padding must be 'same', 'valid', an int or a tuple, "
                                 f"got {padding!r}")
            if padding == "same" and any(s != 1 for s in _ntuple(stride, nd, "stride", layer)):
                raise ValueError(f"{layer}: padding='same' is not supported for strided "
                                 "convolutions")
        else:
            padding = _ntuple(padding, nd, "padding", layer)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _ntuple(kernel_size, nd, "kernel_size", layer)
        self.stride = _ntuple(stride, nd, "stride", layer)
        self.padding = padding
        self.dilation = _ntuple(dilation, nd, "dilation", layer)
        self.transposed = self._transposed
        self.output_padding = _ntuple(output_padding, nd, "output_padding", layer)
        self.groups = groups
        self.padding_mode = padding_mode
        shape = ((in_channels, out_channels // groups) if self._transposed
                 else (out_channels, in_channels // groups))
        self.weight = Parameter(np.empty((*shape, *self.kernel_size), dt))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights and bias, as at construction."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    """A convolution layer; padding_mode other than 'zeros' pads with F.pad first."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device=device, dtype=dtype)

    def _pad_widths(self) -> tuple:
        """F.pad's widths (last dim first) for padding_mode != 'zeros'."""
        if self.padding == "valid":
            return (0, 0) * self._nd
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            pairs = [(t // 2, t - t // 2) for t in totals]
        else:
            pairs = [(p, p) for p in self.padding]
        return tuple(w for pair in reversed(pairs) for w in pair)

    def forward(self, input: Tensor) -> Tensor:
        conv = (F.conv1d, F.conv2d, F.conv3d)[self._nd - 1]
        if self.padding_mode == "zeros":
            return conv(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)
        padded = F.pad(input, self._pad_widths(), mode=self.padding_mode)
        return conv(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class _ConvTranspose(_ConvNd):
    """A transposed convolution layer (padding_mode 'zeros' only, as in PyTorch)."""

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f'{name}: only "zeros" padding_mode is supported, got '
                             f"{padding_mode!r}")
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int or a tuple, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device=device, dtype=dtype)

    def _output_padding(self, input: Tensor, output_size) -> tuple:
        """output_padding for a requested output_size (spatial dims, or with N and C)."""
        nd, name = self._nd, type(self).__name__
        if output_size is None:
            return self.output_padding
        size = tuple(output_size)[-nd:]
        out = []
        for d in range(nd):
            low = ((input.shape[-nd + d] - 1) * self.stride[d] - 2 * self.padding[d]
                   + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            if not low <= size[d] < low + self.stride[d]:
                raise ValueError(f"{name}: requested output size {tuple(output_size)} is not "
                                 f"reachable from input {input.shape}; dim {d} must be in "
                                 f"[{low}, {low + self.stride[d] - 1}]")
            out.append(size[d] - low)
        return tuple(out)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[self._nd - 1]
        return conv(input, self.weight, self.bias, self.stride, self.padding,
                    self._output_padding(input, output_size), self.groups, self.dilation)


class Conv1d(_Conv):
    """1-d convolution over (N, C, L) or (C, L): ``Conv1d(in_channels, out_channels,
    kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, padding_mode='zeros')``."""

    _nd = 1


class Conv2d(_Conv):
    """2-d convolution over (N, C, H, W) or (C, H, W): ``Conv2d(in_channels, out_channels,
    kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, padding_mode='zeros')``;
    padding may be 'same' or 'valid'."""

    _nd = 2


class Conv3d(_Conv):
    """3-d convolution over (N, C, D, H, W) or (C, D, H, W)."""

    _nd = 3


class ConvTranspose1d(_ConvTranspose):
    """1-d transposed convolution over (N, C, L) or (C, L)."""

    _nd = 1


class ConvTranspose2d(_ConvTranspose):
    """2-d transposed convolution (a learned upsampling): ``ConvTranspose2d(in_channels,
    out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
    dilation=1, padding_mode='zeros')``; ``forward(input, output_size=None)``."""

    _nd = 2


class ConvTranspose3d(_ConvTranspose):
    """3-d transposed convolution over (N, C, D, H, W) or (C, D, H, W)."""

    _nd = 3

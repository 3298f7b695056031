"""Normalization layers: ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``, ``GroupNorm``.

Parameters, buffers, state-dict keys and reprs are PyTorch's, so its state dicts load as they are.
"""

from __future__ import annotations

import numpy as np

from deepgrad.nn import functional as F
from deepgrad.nn import init
from deepgrad.nn.modules.linear import _param_dtype
from deepgrad.nn.modules.module import Module, Parameter
from deepgrad.tensor import Tensor

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm"]


class _BatchNorm(Module):
    """Batch normalization over channel dim 1, with learnable weight and bias (``affine``) and
    running statistics (``track_running_stats``) used in ``eval()``.

    ``momentum=None`` makes the running statistics a cumulative average over the
    ``num_batches_tracked`` batches seen.
    """

    _dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-05, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        dt = _param_dtype(dtype, device, self._get_name())
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _affine_params(self, affine, bias, (num_features,), dt)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._make(np.zeros(num_features, dt), None))
            self.register_buffer("running_var", Tensor._make(np.ones(num_features, dt), None))
            self.register_buffer("num_batches_tracked",
                                 Tensor._make(np.zeros((), np.int64), None))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            self.running_mean.array[...] = 0
            self.running_var.array[...] = 1
            self.num_batches_tracked.array[...] = 0

    def reset_parameters(self) -> None:
        """Running statistics reset, weight 1, bias 0."""
        self.reset_running_stats()
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in self._dims:
            raise ValueError(f"{self._get_name()}: expected {' or '.join(map(str, self._dims))}"
                             f"-D input, got shape {input.shape}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{self._get_name()}({self.num_features}): input has "
                             f"{input.shape[1]} channels (shape {input.shape}), expected "
                             f"{self.num_features}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.array += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.array)
        use_batch = self.training or self.running_mean is None
        keep = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if keep else None,
                            self.running_var if keep else None, self.weight, self.bias,
                            use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, per channel C."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) images, per channel C."""

    _dims = (4,)


class LayerNorm(Module):
    """Normalize each sample over its trailing dims ``normalized_shape``, with a learnable
    weight and bias of that shape (``elementwise_affine``)."""

    def __init__(self, normalized_shape, eps: float = 1e-05, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        dt = _param_dtype(dtype, device, "LayerNorm")
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) \
            else tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine_params(self, elementwise_affine, bias, self.normalized_shape, dt)
        _reset_affine(self)

    def reset_parameters(self) -> None:
        """Weight 1, bias 0."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalize each sample of (N, C, *) over groups of ``num_channels / num_groups`` channels,
    with a learnable weight and bias per channel (``affine``)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-05,
                 affine: bool = True, device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        dt = _param_dtype(dtype, device, "GroupNorm")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _affine_params(self, affine, bias, (num_channels,), dt)
        _reset_affine(self)

    def reset_parameters(self) -> None:
        """Weight 1, bias 0."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected "
                             f"input (N, {self.num_channels}, *), got shape {input.shape}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")


def _affine_params(module: Module, affine: bool, bias: bool, shape: tuple, dt) -> None:
    """Register weight and bias of the given shape (None where absent), uninitialized."""
    module.register_parameter("weight", Parameter(np.empty(shape, dt)) if affine else None)
    module.register_parameter("bias", Parameter(np.empty(shape, dt)) if affine and bias else None)

def _reset_affine(module: Module) -> None:
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)

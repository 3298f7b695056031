"""Normalization: ``batch_norm``, ``layer_norm`` and ``group_norm`` (fused primitives in
``deepgrad.ops.norm``). Each checks its arguments here, so a mistake reads as one clear error."""

from __future__ import annotations

from deepgrad.ops import norm
from deepgrad.tensor import Tensor

__all__ = ["batch_norm", "layer_norm", "group_norm"]


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-05) -> Tensor:
    """Normalize each channel of input (N, C, *) to zero mean and unit variance, then scale by
    weight and shift by bias (C,).

    ``training``: use the batch's mean and biased variance, and update running_mean and
    running_var in place (``(1 - momentum) * running + momentum * batch``, with the unbiased
    variance). Otherwise use running_mean and running_var.
    """
    op = "batch_norm"
    if input.ndim < 2:
        raise ValueError(f"{op}: expected input of shape (N, C) or (N, C, *), got shape "
                         f"{input.shape}")
    c = input.shape[1]
    _check_params(op, input, (c,), running_mean=running_mean, running_var=running_var,
                  weight=weight, bias=bias)
    if training:
        if input.numel() < 2 * c:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got "
                             f"input of shape {input.shape}")
    elif running_mean is None or running_var is None:
        raise RuntimeError(f"{op}: running_mean and running_var must be given in evaluation "
                           "mode (training=False)")
    return norm.BatchNorm.apply(
        input, weight, bias, training=training, momentum=momentum, eps=eps,
        running_mean=None if running_mean is None else running_mean.array,
        running_var=None if running_var is None else running_var.array)


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-05) -> Tensor:
    """Normalize each sample over its trailing dims, ``normalized_shape``, then scale by weight
    and shift by bias (both of shape ``normalized_shape``)."""
    shape = _as_shape(normalized_shape)
    if not shape or input.ndim < len(shape) or \
            tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise RuntimeError(f"layer_norm: normalized_shape={shape} needs an input of shape "
                           f"(*, {', '.join(map(str, shape))}), got {input.shape}")
    _check_params("layer_norm", input, shape, weight=weight, bias=bias)
    return norm.LayerNorm.apply(input, weight, bias, ndim=len(shape), eps=eps)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-05) -> Tensor:
    """Normalize each sample of input (N, C, *) over groups of C / num_groups channels, then
    scale by weight and shift by bias (C,)."""
    op = "group_norm"
    if input.ndim < 2:
        raise ValueError(f"{op}: expected input of shape (N, C, *), got shape {input.shape}")
    c = input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"{op}: the input's {c} channels (shape {input.shape}) cannot be "
                         f"split into num_groups={num_groups} equal groups")
    _check_params(op, input, (c,), weight=weight, bias=bias)
    return norm.GroupNorm.apply(input, weight, bias, num_groups=num_groups, eps=eps)


def _as_shape(normalized_shape) -> tuple:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(n) for n in normalized_shape)


def _check_params(op: str, input: Tensor, shape: tuple, **tensors) -> None:
    """Input a float tensor; each given tensor of the expected shape and (but running
    statistics, which are cast) of the input's dtype."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.array.dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating point input, got {input.dtype}")
    for name, t in tensors.items():
        if t is None:
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if tuple(t.shape) != shape:
            raise RuntimeError(f"{op}: {name} has shape {tuple(t.shape)}, expected {shape} for "
                               f"input of shape {input.shape}")
        if not name.startswith("running") and t.array.dtype != input.array.dtype:
            raise RuntimeError(f"{op}: {name} is {t.array.dtype} but the input is "
                               f"{input.array.dtype}; cast the input (x.float()) or the "
                               "layer (layer.double())")


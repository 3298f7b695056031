"""Activation functions, with PyTorch's signatures (``inplace=`` where PyTorch has it).

The primitives live in ``deepgrad/ops/activation.py`` (relu, sigmoid and tanh in
``deepgrad/ops/elementwise.py``); these are thin wrappers.
"""

from __future__ import annotations

import warnings

from deepgrad.ops import activation as _ops
from deepgrad.ops.activation import gelu, softplus
from deepgrad.ops.elementwise import relu as _relu
from deepgrad.ops.elementwise import sigmoid, tanh
from deepgrad.tensor import Tensor

__all__ = ["relu", "relu6", "sigmoid", "tanh", "leaky_relu", "elu", "gelu", "silu", "softplus",
           "hardtanh", "softmax", "log_softmax"]


def _result(input: Tensor, out: Tensor, inplace: bool, name: str) -> Tensor:
    """out, or out written into input (its graph node taken over) when inplace."""
    return input._inplace(out, name + "_") if inplace else out


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    return _result(input, _relu(input), inplace, "relu")


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6)."""
    return _result(input, _ops.hardtanh(input, 0.0, 6.0), inplace, "relu6")


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, negative_slope * x elsewhere."""
    return _result(input, _ops.leaky_relu(input, negative_slope), inplace, "leaky_relu")


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, alpha * (exp(x) - 1) elsewhere."""
    return _result(input, _ops.elu(input, alpha), inplace, "elu")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x)."""
    return _result(input, _ops.silu(input), inplace, "silu")


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clipped to [min_val, max_val]."""
    return _result(input, _ops.hardtanh(input, min_val, max_val), inplace, "hardtanh")


def softmax(input: Tensor, dim: int | None = None, *, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along dim (computed stably)."""
    return _ops.softmax(input, _softmax_dim(input, dim, "softmax"), dtype)


def log_softmax(input: Tensor, dim: int | None = None, *, dtype=None) -> Tensor:
    """log(softmax(x)) along dim, in one stable primitive (pair it with nll_loss)."""
    return _ops.log_softmax(input, _softmax_dim(input, dim, "log_softmax"), dtype)


def _softmax_dim(input: Tensor, dim: int | None, op: str) -> int:
    """PyTorch's deprecated implicit dim: 0 for 0-, 1- and 3-d inputs, else 1 (with a warning)."""
    if dim is not None:
        return dim
    warnings.warn(f"{op}: implicit dimension choice is deprecated, as in PyTorch; pass dim= "
                  "explicitly", UserWarning, stacklevel=3)
    return 0 if input.ndim in (0, 1, 3) else 1

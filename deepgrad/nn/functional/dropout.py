"""``dropout`` and ``dropout2d``: inverted dropout of units or of whole channels (training)."""

from __future__ import annotations

import warnings

import numpy as np

from deepgrad import backend
from deepgrad.autograd import Function
from deepgrad.tensor import Tensor

__all__ = ["dropout", "dropout2d"]


class Dropout(Function):
    """Multiply by a saved mask holding 0 (dropped) or 1/(1-p) (kept); backward does the same."""

    __slots__ = ("mask",)

    def forward(self, x, mask):
        self.mask = mask
        return x * mask

    def backward(self, g):
        return g * self.mask


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
            ) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (when training).

    The scaling keeps the expected value, so evaluation (``training=False``) is the identity.
    The mask comes from deepgrad's seeded generator (``deepgrad.manual_seed``).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p is the probability of dropping a unit and must be in "
                         f"[0, 1], got {p}")
    if not training or p == 0.0:
        return input
    dt = input.array.dtype
    if dt.kind != "f":
        raise RuntimeError(f"dropout: expected a floating point input, got {input.dtype}")
    if p == 1.0:
        mask = np.zeros(input.shape, dt)
    else:
        mask = (backend.rng().random(input.shape, dtype=np.float32) >= p).astype(dt)
        mask *= dt.type(1.0 / (1.0 - p))
    out = Dropout.apply(input, mask)
    return input._inplace(out, "dropout_") if inplace else out


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
              ) -> Tensor:
    """Zero whole channels (input[n, c]) with probability p and scale the rest by 1/(1-p).

    Neighbouring pixels of a feature map are correlated, so dropping single pixels regularises
    little; dropping a channel does. Input (N, C, H, W); a 3-d input is read as (N, C, L), as
    in PyTorch (with its warning).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: p is the probability of dropping a channel and must be "
                         f"in [0, 1], got {p}")
    if input.ndim < 2:
        raise ValueError(f"dropout2d: expected a (N, C, H, W) input, got shape "
                         f"{tuple(input.shape)}")
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d; it expects 3-D "
                      "or 4-D inputs (use dropout for element-wise dropout)", stacklevel=2)
    elif input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that "
                      "channel-wise 1D dropout behavior is desired - input is interpreted as "
                      "shape (N, C, L), as PyTorch does", stacklevel=2)
    if not training or p == 0.0:
        return input
    dt = input.array.dtype
    if dt.kind != "f":
        raise RuntimeError(f"dropout2d: expected a floating point input, got {input.dtype}")
    shape = input.shape[:2] + (1,) * (input.ndim - 2)
    if p == 1.0:
        mask = np.zeros(shape, dt)
    else:
        mask = (backend.rng().random(shape, dtype=np.float32) >= p).astype(dt)
        mask *= dt.type(1.0 / (1.0 - p))
    out = Dropout.apply(input, mask)
    return input._inplace(out, "dropout2d_") if inplace else out

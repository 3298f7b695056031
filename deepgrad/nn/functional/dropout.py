"""``dropout``: inverted dropout, which zeroes units at random while training."""

from __future__ import annotations

import numpy as np

from deepgrad import backend
from deepgrad.autograd import Function
from deepgrad.tensor import Tensor

__all__ = ["dropout"]


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

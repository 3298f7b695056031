"""``Dropout`` and ``Dropout2d``: inverted dropout as layers; active in ``train()``, the identity
in ``eval()``."""

from __future__ import annotations

from deepgrad.nn import functional as F
from deepgrad.nn.modules.module import Module
from deepgrad.tensor import Tensor

__all__ = ["Dropout", "Dropout2d"]


class Dropout(Module):
    """Zero each element with probability p during training, scaling the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p is the probability of dropping a unit "
                             f"and must be in [0, 1], got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Zero whole channels of (N, C, H, W) input with probability p during training, scaling
    the rest by 1/(1-p) (see F.dropout2d)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training, self.inplace)

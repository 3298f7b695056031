"""``embedding``: look up rows of a weight matrix by integer index (a fused primitive)."""

from __future__ import annotations

import numpy as np

from deepgrad.autograd import Function, no_grad
from deepgrad.tensor import Tensor

__all__ = ["embedding"]


class Embedding(Function):
    """``weight[indices]``; backward scatter-adds each output row's gradient into the row it
    was read from (rows read several times add up). The ``padding_idx`` row gets none, and with
    ``scale_grad_by_freq`` each row's gradient is divided by how often the batch used it."""

    __slots__ = ("indices", "num", "padding_idx", "scale")

    def forward(self, weight, indices, *, padding_idx=None, scale_grad_by_freq=False):
        self.indices, self.num = indices, weight.shape[0]
        self.padding_idx, self.scale = padding_idx, scale_grad_by_freq
        return weight[indices]

    def backward(self, g):
        flat = self.indices.reshape(-1)
        grad = np.zeros((self.num, g.shape[-1]), g.dtype)
        rows = g.reshape(flat.size, g.shape[-1])
        # group equal ids (a stable sort keeps each group's rows in order) and sum each group
        # in one pass: several times faster than np.add.at's row-by-row scatter
        order = np.argsort(flat, kind="stable")
        ids = flat[order]
        if ids.size:
            starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
            grad[ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)
        if self.scale:
            counts = np.bincount(flat, minlength=self.num)
            grad /= np.maximum(counts, 1)[:, None].astype(g.dtype)
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0
        return grad, None


def _indices(input, num: int) -> np.ndarray:
    idx = input.array if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: expected integer indices (int64 or int32), got {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexError(f"embedding: index {int(bad)} is out of range for a weight of "
                         f"{num} rows (indices must be in [0, {num - 1}])")
    return idx


def _padding(padding_idx, num: int, op: str):
    if padding_idx is None:
        return None
    if not -num <= padding_idx < num:
        raise ValueError(f"{op}: padding_idx must be within the {num} embeddings "
                         f"([-{num}, {num - 1}]), got {padding_idx}")
    return padding_idx + num if padding_idx < 0 else padding_idx


@no_grad()
def _renorm_(weight: Tensor, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Rescale, in place, the looked-up rows whose norm exceeds max_norm to norm max_norm
    (PyTorch's ``embedding_renorm_``: the 1e-7 keeps the result just under the limit)."""
    w = weight.array
    rows = np.unique(idx)
    norms = np.linalg.norm(w[rows], ord=norm_type, axis=1)
    big = norms > max_norm
    if big.any():
        scale = (max_norm / (norms[big] + 1e-7)).astype(w.dtype)
        w[rows[big]] *= scale[:, None]


def embedding(input, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) at the integer ``input`` (any shape):
    output ``input.shape + (embedding_dim,)``.

    ``padding_idx``: that row receives no gradient. ``max_norm``: rows looked up whose
    ``norm_type``-norm exceeds it are first rescaled in place to that norm (as in PyTorch).
    """
    if sparse:
        raise NotImplementedError("embedding: sparse=True (sparse gradients) is not supported; "
                                  "deepgrad's gradients are dense")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got "
                         f"shape {weight.shape}")
    num = weight.shape[0]
    idx = _indices(input, num)
    pad = _padding(padding_idx, num, "embedding")
    if max_norm is not None:
        _renorm_(weight, idx, max_norm, norm_type)
    return Embedding.apply(weight, idx, padding_idx=pad, scale_grad_by_freq=scale_grad_by_freq)

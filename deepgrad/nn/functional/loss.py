"""Loss functions, by family: regression, classification, embedding (metric learning), KL.

Names, argument order, defaults and semantics are PyTorch's. Every loss takes
``reduction='mean'|'sum'|'none'``; PyTorch's deprecated ``size_average`` and ``reduce`` are left
out, so the arguments that follow them in PyTorch are keyword-only here.

Stricter than PyTorch by design: a target whose shape differs from the input's is an error
(PyTorch warns, or says nothing, and broadcasts: ``(N, 1)`` against ``(N,)`` silently gives an
``(N, N)`` loss). Targets are cast to the input's dtype, so a float64 NumPy target never turns a
float32 loss into float64.
"""

from __future__ import annotations

import numpy as np

from deepgrad.ops import loss as P
from deepgrad.ops.activation import softplus
from deepgrad.ops.elementwise import where
from deepgrad.ops.index import gather
from deepgrad.ops.promote import as_tensor
from deepgrad.tensor import Tensor

__all__ = [
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "nll_loss", "cross_entropy",
    "multi_margin_loss", "soft_margin_loss",
    "hinge_embedding_loss", "cosine_embedding_loss", "margin_ranking_loss",
    "triplet_margin_loss", "kl_div",
]

_REDUCTIONS = ("none", "mean", "sum")


# -- checks shared by the losses --------------------------------------------------------------
def _check_reduction(reduction: str, op: str, allowed: tuple = _REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, allowed))}, "
                         f"got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _floating(x, op: str, what: str = "input") -> Tensor:
    x = as_tensor(x)
    if x.array.dtype.kind != "f":
        raise TypeError(f"{op}: {what} must be a floating point tensor, got {x.dtype}")
    return x


def _paired(input, target, op: str, what: str = "target") -> tuple[Tensor, Tensor]:
    """input (floating) and target of the same shape, the target cast to input's dtype."""
    input, target = _floating(input, op), as_tensor(target)
    if target.shape != input.shape:
        raise ValueError(f"{op}: {what} has shape {target.shape}, expected {input.shape} "
                         "(the input's shape)")
    return input, target.to(input.dtype)


def _broadcastable(w, input: Tensor, op: str, what: str) -> Tensor:
    """w as a tensor of input's dtype that broadcasts to input's shape."""
    w = as_tensor(w)
    try:
        fits = np.broadcast_shapes(w.shape, input.shape) == input.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: {what} of shape {w.shape} does not broadcast to the input's "
                         f"shape {input.shape}")
    return w.to(input.dtype)


# -- regression ---------------------------------------------------------------------------------
def _weighted(loss: Tensor, weight, reduction: str, op: str, mean_by_weight: bool) -> Tensor:
    """PyTorch's elementwise weights: 'mean' is sum(w loss) / sum(w) (mse, l1), or mean(w loss)."""
    if weight is None:
        return _reduce(loss, reduction)
    weight = as_tensor(weight)
    if weight.shape != loss.shape:
        raise ValueError(f"{op}: weight has shape {weight.shape}, expected {loss.shape} "
                         "(the input's shape)")
    loss = loss * weight.to(loss.dtype)
    if reduction == "mean" and mean_by_weight:
        return loss.sum() / weight.sum().to(loss.dtype)
    return _reduce(loss, reduction)


def mse_loss(input: Tensor, target: Tensor, *, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    """Mean squared error ``(input - target)^2``."""
    _check_reduction(reduction, "mse_loss")
    input, target = _paired(input, target, "mse_loss")
    d = input - target
    return _weighted(d * d, weight, reduction, "mse_loss", mean_by_weight=True)


def l1_loss(input: Tensor, target: Tensor, *, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """Mean absolute error ``|input - target|``."""
    _check_reduction(reduction, "l1_loss")
    input, target = _paired(input, target, "l1_loss")
    return _weighted((input - target).abs(), weight, reduction, "l1_loss", mean_by_weight=True)


def smooth_l1_loss(input: Tensor, target: Tensor, *, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (d = input - target)."""
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    input, target = _paired(input, target, "smooth_l1_loss")
    d = input - target
    ad = d.abs()
    if beta == 0:  # the quadratic zone is empty: plain L1
        return _reduce(ad, reduction)
    return _reduce(where(ad.array < beta, d * d * (0.5 / beta), ad - 0.5 * beta), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)`` (d = input - target)."""
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    input, target = _paired(input, target, "huber_loss")
    d = input - target
    ad = d.abs()
    loss = where(ad.array < delta, d * d * 0.5, (ad - 0.5 * delta) * delta)
    return _weighted(loss, weight, reduction, "huber_loss", mean_by_weight=False)


# -- classification: binary ---------------------------------------------------------------------
def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
                         reduction: str = "mean") -> Tensor:
    """``-w (t log x + (1 - t) log(1 - x))`` for probabilities x; each log clamped at -100."""
    op = "binary_cross_entropy"
    _check_reduction(reduction, op)
    input, target = _paired(input, target, op)
    for name, t in (("input", input), ("target", target)):
        if t.array.size and (t.array.min() < 0 or t.array.max() > 1):
            raise ValueError(f"{op}: all elements of {name} should be between 0 and 1 (got "
                             f"values from {t.array.min()} to {t.array.max()}); for logits use "
                             "binary_cross_entropy_with_logits")
    loss = P.BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * _broadcastable(weight, input, op, "weight")
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, *, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross entropy of ``sigmoid(input)``, computed stably from the logits.

    ``pos_weight`` (broadcast along the last dimension, one per class) weighs the positive
    term: above 1 it raises recall, below 1 precision.
    """
    op = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, op)
    input, target = _paired(input, target, op)
    if pos_weight is not None:
        pos_weight = _broadcastable(pos_weight, input, op, "pos_weight")
    if weight is None:
        return P.BinaryCrossEntropyWithLogits.apply(input, target, pos_weight,
                                                    reduction=reduction)
    loss = P.BinaryCrossEntropyWithLogits.apply(input, target, pos_weight)
    return _reduce(loss * _broadcastable(weight, input, op, "weight"), reduction)


# -- classification: classes --------------------------------------------------------------------
def _class_inputs(input, target, op: str, probabilities: bool):
    """input in the (N, C, d1, ...) layout, its target, and whether the input was unbatched.

    The target is class indices of shape (N, d1, ...), or (probabilities=True) class
    probabilities of the input's shape. An unbatched input (C,) becomes (1, C).
    """
    input, target = _floating(input, op), as_tensor(target)
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    expected = input.shape[:1] + input.shape[2:] if input.ndim > 1 else ()
    kind = target.array.dtype.kind
    if kind == "f" and probabilities and target.shape == input.shape:
        target = target.to(input.dtype)
    elif kind not in "iu":
        wanted = "an integer tensor of class indices"
        if probabilities:
            wanted += f", or floating class probabilities of shape {input.shape}"
        raise TypeError(f"{op}: target has dtype {target.dtype} and shape {target.shape}; "
                        f"expected {wanted} of shape {expected}")
    elif target.shape != expected:
        raise ValueError(f"{op}: target has shape {target.shape}, expected {expected}")
    if input.ndim == 1:
        return input.reshape(1, -1), target.reshape((1,) + target.shape), True
    return input, target, False


def _check_classes(target: np.ndarray, n_classes: int, ignore_index: int, op: str) -> None:
    if not target.size or 0 <= target.min() and target.max() < n_classes:
        return
    bad = (target < 0) | (target >= n_classes)
    if ignore_index is not None:
        bad &= target != ignore_index
    if bad.any():
        raise IndexError(f"{op}: target {target[bad].flat[0]} is out of bounds for "
                         f"{n_classes} classes (valid: 0 to {n_classes - 1})")


def _class_weight(weight, n_classes: int, dtype, op: str):
    """The per-class weights as an array of the input's dtype (None: all ones)."""
    if weight is None:
        return None
    w = as_tensor(weight).array
    if w.shape != (n_classes,):
        raise ValueError(f"{op}: weight has shape {w.shape}, expected ({n_classes},) "
                         "(one weight per class)")
    return w.astype(dtype, copy=False)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: ``-weight[t] * input[n, t]`` for log-probabilities ``input``.

    'mean' divides by the summed weights of the targets that are not ``ignore_index``.
    """
    _check_reduction(reduction, "nll_loss")
    x, t, unbatched = _class_inputs(input, target, "nll_loss", probabilities=False)
    _check_classes(t.array, x.shape[1], ignore_index, "nll_loss")
    w = _class_weight(weight, x.shape[1], x.array.dtype, "nll_loss")
    out = P.NLLLoss.apply(x, t.array, weight=w, ignore_index=ignore_index, reduction=reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy of logits ``input`` (N, C, d1, ...) and class indices or probabilities.

    Fused log-softmax and NLL (stable for any logits). ``label_smoothing`` s mixes the target
    with the uniform distribution: ``(1 - s) target + s / C``.
    """
    op = "cross_entropy"
    _check_reduction(reduction, op)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing}")
    x, t, unbatched = _class_inputs(input, target, op, probabilities=True)
    if t.array.dtype.kind == "f":
        if ignore_index >= 0:
            raise ValueError(f"{op}: ignore_index={ignore_index} is not supported with class "
                             "probability targets")
    else:
        _check_classes(t.array, x.shape[1], ignore_index, op)
        t = t.array  # indices: not differentiable
    w = _class_weight(weight, x.shape[1], x.array.dtype, op)
    out = P.CrossEntropy.apply(x, t, weight=w, ignore_index=ignore_index,
                               label_smoothing=float(label_smoothing), reduction=reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, *, reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss: ``sum_{i != t} w[t] max(0, margin - x[t] + x[i])^p / C``."""
    op = "multi_margin_loss"
    _check_reduction(reduction, op)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 are supported, got p={p}")
    input, target = _floating(input, op), as_tensor(target)
    if input.ndim not in (1, 2) or input.numel() == 0:
        raise ValueError(f"{op}: input must be a non-empty (C,) or (N, C) tensor, got shape "
                         f"{input.shape}")
    if target.array.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must be an integer tensor of class indices, got "
                        f"{target.dtype}")
    n = input.shape[0] if input.ndim == 2 else 1
    if target.numel() != n or target.ndim > 1:
        expected = (n,) if input.ndim == 2 else "() or (1,)"
        raise ValueError(f"{op}: target has shape {target.shape}, expected {expected}")
    x = input.reshape(n, -1)
    n_classes = x.shape[1]
    t = target.array.reshape(n)
    _check_classes(t, n_classes, None, op)
    # each class's share of the loss: 0 at the target class, w[t] / C at the others
    share = (t[:, None] != np.arange(n_classes)).astype(x.array.dtype) / n_classes
    w = _class_weight(weight, n_classes, x.array.dtype, op)
    if w is not None:
        share *= w[t][:, None]
    z = (margin - gather(x, 1, t[:, None]) + x).relu()
    if p == 2:
        z = z * z
    loss = (z * Tensor._make(share, None)).sum(1).reshape(target.shape)
    return _reduce(loss, reduction)


def soft_margin_loss(input: Tensor, target: Tensor, *, reduction: str = "mean") -> Tensor:
    """Two-class logistic loss ``log(1 + exp(-y x))`` for targets y of +1 or -1."""
    _check_reduction(reduction, "soft_margin_loss")
    input, target = _paired(input, target, "soft_margin_loss")
    return _reduce(softplus(-(input * target)), reduction)


# -- embeddings ---------------------------------------------------------------------------------
def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, *,
                         reduction: str = "mean") -> Tensor:
    """``x`` where y = 1 and ``max(0, margin - x)`` where y = -1 (x: a distance, y: +-1)."""
    _check_reduction(reduction, "hinge_embedding_loss")
    input, target = _paired(input, target, "hinge_embedding_loss")
    y = target.array
    loss = where(y != 1, (margin - input).clamp(min=0), 0) + where(y != -1, input, 0)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          *, reduction: str = "mean") -> Tensor:
    """``1 - cos(x1, x2)`` where y = 1 and ``max(0, cos(x1, x2) - margin)`` where y = -1."""
    op = "cosine_embedding_loss"
    _check_reduction(reduction, op)
    x1, x2 = _floating(input1, op, "input1"), _floating(input2, op, "input2")
    x2 = x2.to(x1.dtype)
    y = as_tensor(target).array
    if x1.ndim not in (1, 2) or x1.shape != x2.shape:
        raise ValueError(f"{op}: input1 and input2 must have the same shape, (N, D) or (D,); "
                         f"got {x1.shape} and {x2.shape}")
    if y.shape != x1.shape[:-1]:
        raise ValueError(f"{op}: target has shape {y.shape}, expected {x1.shape[:-1]}")
    eps = 1e-12  # as PyTorch: keeps zero vectors from dividing by zero
    norms = ((x1 * x1).sum(-1) + eps) * ((x2 * x2).sum(-1) + eps)
    cos = (x1 * x2).sum(-1) / norms.sqrt()
    loss = where(y == 1, 1 - cos, 0) + where(y == -1, (cos - margin).clamp(min=0), 0)
    return _reduce(loss, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        *, reduction: str = "mean") -> Tensor:
    """``max(0, -y (x1 - x2) + margin)``: x1 should rank above x2 where y = 1, below where -1."""
    op = "margin_ranking_loss"
    _check_reduction(reduction, op)
    x1, x2 = _paired(input1, input2, op, "input2")
    x1, y = _paired(x1, target, op)
    return _reduce((margin - y * (x1 - x2)).clamp(min=0), reduction)


def _pairwise_distance(x1: Tensor, x2: Tensor, p: float, eps: float) -> Tensor:
    """The p-norm of ``x1 - x2 + eps`` over the last dimension (PyTorch's pairwise_distance)."""
    d = (x1 - x2 + eps).abs()
    if p == float("inf"):
        return d.amax(-1)
    return d.pow(p).sum(-1).pow(1 / p)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2.0, eps: float = 1e-6, swap: bool = False, *,
                        reduction: str = "mean") -> Tensor:
    """``max(0, d(a, p) - d(a, n) + margin)`` with d the p-norm distance.

    ``swap`` uses ``min(d(a, n), d(p, n))`` as the negative distance (the harder negative).
    """
    op = "triplet_margin_loss"
    _check_reduction(reduction, op)
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    if p <= 0:
        raise ValueError(f"{op}: p must be positive, got {p}")
    a = _floating(anchor, op, "anchor")
    pos = _floating(positive, op, "positive").to(a.dtype)
    neg = _floating(negative, op, "negative").to(a.dtype)
    if not a.ndim == pos.ndim == neg.ndim or a.ndim == 0:
        raise ValueError(f"{op}: anchor, positive and negative must have the same number of "
                         f"dimensions (at least 1); got shapes {a.shape}, {pos.shape} and "
                         f"{neg.shape}")
    d_pos = _pairwise_distance(a, pos, p, eps)
    d_neg = _pairwise_distance(a, neg, p, eps)
    if swap:
        d_neg = d_neg.minimum(_pairwise_distance(pos, neg, p, eps))
    return _reduce((d_pos - d_neg + margin).clamp(min=0), reduction)


# -- distributions ------------------------------------------------------------------------------
def kl_div(input: Tensor, target: Tensor, *, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence ``t (log t - input)`` for log-probabilities ``input``.

    ``log_target=True`` takes the target as log-probabilities too. 'batchmean' (sum / batch
    size) is the mathematical KL divergence; 'mean' divides by the number of elements.
    """
    _check_reduction(reduction, "kl_div", _REDUCTIONS + ("batchmean",))
    input, target = _paired(input, target, "kl_div")
    if log_target:
        loss = target.exp() * (target - input)
    else:  # t log t, taken as 0 where t = 0
        safe = where(target.array > 0, target, 1)
        loss = target * safe.log() - target * input
    if reduction == "batchmean":
        total = loss.sum()
        return total / input.shape[0] if input.ndim else total
    return _reduce(loss, reduction)

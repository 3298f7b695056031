"""Fused loss primitives, where one step is simpler and more stable than a chain of small ops.

- ``CrossEntropy``: log-softmax and negative log-likelihood at once, over class-index or
  probability targets, with class weights, ``ignore_index`` and label smoothing. Its backward is
  ``softmax * sum(q) - q``, where ``q`` are the per-class target weights of a sample.
- ``NLLLoss``: the negative log-likelihood of log-probabilities at the target classes.
- ``BinaryCrossEntropy``: on probabilities, with the logs clamped at -100 (as PyTorch does).
- ``BinaryCrossEntropyWithLogits``: on logits, in the softplus form (no overflow, no log(0)).

The class dimension is axis 1 (``(N, C)`` or spatial ``(N, C, d1, ...)``); the functions in
``deepgrad.nn.functional`` check the shapes and bring unbatched inputs to this layout. The
class-index primitives reduce inside forward ('mean' divides by the summed target weights), so
their backward knows each element's share of the gradient.
"""

from __future__ import annotations

import numpy as np

from deepgrad.autograd import Function


def softmax_parts(x: np.ndarray):
    """Along axis 1: x minus its maximum, the log-sum-exp of that, and softmax(x).

    ``log_softmax(x) = shifted - lse``; subtracting the maximum keeps exp from overflowing.
    """
    shifted = x - x.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    total = p.sum(axis=1, keepdims=True)
    p /= total
    return shifted, np.log(total), p


def targets_and_weights(target, weight, ignore_index: int, dtype):
    """The index of each element's target class along axis 1 (ignored targets point at class
    0), and each element's class weight (0 where ignored)."""
    keep = target != ignore_index
    safe = np.where(keep, target, 0)
    ndim = target.ndim
    at = [np.arange(n).reshape((n,) + (1,) * (ndim - 1 - d)) for d, n in enumerate(target.shape)]
    at.insert(1, safe)
    at = tuple(at)
    if weight is None:
        return at, keep.astype(dtype)
    return at, np.where(keep, weight[safe], 0).astype(dtype, copy=False)


def _reduce(loss, wsum, reduction: str):
    """The reduced loss and the factor each element's gradient takes ('mean': 1 / wsum)."""
    if reduction == "none":
        return loss, None
    if reduction == "sum":
        return loss.sum(), 1
    wsum = np.asarray(wsum, loss.dtype)
    scale = np.reciprocal(wsum) if wsum else np.asarray(np.nan, loss.dtype)  # 0 / 0, as torch
    return loss.sum() * scale, scale


def _per_element(g, scale, shape):
    """The upstream gradient of each loss element."""
    return g if scale is None else np.broadcast_to(g * scale, shape)


class NLLLoss(Function):
    """``-weight[t] * logp[n, t]`` at each target class t, reduced."""
    __slots__ = ("shape", "at", "w", "scale")

    def forward(self, logp, target, weight, ignore_index, reduction):
        self.at, self.w = targets_and_weights(target, weight, ignore_index, logp.dtype)
        self.shape = logp.shape
        out, self.scale = _reduce(-self.w * logp[self.at], self.w.sum(), reduction)
        return out

    def backward(self, g):
        grad = np.zeros(self.shape, self.w.dtype)
        grad[self.at] = -_per_element(g, self.scale, self.w.shape) * self.w
        return grad, None


class CrossEntropy(Function):
    """``-sum_c q_c log_softmax(x)_c`` per sample, reduced; q are the per-class target weights.

    Class indices t: ``q = (1 - ls) weight[t] onehot(t) + (ls / C) weight`` (ls: label
    smoothing), zero where t is ignored; 'mean' divides by the summed ``weight[t]`` of the kept
    targets. Probabilities p: ``q = weight ((1 - ls) p + ls / C)``; 'mean' divides by the number
    of samples. The gradient is ``softmax(x) sum_c(q) - q``.
    """
    __slots__ = ("p", "logp", "target", "at", "w", "weight", "smoothing", "keep", "scale")

    def forward(self, x, target, weight, ignore_index, label_smoothing, reduction):
        n_classes = x.shape[1]
        shifted, lse, self.p = softmax_parts(x)
        self.smoothing = ls = label_smoothing
        self.weight = None if weight is None else weight.reshape(
            (1, n_classes) + (1,) * (x.ndim - 2))  # broadcasts along the class axis
        if target.dtype.kind == "f":  # class probabilities
            self.target, self.w = target, None
            self.logp = np.subtract(shifted, lse, out=shifted)
            loss = -(self._q() * self.logp).sum(axis=1)
            out, self.scale = _reduce(loss, loss.size, reduction)
            return out
        self.at, self.w = targets_and_weights(target, weight, ignore_index, x.dtype)
        lse = lse[:, 0]
        loss = (1 - ls) * self.w * (lse - shifted[self.at])
        if ls:  # minus (ls / C) sum_c weight_c log_softmax_c, where the target is kept
            self.keep = (target != ignore_index).astype(x.dtype)
            if weight is None:
                spread = shifted.sum(axis=1) - n_classes * lse
            else:
                spread = (shifted * self.weight).sum(axis=1) - weight.sum() * lse
            loss -= (ls / n_classes) * self.keep * spread
        out, self.scale = _reduce(loss, self.w.sum(), reduction)
        return out

    def _q(self):
        """The per-class target weights of probability targets."""
        ls, q = self.smoothing, self.target
        if ls:
            q = q * (1 - ls) + ls / q.shape[1]
        return q if self.weight is None else q * self.weight

    def backward(self, g):
        p, ls, weight = self.p, self.smoothing, self.weight
        gl = _per_element(g, self.scale, p.shape[:1] + p.shape[2:])[:, None]
        if self.w is None:  # probability targets
            q = self._q()
            grad = p * q.sum(axis=1, keepdims=True)
            grad -= q
            grad *= gl
            gt = None
            if self.needs_input_grad[1]:
                logp = self.logp
                gt = -(1 - ls) * gl * (logp if weight is None else logp * weight)
            return grad, gt
        # class indices: q is (1 - ls) w[t] at the target class plus ls / C * weight everywhere
        g_hit = gl * self.w[:, None] * (1 - ls)
        q_sum = g_hit
        if ls:
            g_spread = gl * self.keep[:, None] * (ls / p.shape[1])
            q_sum = g_hit + g_spread * (p.shape[1] if weight is None else weight.sum())
        grad = p * q_sum
        grad[self.at] -= g_hit[:, 0]
        if ls:
            grad -= g_spread if weight is None else g_spread * weight
        return grad, None


class BinaryCrossEntropy(Function):
    """``-(t log x + (1 - t) log(1 - x))`` on probabilities x, each log clamped at -100."""
    __slots__ = ("x", "t", "log_x", "log_1mx")

    def forward(self, x, t):
        with np.errstate(divide="ignore"):
            self.log_x = np.maximum(np.log(x), -100)
            self.log_1mx = np.maximum(np.log1p(-x), -100)
        self.x, self.t = x, t
        return -(self.log_1mx + t * (self.log_x - self.log_1mx))

    def backward(self, g):
        x, t = self.x, self.t
        gx = gt = None
        if self.needs_input_grad[0]:
            gx = g * (x - t) / np.maximum(x * (1 - x), 1e-12)
        if self.needs_input_grad[1]:
            gt = g * (self.log_1mx - self.log_x)
        return gx, gt


class BinaryCrossEntropyWithLogits(Function):
    """``(1 - t) x + (1 + (pw - 1) t) softplus(-x)``: BCE of sigmoid(x), without its logs.

    pos_weight pw (None: 1) scales the positive term; the sigmoid comes from the saved
    softplus as ``exp(-softplus(-x))``, so no step overflows. ``reduction`` 'mean' or 'sum'
    reduces inside the primitive (one graph node for the whole loss), 'none' does not.
    """
    __slots__ = ("x", "t", "pos_weight", "sp", "reduction")

    def forward(self, x, t, pos_weight, reduction="none"):
        self.x, self.t, self.pos_weight, self.reduction = x, t, pos_weight, reduction
        self.sp = np.logaddexp(0, -x)  # softplus(-x) = -log(sigmoid(x))
        if pos_weight is None:
            loss = (1 - t) * x + self.sp
        else:
            loss = (1 - t) * x + (1 + (pos_weight - 1) * t) * self.sp
        if reduction == "none":
            return loss
        return loss.mean() if reduction == "mean" else loss.sum()

    def backward(self, g):
        x, t, pw, sp = self.x, self.t, self.pos_weight, self.sp
        if self.reduction == "mean":
            g = g / max(x.size, 1)
        need_x, need_t, need_pw = self.needs_input_grad
        gx = gt = gpw = None
        if need_x:  # sigmoid(x) - t, or (1 + (pw - 1) t) sigmoid(x) - pw t
            sig = np.exp(-sp)
            gx = g * (sig - t if pw is None else (1 + (pw - 1) * t) * sig - pw * t)
        if need_t:
            gt = g * (-x if pw is None else (pw - 1) * sp - x)
        if need_pw:
            gpw = g * t * sp
        return gx, gt, gpw

"""Fused normalization primitives: batch, layer and group norm.

Each standardizes its input over some axes, ``x_hat = (x - mean) / sqrt(var + eps)`` with the
biased variance (computed in two passes, from ``x - mean``, so large means cost no precision),
then applies a per-feature affine map ``y = x_hat * weight + bias``. With ``dy_hat = dy * weight``
and means over the same axes, the backward is the closed form

    dx = inv_std * (dy_hat - mean(dy_hat) - x_hat * mean(dy_hat * x_hat)),
    dweight = sum(dy * x_hat),  dbias = sum(dy)  (over every axis but the feature's).

- ``BatchNorm``: over (N, C, *), statistics per channel over the batch and all positions; in
  training it also updates running statistics in place (the unbiased variance, as PyTorch does),
  in evaluation it normalizes with them instead.
- ``LayerNorm``: over the trailing dims of each sample, affine per element of those dims.
- ``GroupNorm``: over groups of channels (and positions) of each sample, affine per channel.

Per-channel sums are ``einsum`` contractions over a (N, C, positions) view: they read the
operands once and build no temporary.
"""

from __future__ import annotations

import numpy as np

from deepgrad.autograd import Function
from deepgrad.ops import fused


def _channel_sum(a):
    """Sum of a (N, C, S) array over N and S."""
    return np.einsum("ncs->c", a)


def _channel_dot(a, b):
    """Sum of a * b over N and S of two (N, C, S) arrays, without forming a * b."""
    return np.einsum("ncs,ncs->c", a, b)


class BatchNorm(Function):
    """Per-channel normalization of x (N, C, *), with optional weight and bias (C,).

    ``training``: normalize with the batch statistics and, where running_mean/running_var are
    given, blend them in: ``running = (1 - momentum) * running + momentum * batch_stat``.
    Otherwise normalize with the running statistics (an affine map of x).

    A channels-last x (as convolutions return) goes through the compiled kernels of
    ``deepgrad.ops.fused`` where they are available: two passes forward, two backward. Otherwise
    the NumPy lines below do the same.
    """
    __slots__ = ("xc", "x", "mean", "inv_std", "w", "training", "by_kernels")

    def forward(self, x, weight, bias, *, running_mean, running_var, training, momentum, eps):
        self.training, self.w = training, weight
        rows = _channel_rows(x)
        self.by_kernels = rows is not None and fused.usable(rows)
        if self.by_kernels:
            return self._forward_rows(x, rows, weight, bias, running_mean, running_var,
                                      momentum, eps)
        n, c = x.shape[:2]
        x3 = x.reshape(n, c, -1)
        if training:
            count = x3.shape[0] * x3.shape[2]
            mean = _channel_sum(x3) / count
            self.xc = xc = x3 - mean[:, None]  # saved instead of x_hat: one pass fewer
            var = _channel_dot(xc, xc) / count
            self.inv_std = 1 / np.sqrt(var + eps)
            _update_running(running_mean, running_var, mean, var, count, momentum)
        else:
            self.x, self.mean = x3, running_mean.astype(x.dtype)  # a copy: buffers change
            self.inv_std = 1 / np.sqrt(running_var.astype(x.dtype) + eps)
        scale = self.inv_std if weight is None else weight * self.inv_std
        if training:  # y = (x - mean) * scale + bias
            out, shift = xc * scale[:, None], bias
        else:  # the same with the running mean, as y = x * scale + shift
            out, shift = x3 * scale[:, None], -self.mean * scale
            if bias is not None:
                shift += bias
        if shift is not None:
            out += shift[:, None]
        return out.reshape(x.shape)

    def _forward_rows(self, x, rows, weight, bias, running_mean, running_var, momentum, eps):
        """The forward on the (M, C) rows of a channels-last x, by the compiled kernels."""
        if self.training:
            mean, var = fused.channel_mean_var(rows)
            _update_running(running_mean, running_var, mean, var, rows.shape[0], momentum)
        else:
            mean, var = running_mean.astype(np.float64), running_var.astype(np.float64)
        inv_std = 1 / np.sqrt(var + eps)
        scale = inv_std if weight is None else weight * inv_std
        shift = -mean * scale if bias is None else bias - mean * scale
        self.x, self.mean, self.inv_std = rows, mean, inv_std  # float64 statistics
        out = np.empty_like(rows)
        fused.channel_affine(rows, *_as(rows.dtype, scale, shift), out)
        return _from_rows(out, x.shape)

    def backward(self, g):
        if self.by_kernels:
            return self._backward_rows(g)
        need_x, need_w, need_b = self.needs_input_grad
        scale = self.inv_std if self.w is None else self.w * self.inv_std
        if not self.training:  # y = x * scale + shift
            g3 = g.reshape(self.x.shape)
            dw = (_channel_dot(g3, self.x) - self.mean * _channel_sum(g3)) * self.inv_std \
                if need_w else None
            dx = (g3 * scale[:, None]).reshape(g.shape) if need_x else None
            return dx, dw, (_channel_sum(g3) if need_b else None)
        xc = self.xc
        g3 = g.reshape(xc.shape)
        db = _channel_sum(g3)
        dw = _channel_dot(g3, xc) * self.inv_std  # sum(dy * x_hat), also a term of dx
        dx = None
        if need_x:
            count = g3.shape[0] * g3.shape[2]
            # (dy - mean(dy) - x_hat * mean(dy * x_hat)) * weight * inv_std, in one buffer
            dx = xc * (dw * self.inv_std / count)[:, None]
            dx += (db / count)[:, None]
            dx = np.subtract(g3, dx, out=dx)
            dx *= scale[:, None]
            dx = dx.reshape(g.shape)
        return dx, (dw if need_w else None), (db if need_b else None)

    def _backward_rows(self, g):
        """The backward by the compiled kernels: one pass for the sums, one for dx, which is
        an affine map of g and x per channel (the closed form above, expanded)."""
        need_x, need_w, need_b = self.needs_input_grad
        x, mean, inv_std, dtype = self.x, self.mean, self.inv_std, self.x.dtype
        g_rows = np.ascontiguousarray(np.moveaxis(g, 1, -1)).reshape(x.shape)
        sum_g, sum_gx = fused.channel_grad_sums(g_rows, x, mean)
        dw = (sum_gx * inv_std).astype(dtype) if need_w else None
        db = sum_g.astype(dtype) if need_b else None
        if not need_x:
            return None, dw, db
        scale = inv_std if self.w is None else self.w * inv_std
        a, b, shift = scale, np.zeros_like(scale), np.zeros_like(scale)
        if self.training:  # dx = (g - mean(g) - (x - mean) * inv_std^2 * mean(g (x - mean))) a
            count = x.shape[0]
            k = inv_std ** 2 * sum_gx / count
            b, shift = -scale * k, scale * (mean * k - sum_g / count)
        dx = np.empty_like(x)
        fused.channel_affine2(g_rows, *_as(dtype, a), x, *_as(dtype, b, shift), dx)
        return _from_rows(dx, g.shape), dw, db


def _channel_rows(x):
    """x (N, C, *S) as a (N * S, C) view where its memory is channels-last, else None."""
    last = np.moveaxis(x, 1, -1)
    return last.reshape(-1, x.shape[1]) if last.flags.c_contiguous else None


def _from_rows(rows, shape):
    """(N * S, C) rows as the channels-last (N, C, *S) view of that shape (``_channel_rows``
    undone)."""
    n, c, *size = shape
    return np.moveaxis(rows.reshape(n, *size, c), -1, 1)


def _as(dtype, *vectors):
    return [np.ascontiguousarray(v, dtype=dtype) for v in vectors]


def _update_running(running_mean, running_var, mean, var, count, momentum) -> None:
    """Blend the batch statistics into the running ones (the unbiased variance, as PyTorch)."""
    if running_mean is not None:
        _blend(running_mean, mean, momentum)
    if running_var is not None:
        _blend(running_var, var * (count / (count - 1)), momentum)


def _blend(running, stat, momentum: float) -> None:
    """``running = (1 - momentum) * running + momentum * stat``, in place."""
    running *= 1 - momentum
    running += momentum * stat.astype(running.dtype, copy=False)


def _row_mean(a, b=None):
    """The mean of each row of a (M, D), or of a * b without forming it, as (M, 1)."""
    sums = np.einsum("md->m", a) if b is None else np.einsum("md,md->m", a, b)
    return sums[:, None] / a.shape[1]


def _standardize(x2, eps: float):
    """Each row of x2 (M, D) standardized, and the rows' 1 / std (M, 1)."""
    xc = x2 - _row_mean(x2)
    inv_std = 1 / np.sqrt(_row_mean(xc, xc) + eps)
    return np.multiply(xc, inv_std, out=xc), inv_std


def _standardize_grad(gxhat, xhat, inv_std):
    """The gradient of rows' inputs from that of their standardized values (closed form)."""
    dx = xhat * _row_mean(gxhat, xhat)
    dx += _row_mean(gxhat)
    dx = np.subtract(gxhat, dx, out=dx)
    dx *= inv_std
    return dx


class LayerNorm(Function):
    """Normalization of x over its last ``ndim`` dims, with weight and bias of those dims."""
    __slots__ = ("xhat", "inv_std", "w", "tail")

    def forward(self, x, weight, bias, *, ndim, eps):
        self.tail = x.shape[x.ndim - ndim:]
        self.xhat, self.inv_std = _standardize(x.reshape(-1, int(np.prod(self.tail))), eps)
        self.w = None if weight is None else weight.reshape(-1)
        out = self.xhat * self.w if weight is not None else self.xhat.copy()
        if bias is not None:
            out += bias.reshape(-1)
        return out.reshape(x.shape)

    def backward(self, g):
        need_x, need_w, need_b = self.needs_input_grad
        g2 = g.reshape(self.xhat.shape)
        dx = _standardize_grad(g2 if self.w is None else g2 * self.w, self.xhat,
                               self.inv_std).reshape(g.shape) if need_x else None
        dw = np.einsum("md,md->d", g2, self.xhat).reshape(self.tail) if need_w else None
        db = g2.sum(axis=0).reshape(self.tail) if need_b else None
        return dx, dw, db


class GroupNorm(Function):
    """Normalization of x (N, C, *) over each sample's groups of C / num_groups channels (and
    all positions), with weight and bias per channel (C,)."""
    __slots__ = ("xhat", "inv_std", "w")

    def forward(self, x, weight, bias, *, num_groups, eps):
        n, c = x.shape[:2]
        xhat, self.inv_std = _standardize(x.reshape(n * num_groups, -1), eps)
        self.xhat = xhat.reshape(n, c, -1)
        self.w = weight
        out = self.xhat * weight[:, None] if weight is not None else self.xhat.copy()
        if bias is not None:
            out += bias[:, None]
        return out.reshape(x.shape)

    def backward(self, g):
        need_x, need_w, need_b = self.needs_input_grad
        xhat = self.xhat
        g3 = g.reshape(xhat.shape)
        dx = None
        if need_x:
            gxhat = g3 if self.w is None else g3 * self.w[:, None]
            rows = self.inv_std.shape[0]
            dx = _standardize_grad(gxhat.reshape(rows, -1), xhat.reshape(rows, -1),
                                   self.inv_std).reshape(g.shape)
        dw = _channel_dot(g3, xhat) if need_w else None
        db = _channel_sum(g3) if need_b else None
        return dx, dw, db

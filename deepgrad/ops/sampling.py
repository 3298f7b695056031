"""Resampling primitive for ``interpolate``: nearest and (bi)linear, separable over the spatial
axes.

Each spatial axis is resampled by a gather (nearest: one source index per output position;
linear: two indices and their weights), the last axis first, which is PyTorch's order of
operations for bilinear. Backward scatter-adds along each axis in reverse order; the source
indices never decrease, so the scatter is a segment sum (``np.add.reduceat``).
"""

from __future__ import annotations

import numpy as np

from deepgrad.autograd import Function


def nearest_indices(in_size: int, out_size: int, scale: float | None) -> np.ndarray:
    """PyTorch's 'nearest' source index: min(floor(dst * s), in - 1) in float32, where s is
    1/scale (the scale_factor given) or in/out."""
    s = np.float32(1.0 / scale) if scale else np.float32(in_size) / np.float32(out_size)
    src = np.floor(np.arange(out_size, dtype=np.float32) * s).astype(np.int64)
    return np.minimum(src, in_size - 1)


def linear_weights(in_size: int, out_size: int, scale: float | None, align_corners: bool,
                   dtype) -> tuple:
    """PyTorch's linear sampling along one axis: (i0, i1, w0, w1), out = w0*x[i0] + w1*x[i1]."""
    dt = np.dtype(dtype).type
    dst = np.arange(out_size, dtype=dt)
    if align_corners:
        s = dt(in_size - 1) / dt(out_size - 1) if out_size > 1 else dt(0)
        src = s * dst
    else:
        s = dt(1.0 / scale) if scale else dt(in_size) / dt(out_size)
        src = np.maximum(s * (dst + dt(0.5)) - dt(0.5), dt(0))
    i0 = src.astype(np.int64)
    i1 = i0 + (i0 < in_size - 1)
    w1 = src - i0.astype(dt)
    return i0, i1, dt(1) - w1, w1


def _along(axis: int, v: np.ndarray) -> np.ndarray:
    """A 1-d array shaped to broadcast along a negative axis."""
    return v.reshape((-1,) + (1,) * (-axis - 1))


def _segment_sum(g: np.ndarray, index: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Slices of g along axis summed into `size` slots, slice k into slot index[k]
    (index non-decreasing)."""
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    sums = np.add.reduceat(g, starts, axis=axis)
    if len(starts) == size:
        return sums
    shape = list(g.shape)
    shape[axis] = size
    out = np.zeros(shape, g.dtype)
    out[(..., index[starts]) + (slice(None),) * (-axis - 1)] = sums
    return out


class Resample(Function):
    """Per spatial axis (``plans[k]`` for axis k - len(plans)): ``("nearest", index)`` or
    ``("linear", i0, i1, w0, w1)``."""

    __slots__ = ("plans", "in_shape")

    def forward(self, x, plans):
        self.plans, self.in_shape = plans, x.shape
        for k in range(len(plans) - 1, -1, -1):
            axis, plan = k - len(plans), plans[k]
            if plan[0] == "nearest":
                x = x.take(plan[1], axis=axis)
            else:
                _, i0, i1, w0, w1 = plan
                x = x.take(i0, axis=axis) * _along(axis, w0) + \
                    x.take(i1, axis=axis) * _along(axis, w1)
        return x

    def backward(self, g):
        for k, plan in enumerate(self.plans):
            axis = k - len(self.plans)
            size = self.in_shape[axis]
            if plan[0] == "nearest":
                g = _segment_sum(g, plan[1], size, axis)
            else:
                _, i0, i1, w0, w1 = plan
                g = _segment_sum(g * _along(axis, w0), i0, size, axis) + \
                    _segment_sum(g * _along(axis, w1), i1, size, axis)
        return g

"""Pooling primitives over the last two axes of an array (``(..., H, W)``): max, average,
adaptive average and adaptive max.

Regular windows are read as strided slices, one per kernel offset (a loop over the kh*kw
offsets, never over pixels), so no window copy of the input is made. Max pooling returns
PyTorch's indices (flat positions in each input plane) on request; its backward routes the
gradient offset by offset. Max pooling keeps its input's memory layout (a channels-last
convolution output stays channels-last, in the gradient too), because NumPy is several times
slower on operands whose layouts differ. ``nn.functional.pooling`` validates arguments and
wraps these.
"""

from __future__ import annotations

import math

import numpy as np

from deepgrad.autograd import Function
from deepgrad.backend import full_in_order, memory_order
from deepgrad.ops import fused


# -- geometry -----------------------------------------------------------------------------------
def pooled_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
                ceil_mode: bool) -> int:
    """PyTorch's output length of a pooling window sliding over ``size`` elements."""
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window must start inside the input or its left padding
    return out


def _in_layout(a: np.ndarray, layout: tuple) -> np.ndarray:
    """a itself if laid out in the axis order ``layout``, else a copy that is."""
    if memory_order(a) == layout:
        return a
    out = full_in_order(a.shape, 0, a.dtype, layout)
    out[...] = a
    return out


def _frame(x: np.ndarray, top: int, left: int, height: int, width: int, fill) -> np.ndarray:
    """x placed in a (height, width) frame with its [0, 0] at (top, left); fill elsewhere
    (x is cropped where it goes past the frame)."""
    if top == 0 and left == 0 and x.shape[-2:] == (height, width):
        return x
    out = full_in_order(x.shape[:-2] + (height, width), fill, x.dtype, memory_order(x))
    h, w = min(x.shape[-2], height - top), min(x.shape[-1], width - left)
    out[..., top:top + h, left:left + w] = x[..., :h, :w]
    return out


def _unframe(g: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """The inverse of _frame for gradients: the (height, width) window at (top, left) of g,
    zeros where it goes past g."""
    if top == 0 and left == 0 and g.shape[-2:] == (height, width):
        return g
    h, w = min(height, g.shape[-2] - top), min(width, g.shape[-1] - left)
    if (h, w) == (height, width):
        return g[..., top:top + h, left:left + w].copy(order="K")
    out = np.zeros(g.shape[:-2] + (height, width), g.dtype)
    out[..., :h, :w] = g[..., top:top + h, left:left + w]
    return out


def _offsets(kernel, stride, dilation, out_size):
    """Per kernel offset (row-major), the slices of the framed input that it sees."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_size
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
        for j in range(kw):
            yield (..., rows, slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))


def _plane_starts(shape: tuple) -> np.ndarray:
    """Where each (H, W) plane of an array of this shape starts in its flat buffer, shaped to
    broadcast against per-plane indices."""
    plane = shape[-2] * shape[-1]
    return np.arange(0, math.prod(shape[:-2]) * plane, plane).reshape(shape[:-2] + (1, 1))


def _scatter_to_indices(g: np.ndarray, index: np.ndarray, in_shape: tuple,
                        overlap: bool) -> np.ndarray:
    """Gradient of a gather at flat plane indices: g summed into zeros of in_shape."""
    out = np.zeros(math.prod(in_shape), g.dtype)
    flat = (index + _plane_starts(in_shape)).ravel()
    if overlap:  # a position can be the max of several windows
        np.add.at(out, flat, g.ravel())
    else:
        out[flat] = g.ravel()
    return out.reshape(in_shape)


# -- max pooling --------------------------------------------------------------------------------
def _window_max(framed, kernel, stride, dilation, out_size, nan_aware: bool):
    """Per output, the window's max and the (row-major) kernel offset holding it: the first
    maximum, or the last NaN when nan_aware (PyTorch's choice; values are NaN either way)."""
    best = arg = take = None
    for k, where in enumerate(_offsets(kernel, stride, dilation, out_size)):
        v = framed[where]
        if best is None:  # all three in v's memory layout
            best = v.copy(order="K")
            arg = np.zeros_like(best, np.uint8 if kernel[0] * kernel[1] < 256 else np.int32)
            take = np.empty_like(best, np.bool_)
            continue
        np.greater(v, best, out=take)
        if nan_aware:
            take |= np.isnan(v)
        np.maximum(best, v, out=best)  # NaN propagates, as in PyTorch
        # offsets only grow, so "arg = k where taken" is a max (fast, unlike a masked write)
        np.maximum(arg, take.view(np.uint8) * arg.dtype.type(k), out=arg)
    return best, arg


def _kernel_pools(x, kernel, stride, padding, dilation, out_size) -> bool:
    """Whether ``fused.max_pool`` takes this pooling: a channels-last batch (as convolutions
    make), windows that neither overlap nor need padding, and Numba there."""
    (kh, kw), (sh, sw) = kernel, stride
    return x.ndim == 4 and x.dtype in (np.float32, np.float64) and fused.available() \
        and np.moveaxis(x, 1, -1).flags.c_contiguous and x.size > 0 \
        and padding == (0, 0) and dilation == (1, 1) and sh >= kh and sw >= kw \
        and kh * kw < 256 and min(out_size) > 0 \
        and (out_size[0] - 1) * sh + kh <= x.shape[2] and (out_size[1] - 1) * sw + kw <= x.shape[3]


class MaxPool2d(Function):
    """Max over each window; saves the winning kernel offset per output (one byte) and turns
    it into input positions only when asked or in backward.

    ``indices``: a list that receives the int64 indices (PyTorch's second output).
    """

    __slots__ = ("arg", "geometry", "in_shape", "layout", "by_kernel")

    def forward(self, x, kernel, stride, padding, dilation, ceil_mode, indices=None):
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
        H, W = x.shape[-2:]
        oh = pooled_size(H, kh, sh, ph, dh, ceil_mode)
        ow = pooled_size(W, kw, sw, pw, dw, ceil_mode)
        self.in_shape, self.geometry = x.shape, (kernel, stride, padding, dilation, (oh, ow))
        self.by_kernel = _kernel_pools(x, kernel, stride, padding, dilation, (oh, ow))
        if self.by_kernel:  # the compiled kernel: one pass, on all threads
            best, arg = fused.max_pool(np.moveaxis(x, 1, -1), kernel, stride, (oh, ow))
            best, self.arg = np.moveaxis(best, -1, 1), np.moveaxis(arg, -1, 1)
        else:
            framed = _frame(x, ph, pw, (oh - 1) * sh + dh * (kh - 1) + 1,
                            (ow - 1) * sw + dw * (kw - 1) + 1, -np.inf)
            geometry = kernel, stride, dilation, (oh, ow)
            best, arg = _window_max(framed, *geometry, nan_aware=False)
            if np.isnan(best).any():
                best, arg = _window_max(framed, *geometry, nan_aware=True)
            self.arg, self.layout = arg, memory_order(framed)
        if indices is not None:
            indices.append(self._index())
        return best

    def _index(self) -> np.ndarray:
        """Flat input-plane positions (h * W + w) of the saved argmax offsets."""
        (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = self.geometry
        W = self.in_shape[-1]
        base = (np.arange(oh) * sh - ph)[:, None] * W + (np.arange(ow) * sw - pw)
        shift = (np.arange(kh)[:, None] * dh * W + np.arange(kw) * dw).ravel()
        return base + shift.take(self.arg)

    def backward(self, g):
        """Per kernel offset, the outputs whose max sat there pass their gradient back to
        that offset's slice of the (framed) input, which keeps the input's layout."""
        kernel, stride, (ph, pw), dilation, out_size = self.geometry
        if self.by_kernel:
            n, c, h, w = self.in_shape
            gx = fused.max_pool_grad(np.ascontiguousarray(np.moveaxis(g, 1, -1)),
                                     np.moveaxis(self.arg, 1, -1), kernel, stride, (n, h, w, c))
            return np.moveaxis(gx, -1, 1)
        (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
        overlap = sh < dh * (kh - 1) + 1 or sw < dw * (kw - 1) + 1
        H, W = self.in_shape[-2:]
        framed = full_in_order(g.shape[:-2] + ((out_size[0] - 1) * sh + dh * (kh - 1) + 1,
                                       (out_size[1] - 1) * sw + dw * (kw - 1) + 1),
                       0, g.dtype, self.layout)
        g = _in_layout(g, memory_order(self.arg))  # e.g. back from a flatten in C order
        hit = np.empty_like(self.arg, np.bool_)
        # g * hit is several times faster than a masked copy, but not 0 where g is inf or NaN
        finite = overlap or bool(np.isfinite(g).all())
        for k, where in enumerate(_offsets(kernel, stride, dilation, out_size)):
            np.equal(self.arg, k, out=hit)
            if overlap:  # several windows may share an input: add
                framed[where] += np.where(hit, g, g.dtype.type(0))
            elif finite:  # each input is in one window at most: write
                np.multiply(g, hit, out=framed[where])
            else:
                np.copyto(framed[where], g, where=hit)
        return _unframe(framed, ph, pw, H, W)


# -- average pooling ----------------------------------------------------------------------------
def _window_counts(size, kernel, stride, padding, out, count_include_pad):
    """Per output position along one axis, the number of elements its window averages."""
    start = np.arange(out) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    if not count_include_pad:
        start, end = np.maximum(start, 0), np.minimum(end, size)
    return end - start


class AvgPool2d(Function):
    __slots__ = ("divisor", "geometry")

    def forward(self, x, kernel, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
        H, W = x.shape[-2:]
        oh = pooled_size(H, kh, sh, ph, 1, ceil_mode)
        ow = pooled_size(W, kw, sw, pw, 1, ceil_mode)
        fh, fw = (oh - 1) * sh + kh, (ow - 1) * sw + kw
        framed = _frame(x, ph, pw, fh, fw, 0)
        out = None
        for where in _offsets(kernel, stride, (1, 1), (oh, ow)):
            out = framed[where].copy() if out is None else out.__iadd__(framed[where])
        if divisor_override:
            divisor = x.dtype.type(divisor_override)
        else:
            divisor = np.multiply.outer(
                _window_counts(H, kh, sh, ph, oh, count_include_pad),
                _window_counts(W, kw, sw, pw, ow, count_include_pad)).astype(x.dtype)
        out /= divisor
        self.divisor = divisor
        self.geometry = (kernel, stride, (oh, ow), (ph, pw, fh, fw), (H, W))
        return out

    def backward(self, g):
        kernel, stride, out_size, (ph, pw, fh, fw), (H, W) = self.geometry
        share = g / self.divisor
        framed = np.zeros(g.shape[:-2] + (fh, fw), g.dtype)
        for where in _offsets(kernel, stride, (1, 1), out_size):
            framed[where] += share
        return _unframe(framed, ph, pw, H, W)


# -- adaptive pooling ---------------------------------------------------------------------------
def adaptive_bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive windows: start = floor(i*size/out), end = ceil((i+1)*size/out)."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _averaging_matrix(size: int, out: int, dtype) -> np.ndarray:
    """(out, size) matrix whose row i averages window i of the adaptive windows."""
    start, end = adaptive_bounds(size, out)
    pos = np.arange(size)
    inside = (pos >= start[:, None]) & (pos < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptiveAvgPool2d(Function):
    """Mean over adaptive windows: a reshaped mean when the sizes divide, else the separable
    product A_h @ x @ A_w.T with averaging matrices (exact, and one GEMM per axis)."""

    __slots__ = ("mats", "in_shape")

    def forward(self, x, output_size):
        (H, W), (oh, ow) = x.shape[-2:], output_size
        self.in_shape = x.shape
        if H % oh == 0 and W % ow == 0:
            self.mats = None
            split = x.reshape(x.shape[:-2] + (oh, H // oh, ow, W // ow))
            return split.mean(axis=(-3, -1), dtype=x.dtype)
        self.mats = (_averaging_matrix(H, oh, x.dtype), _averaging_matrix(W, ow, x.dtype))
        return self.mats[0] @ x @ self.mats[1].T

    def backward(self, g):
        H, W = self.in_shape[-2:]
        if self.mats is None:
            oh, ow = g.shape[-2:]
            share = g / g.dtype.type((H // oh) * (W // ow))
            spread = np.broadcast_to(share[..., :, None, :, None],
                                     g.shape[:-2] + (oh, H // oh, ow, W // ow))
            return spread.reshape(self.in_shape)
        return self.mats[0].T @ g @ self.mats[1]


def _window_positions(size: int, out: int) -> tuple[np.ndarray, bool]:
    """(out, longest window) positions of each adaptive window, the last one repeated in
    shorter windows; and whether consecutive windows overlap."""
    start, end = adaptive_bounds(size, out)
    longest = int((end - start).max())
    pos = np.minimum(start[:, None] + np.arange(longest), end[:, None] - 1)
    return pos, bool((start[1:] < end[:-1]).any())


class AdaptiveMaxPool2d(Function):
    """Max over adaptive windows, gathered as (..., oh, ow, window) in one indexing step;
    ``indices`` as in MaxPool2d."""

    __slots__ = ("index", "in_shape", "overlap")

    def forward(self, x, output_size, indices=None):
        (H, W), (oh, ow) = x.shape[-2:], output_size
        rows, over_h = _window_positions(H, oh)
        cols, over_w = _window_positions(W, ow)
        flat = (rows[:, None, :, None] * W + cols[None, :, None, :]).reshape(oh, ow, -1)
        windows = x.reshape(x.shape[:-2] + (H * W,))[..., flat]
        # repeats come after the first occurrence, so argmax still picks the first maximum
        arg = windows.argmax(axis=-1)[..., None]
        self.index = np.take_along_axis(np.broadcast_to(flat, windows.shape), arg, -1)[..., 0]
        self.in_shape = x.shape
        self.overlap = over_h or over_w
        if indices is not None:
            indices.append(self.index)
        return np.take_along_axis(windows, arg, -1)[..., 0]

    def backward(self, g):
        return _scatter_to_indices(g, self.index, self.in_shape, self.overlap)


class MaxUnpool2d(Function):
    """Place each value at its index in a zero plane of out_size (the inverse of max pooling)."""

    __slots__ = ("flat", "in_shape")

    def forward(self, x, index, out_size):
        shape = x.shape[:-2] + tuple(out_size)
        out = np.zeros(math.prod(shape), x.dtype)
        self.flat = (index + _plane_starts(shape)).ravel()
        self.in_shape = x.shape
        out[self.flat] = x.ravel()
        return out.reshape(shape)

    def backward(self, g):
        return g.reshape(-1)[self.flat].reshape(self.in_shape)

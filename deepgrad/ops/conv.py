"""Convolution over N spatial dims (1-d, 2-d, ...) and its adjoint, the transposed convolution.

Both are one GEMM per group (a batched matmul over groups) on an im2col matrix. Inside, images
are channels-last, (N, *spatial, C): the im2col copy then reads whole channel rows, the GEMM's
output (N*L, O) is already the result, and a convolution's output (returned as a channels-last
view of shape (N, O, *L)) feeds the next one without a transpose. The matrices:

- ``cols`` (G, N*L, K*Cg): for each group, output position and kernel offset, the Cg input
  channels it reads (K kernel offsets, L output positions);
- ``w3`` (G, Og, K*Cg): the weight in the same order; ``rows`` (G, N*L, Og): the output.

Convolution: ``rows = cols @ w3^T``; its input gradient is ``col2im(grad_rows @ w3)``, its
weight gradient ``grad_rows^T @ cols``. The transposed convolution swaps the two directions.
"""

from __future__ import annotations

import itertools
import math
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from deepgrad.autograd import Function


def _cols(x, pads, out_size, kernel, stride, dilation, groups):
    """im2col of x (N, C, *S), zero-padded by pads ((lo, hi) per dim): (G, N*L, K*Cg)."""
    n, c = x.shape[:2]
    xl = np.moveaxis(x, 1, -1)  # (N, *S, C), a view
    if any(lo or hi for lo, hi in pads):
        padded = np.zeros((n, *(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], pads)), c),
                          x.dtype)
        padded[(slice(None), *(slice(lo, lo + s) for s, (lo, _) in zip(x.shape[2:], pads)))] = xl
        xl = padded
    cg = c // groups
    sn, *ss, sc = xl.strides
    view = as_strided(
        xl, (groups, n, *out_size, *kernel, cg),
        (cg * sc, sn, *(a * b for a, b in zip(ss, stride)), *(a * b for a, b in zip(ss, dilation)),
         sc),
        writeable=False,
    )
    return np.ascontiguousarray(view).reshape(groups, n * math.prod(out_size), -1)


def _col2im(rows, w, shape, pads, out_size, kernel, stride, dilation):
    """col2im(rows @ w3), the adjoint of ``_cols``: rows (G, N*L, Og) and weight (G*Og, Cg, *K)
    into an (N, G*Cg, *S) array.

    One GEMM per kernel offset (a batched matmul) puts each offset's columns in a contiguous
    block, so that each of the K scatter-adds reads memory in order.
    """
    groups, m, og = rows.shape
    n, c, *size = shape
    cg, nk = c // groups, math.prod(kernel)
    wk = np.ascontiguousarray(w.reshape(groups, og, cg, nk).transpose(0, 3, 1, 2))
    blocks = np.matmul(rows[:, None], wk, out=_scratch((groups, nk, m, cg), rows.dtype))
    padded = np.zeros((n, *(s + lo + hi for s, (lo, hi) in zip(size, pads)), groups, cg),
                      rows.dtype)
    for k, offset in enumerate(itertools.product(*map(range, kernel))):
        window = tuple(slice(o * d, o * d + s * (length - 1) + 1, s)
                       for o, d, s, length in zip(offset, dilation, stride, out_size))
        padded[(slice(None), *window)] += np.moveaxis(
            blocks[:, k].reshape(groups, n, *out_size, cg), 0, -2)
    crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(size, pads))
    return np.moveaxis(padded.reshape(n, *padded.shape[1:-2], c)[(slice(None), *crop)], -1, 1)


_local = threading.local()  # per thread: a scratch buffer


def _scratch(shape, dtype):
    """A reused array for a short-lived temporary (saves the page faults of a fresh one)."""
    nbytes = math.prod(shape) * dtype.itemsize
    buffer = getattr(_local, "buffer", None)
    if buffer is None or buffer.nbytes < nbytes:
        _local.buffer = buffer = np.empty(nbytes, np.uint8)
    return buffer[:nbytes].view(dtype).reshape(shape)


def _w3(w, groups):
    """Weight (O, Cg, *K) -> (G, Og, K*Cg), the GEMM operand in the order of ``_cols``."""
    o, cg = w.shape[:2]
    return np.ascontiguousarray(np.moveaxis(w, 1, -1)).reshape(groups, o // groups, -1)


def _unw3(gw3, w_shape):
    """(G, Og, K*Cg) -> (O, Cg, *K), the inverse of ``_w3``."""
    o, cg, *kernel = w_shape
    return np.ascontiguousarray(np.moveaxis(gw3.reshape(o, *kernel, cg), -1, 1))


def _rows(y, groups):
    """(N, O, *L) -> (G, N*L, Og): an image as GEMM rows (a view of a channels-last array)."""
    o = y.shape[1]
    r = np.ascontiguousarray(np.moveaxis(y, 1, -1).reshape(-1, o))  # BLAS needs real strides
    return r.reshape(-1, groups, o // groups).transpose(1, 0, 2)


def _unrows(rows, n, out_size, bias):
    """(G, N*L, Og) -> (N, O, *L), a channels-last view, plus the bias."""
    groups, m, og = rows.shape
    r = rows[0] if groups == 1 else rows.transpose(1, 0, 2).reshape(m, groups * og)
    if bias is not None:
        r += bias
    return np.moveaxis(r.reshape(n, *out_size, groups * og), -1, 1)


def _sum_bias(g):
    return g.sum(axis=(0, *range(2, g.ndim)))


class ConvNd(Function):
    """``conv{1,2,3}d`` as one primitive: x (N, C, *S), weight (O, C/groups, *K), bias (O,).

    Options (one entry per spatial dim): stride, padding as (lo, hi) pairs, dilation; groups.
    """

    __slots__ = ("cols", "w", "x_shape", "geometry")

    def forward(self, x, w, b=None, *, stride, padding, dilation, groups):
        kernel = w.shape[2:]
        out_size = conv_out_size(x.shape[2:], kernel, stride, padding, dilation)
        self.geometry = (padding, out_size, kernel, stride, dilation)
        self.cols = cols = _cols(x, padding, out_size, kernel, stride, dilation, groups)
        self.w, self.x_shape = w, x.shape
        w3 = _w3(w, groups)
        return _unrows(np.matmul(cols, w3.transpose(0, 2, 1)), x.shape[0], out_size, b)

    def backward(self, g):
        needs = self.needs_input_grad
        rows = _rows(g, self.cols.shape[0])
        gx = _col2im(rows, self.w, self.x_shape, *self.geometry) if needs[0] else None
        gw = _unw3(rows.transpose(0, 2, 1) @ self.cols, self.w.shape) if needs[1] else None
        if len(needs) == 2:
            return gx, gw
        return gx, gw, (_sum_bias(g) if needs[2] else None)


class ConvTransposeNd(Function):
    """``conv_transpose{1,2,3}d``, the adjoint of ``ConvNd`` with respect to its input.

    x (N, Cin, *L), weight (Cin, Cout/groups, *K), bias (Cout,); ``out_size`` is the output's
    spatial size (it includes output_padding) and padding the (lo, hi) pairs of the adjoint conv.
    """

    __slots__ = ("rows", "w", "geometry")

    def forward(self, x, w, b=None, *, stride, padding, dilation, groups, out_size):
        kernel, in_size = w.shape[2:], x.shape[2:]
        self.geometry = (padding, in_size, kernel, stride, dilation)
        self.rows = rows = _rows(x, groups)
        self.w = w
        out = _col2im(rows, w, (x.shape[0], w.shape[1] * groups, *out_size), *self.geometry)
        if b is not None:
            out += b.reshape(-1, *(1,) * len(out_size))
        return out

    def backward(self, g):
        needs = self.needs_input_grad
        padding, in_size, kernel, stride, dilation = self.geometry
        groups = self.rows.shape[0]
        cols = _cols(g, padding, in_size, kernel, stride, dilation, groups)
        gx = None
        if needs[0]:
            gx = _unrows(cols @ _w3(self.w, groups).transpose(0, 2, 1), g.shape[0], in_size, None)
        gw = _unw3(self.rows.transpose(0, 2, 1) @ cols, self.w.shape) if needs[1] else None
        if len(needs) == 2:
            return gx, gw
        return gx, gw, (_sum_bias(g) if needs[2] else None)


def conv_out_size(size, kernel, stride, padding, dilation) -> tuple:
    """Output spatial size of a convolution (padding as (lo, hi) pairs); may be < 1."""
    return tuple((s + lo + hi - d * (k - 1) - 1) // st + 1
                 for s, k, st, (lo, hi), d in zip(size, kernel, stride, padding, dilation))

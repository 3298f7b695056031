"""Convolution over N spatial dims (1-d, 2-d, ...) and its adjoint, the transposed convolution.

Where the optional oneDNN library is installed, float32 convolutions run on its kernels
(``deepgrad/onednn.py``, through ``_onednn_plan``), on the same channels-last arrays; the code
below runs the rest (float64, empty batches, geometries oneDNN has no fast kernel for) and all
of them without it.

A stride-1, one-group convolution with enough channels runs by kernel offsets (one accumulating
GEMM per offset on a shifted view of the padded image; see ``_conv_by_offsets``). Every other
convolution is one GEMM per group (a batched matmul over groups) on an im2col matrix. Inside, images
are channels-last, (N, *spatial, C): the im2col copy then reads whole channel rows, the GEMM's
output (N*L, O) is already the result, and a convolution's output (returned as a channels-last
view of shape (N, O, *L)) feeds the next one without a transpose. The matrices:

- ``cols`` (G, N*L, K*Cg): for each group, output position and kernel offset, the Cg input
  channels it reads (K kernel offsets, L output positions);
- ``w3`` (G, Og, K*Cg): the weight in the same order; ``rows`` (G, N*L, Og): the output.

Convolution: ``rows = cols @ w3^T``; its weight gradient is ``grad_rows^T @ cols``; its input
gradient is ``col2im(grad_rows @ w3)`` or, for stride 1 and one group where that is cheaper,
itself a convolution (of the zero-padded output gradient with the flipped, transposed weight). The
transposed convolution swaps the two directions.

Speed: the im2col copy moves runs of ``kW * C`` values at a time (the last kernel offset and
the channels are adjacent in a channels-last image), a 1x1 convolution uses the image itself,
and the im2col matrices saved for backward come from a small pool (``_POOL``) and go back to it
when the graph is freed, so a training step reuses the same memory instead of paging in fresh
arrays of tens of MB.

Memory: a k x k im2col matrix is k*k times the size of its image. Saved matrices are capped
(``set_saved_cols_limit``, bytes held at once); a convolution past the cap saves its input
instead and rebuilds the matrix in backward, trading one more im2col copy for that memory.
"""

from __future__ import annotations

import itertools
import math
import threading
import weakref

import numpy as np
from numpy.lib.stride_tricks import as_strided

from deepgrad import onednn
from deepgrad.autograd import Function
from deepgrad.autograd.grad_mode import _enabled
from deepgrad.blas import gemm


def _channels_last(x, pads):
    """x (N, C, *S) as a C-contiguous (N, *S', C) array, zero-padded by pads ((lo, hi) per dim);
    a view of x where it is already that array."""
    xl = np.moveaxis(x, 1, -1)
    if not any(lo or hi for lo, hi in pads):
        # reshaped through 1-d: the canonical strides (a size-1 dim may have any stride)
        return np.ascontiguousarray(xl).reshape(-1).reshape(xl.shape)
    n, c = x.shape[:2]
    padded = np.empty((n, *(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], pads)), c), x.dtype)
    _zero_border(padded, pads)
    padded[(slice(None), *(slice(lo, lo + s) for s, (lo, _) in zip(x.shape[2:], pads)))] = xl
    return padded


def _zero_border(padded, pads):
    """Zero the padding of a (N, *S', C) array (each face once; the interior is written next)."""
    for d, (lo, hi) in enumerate(pads, start=1):
        size = padded.shape[d]
        for part in (slice(0, lo), slice(size - hi, size)):
            if part.start < part.stop:
                padded[(slice(None),) * d + (part,)] = 0


def _cols(x, pads, out_size, kernel, stride, dilation, groups, alloc=np.empty):
    """im2col of x (N, C, *S), zero-padded by pads ((lo, hi) per dim): (G, N*L, K*Cg), written
    into ``alloc(shape, dtype)`` (or a view of x for a 1x1 convolution with stride 1)."""
    n, c = x.shape[:2]
    m = n * math.prod(out_size)
    xl = _channels_last(x, pads)
    sn, *ss, sc = xl.strides
    if _is_pointwise(kernel, stride, groups):
        return xl.reshape(1, m, c)
    if groups == 1 and dilation[-1] == 1:  # kernel[-1] offsets x C channels: one run in xl
        shape = (n, *out_size, *kernel[:-1], kernel[-1] * c)
        strides = (sn, *(a * b for a, b in zip(ss, stride)),
                   *(a * b for a, b in zip(ss[:-1], dilation[:-1])), sc)
    else:
        cg = c // groups
        shape = (groups, n, *out_size, *kernel, cg)
        strides = (cg * sc, sn, *(a * b for a, b in zip(ss, stride)),
                   *(a * b for a, b in zip(ss, dilation)), sc)
    out = alloc(shape, x.dtype)
    np.copyto(out, as_strided(xl, shape, strides, writeable=False))
    return out.reshape(groups, m, math.prod(kernel) * (c // groups))  # m may be 0


def _is_pointwise(kernel, stride, groups) -> bool:
    """A 1x1 convolution with stride 1 and one group: its im2col matrix is the image."""
    return groups == 1 and all(k == 1 for k in kernel) and all(s == 1 for s in stride)


def _col2im(rows, w, shape, pads, out_size, kernel, stride, dilation):
    """col2im(rows @ w3), the adjoint of ``_cols``: rows (G, N*L, Og) and weight (G*Og, Cg, *K)
    into an (N, G*Cg, *S) array.

    One GEMM per kernel offset (a batched matmul over groups) writes that offset's columns to
    one reused block, read in order by its scatter-add while it is still in cache.
    """
    groups, m, og = rows.shape
    n, c, *size = shape
    cg, nk = c // groups, math.prod(kernel)
    wk = np.ascontiguousarray(w.reshape(groups, og, cg, nk).transpose(3, 0, 1, 2))
    block = _scratch((groups, m, cg), rows.dtype)
    padded = np.zeros((n, *(s + lo + hi for s, (lo, hi) in zip(size, pads)), groups, cg),
                      rows.dtype)
    for k, offset in enumerate(itertools.product(*map(range, kernel))):
        window = tuple(slice(o * d, o * d + s * (length - 1) + 1, s)
                       for o, d, s, length in zip(offset, dilation, stride, out_size))
        _bmm(rows, wk[k], out=block)
        padded[(slice(None), *window)] += np.moveaxis(
            block.reshape(groups, n, *out_size, cg), 0, -2)
    crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(size, pads))
    return np.moveaxis(padded.reshape(n, *padded.shape[1:-2], c)[(slice(None), *crop)], -1, 1)


def _input_grad_by_conv(g, w, x_shape, pads, kernel, dilation, im2col: bool):
    """The input gradient of a stride-1, one-group convolution as a convolution of g (N, O, *L),
    zero-padded by ``d * (k - 1) - pad`` per side, with the flipped weight: by kernel offsets
    where that pays, else (with ``im2col``) as g's im2col in scratch memory and one GEMM. The
    result comes out channels-last. None where a padding exceeds the kernel's reach or neither
    way is taken (col2im then handles it)."""
    reach = [d * (k - 1) for d, k in zip(dilation, kernel)]
    gpads = tuple((r - lo, r - hi) for r, (lo, hi) in zip(reach, pads))
    if min(min(p) for p in gpads) < 0:
        return None
    n, c, *size = x_shape
    o = w.shape[0]
    flipped = w[(slice(None), slice(None), *(slice(None, None, -1),) * len(kernel))]
    grid = [s + lo + hi for s, (lo, hi) in zip(g.shape[2:], gpads)]
    if _offsets_pay(n, o, grid, size):
        wk = np.ascontiguousarray(flipped.reshape(o, c, -1).transpose(2, 0, 1))  # (K, O, C)
        gx = _conv_by_offsets(_channels_last(g, gpads), wk, size, kernel, dilation)
        return np.moveaxis(gx, -1, 1)
    if not im2col:
        return None
    cols = _cols(g, gpads, size, kernel, (1,) * len(size), dilation, 1, _scratch)
    wf = np.ascontiguousarray(np.moveaxis(flipped, 0, -1)).reshape(c, -1)  # (C, K*O)
    return np.moveaxis(gemm(cols[0], wf.T).reshape(n, *size, c), -1, 1)


# Convolutions with stride 1 and one group need no im2col matrix. On the zero-padded
# channels-last image flattened to rows (one per padded position), output position p is
# sum_k rows[p + off_k] @ W_k, off_k being kernel offset k's distance in rows: one GEMM per
# offset on a shifted view of the image, added in place into an output laid out on the padded
# grid, then cropped. The grid's margins are wasted rows and each GEMM's inner dimension is only
# the channel count, so this pays for images that are large against the kernel's reach and have
# more than a few channels (thresholds measured on this machine, 3x3 kernels: at 16 channels on
# 28x28 it is 2.3x faster than im2col and a GEMM; at 64 channels on 7x7, 1.4x slower).
_OFFSETS_MIN_CHANNELS, _OFFSETS_MAX_WASTE = 8, 1.35


def _offsets_pay(batch: int, channels: int, grid, out_size) -> bool:
    """Whether a stride-1, one-group convolution reading ``channels`` channels over a padded
    grid is cheaper by kernel offsets than by im2col (which also takes empty batches)."""
    return channels >= _OFFSETS_MIN_CHANNELS and 0 not in (batch, *out_size) and \
        math.prod(grid) <= _OFFSETS_MAX_WASTE * math.prod(out_size)


def _row_offsets(grid, kernel, dilation) -> list:
    """Each kernel offset's distance in rows of a flattened (row-major) grid, in the order of
    ``itertools.product``; the last is the largest."""
    steps = [math.prod(grid[d + 1:]) for d in range(len(grid))]
    return [sum(o * d * s for o, d, s in zip(offset, dilation, steps))
            for offset in itertools.product(*map(range, kernel))]


def _shifted_rows(xp, kernel, dilation):
    """A padded channels-last image xp (N, *grid, C) as rows (one per grid position), each
    kernel offset's shift in rows, and how many rows every shift can read (the output's last
    row is among them)."""
    rows = xp.reshape(-1, xp.shape[-1])
    offsets = _row_offsets(xp.shape[1:-1], kernel, dilation)
    return rows, offsets, rows.shape[0] - offsets[-1]


def _conv_by_offsets(xp, wk, out_size, kernel, dilation):
    """The convolution of a padded channels-last image xp (N, *grid, C) with per-offset
    weights wk (K, C, O), as a new (N, *out_size, O) array."""
    n, *grid, _ = xp.shape
    rows, offsets, length = _shifted_rows(xp, kernel, dilation)
    out = _scratch((rows.shape[0], wk.shape[2]), xp.dtype)
    for k, offset in enumerate(offsets):
        gemm(rows[offset:offset + length], wk[k], out=out[:length], accumulate=k > 0)
    return np.ascontiguousarray(out.reshape(n, *grid, -1)[(slice(None), *map(slice, out_size))])


def _weight_grad_by_offsets(xp, g_rows, out_size, kernel, dilation):
    """The weight gradient (K, O, C) of ``_conv_by_offsets`` from the output gradient as rows
    g_rows (N * L, O): per offset, the product of the gradient on the padded grid (zero in the
    margins) with the same shifted view of the image."""
    n, *grid, c = xp.shape
    o = g_rows.shape[1]
    rows, offsets, length = _shifted_rows(xp, kernel, dilation)
    on_grid = _scratch((n, *grid, o), g_rows.dtype)
    _zero_border(on_grid, [(0, p - s) for p, s in zip(grid, out_size)])
    on_grid[(slice(None), *map(slice, out_size))] = g_rows.reshape(n, *out_size, o)
    g_rows = on_grid.reshape(-1, o)[:length]
    gw = np.empty((len(offsets), o, c), g_rows.dtype)
    for k, offset in enumerate(offsets):
        gemm(g_rows.T, rows[offset:offset + length], out=gw[k])
    return gw


_local = threading.local()  # per thread: a scratch buffer


def _scratch(shape, dtype):
    """A reused array for a short-lived temporary (saves the page faults of a fresh one)."""
    nbytes = math.prod(shape) * dtype.itemsize
    buffer = getattr(_local, "buffer", None)
    if buffer is None or buffer.nbytes < nbytes:
        _local.buffer = buffer = np.empty(nbytes, np.uint8)
    return buffer[:nbytes].view(dtype).reshape(shape)


class _BufferPool:
    """Arrays kept for reuse, by size: ``take`` gives one (fresh when none fits exactly),
    ``give`` returns it. At most ``limit`` bytes are kept; beyond it returned arrays are
    simply freed. Training steps repeat the same shapes, so exact sizes match."""

    def __init__(self, limit: int) -> None:
        self.limit, self.held, self.free = limit, 0, {}
        self.lock = threading.Lock()

    def take(self, shape, dtype):
        nbytes = math.prod(shape) * dtype.itemsize
        with self.lock:
            stack = self.free.get(nbytes)
            buffer = stack.pop() if stack else None
            if buffer is not None:
                self.held -= nbytes
        if buffer is None:
            buffer = np.empty(nbytes, np.uint8)
        return buffer.view(dtype).reshape(shape)

    def give(self, array) -> None:
        buffer = array.base
        if buffer is None or buffer.dtype != np.uint8 or buffer.ndim != 1:
            return
        with self.lock:
            if self.held + buffer.nbytes <= self.limit:
                self.free.setdefault(buffer.nbytes, []).append(buffer)
                self.held += buffer.nbytes

    def clear(self) -> None:
        with self.lock:
            self.free.clear()
            self.held = 0


_POOL = _BufferPool(1 << 30)  # 1 GiB: the im2col matrices of a ResNet-20 step at batch 128


class _SavedCols:
    """Bytes of im2col matrices currently saved for backward, against a limit."""

    def __init__(self, limit: int) -> None:
        self.limit, self.held = limit, 0
        self.lock = threading.Lock()

    def reserve(self, nbytes: int) -> bool:
        """Count nbytes as saved if they fit under the limit; ``track`` uncounts them later."""
        with self.lock:
            if self.held + nbytes > self.limit:
                return False
            self.held += nbytes
        return True

    def track(self, array) -> None:
        """Uncount a reserved array when it is freed (however its graph ends)."""
        weakref.finalize(array, self._free, array.nbytes)

    def _free(self, nbytes: int) -> None:
        with self.lock:
            self.held -= nbytes


_SAVED = _SavedCols(48 << 20)


def set_saved_cols_limit(nbytes: int) -> None:
    """Cap the im2col matrices kept from forward for backward at ``nbytes`` in all (default
    48 MiB); convolutions beyond it keep their (k*k times smaller) input and redo the im2col
    in backward. A larger cap trades memory for speed."""
    if not isinstance(nbytes, int) or nbytes < 0:
        raise ValueError(f"set_saved_cols_limit: nbytes must be an int >= 0, got {nbytes!r}")
    _SAVED.limit = nbytes


def get_saved_cols_limit() -> int:
    return _SAVED.limit


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


def _bmm(a, b, out=None):
    """A product batched over groups: one GEMM where there is one group."""
    if a.shape[0] == 1 and b.shape[0] == 1:
        return gemm(a[0], b[0], None if out is None else out[0])[None]
    return np.matmul(a, b, out=out)


def _sum_bias(rows):
    """The bias gradient from the output gradient as GEMM rows (G, N*L, Og): a product with a
    vector of ones (a BLAS call) instead of a sum over strided axes."""
    ones = np.ones(rows.shape[1], rows.dtype)
    return (ones @ rows).reshape(-1)


class ConvNd(Function):
    """``conv{1,2,3}d`` as one primitive: x (N, C, *S), weight (O, C/groups, *K), bias (O,).

    Options (one entry per spatial dim): stride, padding as (lo, hi) pairs, dilation; groups.
    A float32 convolution runs on oneDNN's kernels where it is installed (saving its input, made
    channels-last, for backward). Otherwise a stride-1, one-group convolution runs by kernel
    offsets where that pays (it then saves its input), others by im2col.
    """

    __slots__ = ("cols", "x", "w", "x_shape", "geometry", "groups", "pooled", "offsets", "plan")

    def forward(self, x, w, b=None, *, stride, padding, dilation, groups):
        kernel = w.shape[2:]
        out_size = conv_out_size(x.shape[2:], kernel, stride, padding, dilation)
        self.geometry = (padding, out_size, kernel, stride, dilation)
        self.groups, self.w, self.x_shape, self.x, self.cols = groups, w, x.shape, None, None
        self.plan = _onednn_plan((x, w, b), x.shape, w.shape, out_size, stride, padding,
                                 dilation, groups)
        self.pooled = self.offsets = False
        if self.plan is not None:
            xl = _channels_last(x, ())
            self.x, self.w = (xl if _enabled[0] else None), np.ascontiguousarray(w)
            out = self.plan.forward(xl, self.w, None if b is None else np.ascontiguousarray(b))
            return np.moveaxis(out, -1, 1)
        pointwise = _is_pointwise(kernel, stride, groups)
        grid = [s + lo + hi for s, (lo, hi) in zip(x.shape[2:], padding)]
        self.offsets = not pointwise and groups == 1 and all(s == 1 for s in stride) and \
            _offsets_pay(x.shape[0], x.shape[1], grid, out_size)
        if self.offsets:
            self.x = x if _enabled[0] else None
            out = _conv_by_offsets(_channels_last(x, padding), _offset_weights(w), out_size,
                                   kernel, dilation)
            if b is not None:
                out += b
            return np.moveaxis(out, -1, 1)
        # the im2col matrix outlives forward when a graph is recorded and it fits the limit;
        # past the limit the input is kept instead
        nbytes = x.shape[0] * math.prod(out_size) * math.prod(kernel) * x.shape[1] * x.itemsize
        self.pooled = _enabled[0] and not pointwise and _SAVED.reserve(nbytes)
        cols = _cols(x, padding, out_size, kernel, stride, dilation, groups,
                     _POOL.take if self.pooled else _scratch)
        if self.pooled:
            _SAVED.track(cols)
        if self.pooled or pointwise:
            self.cols = cols  # (a 1x1 convolution's is a view of x)
        elif _enabled[0]:
            self.x = x
        w3 = _w3(w, groups)
        return _unrows(_bmm(cols, w3.transpose(0, 2, 1)), x.shape[0], out_size, b)

    def backward(self, g):
        needs = self.needs_input_grad
        if self.plan is not None:
            return self._backward_by_onednn(g, needs)
        rows = _rows(g, self.groups)  # a view where g is channels-last, as convolutions make
        gw = self._weight_grad(g, rows) if needs[1] else None
        gx = self._input_grad(g, rows) if needs[0] else None
        if len(needs) == 2:
            return gx, gw
        return gx, gw, (_sum_bias(rows) if needs[2] else None)

    def _backward_by_onednn(self, g, needs):
        gl = _channels_last(g.astype(np.float32, copy=False), ())
        gw, gb = self.plan.weight_grad(self.x, gl) if any(needs[1:]) else (None, None)
        gx = np.moveaxis(self.plan.input_grad(gl, self.w), -1, 1) if needs[0] else None
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb)

    def _weight_grad(self, g, rows):
        if self.offsets:
            padding, out_size, kernel, _, dilation = self.geometry
            gw = _weight_grad_by_offsets(_channels_last(self.x, padding), rows[0], out_size,
                                         kernel, dilation)
            return np.ascontiguousarray(gw.transpose(1, 2, 0)).reshape(self.w.shape)
        return _unw3(_bmm(rows.transpose(0, 2, 1), self._saved_cols()), self.w.shape)

    def _input_grad(self, g, rows):
        padding, out_size, kernel, stride, dilation = self.geometry
        gx = None
        if self.groups == 1 and all(s == 1 for s in stride):
            # g's im2col where it is no larger than col2im's blocks (a padded, channel-keeping
            # convolution, as in a ResNet)
            o, c = self.w.shape[:2]
            im2col = math.prod(self.x_shape[2:]) * o <= math.prod(out_size) * c
            gx = _input_grad_by_conv(g, self.w, self.x_shape, padding, kernel, dilation, im2col)
        if gx is None:
            gx = _col2im(rows, self.w, self.x_shape, *self.geometry)
        return gx

    def _saved_cols(self):
        """The forward's im2col matrix: saved, or rebuilt from the saved input."""
        if self.cols is not None:
            return self.cols
        padding, out_size, kernel, stride, dilation = self.geometry
        return _cols(self.x, padding, out_size, kernel, stride, dilation, self.groups,
                     _scratch)

    def release(self) -> None:
        if self.pooled and self.cols is not None:
            _POOL.give(self.cols)
        super().release()


def _onednn_plan(arrays, x_shape, w_shape, out_size, stride, padding, dilation, groups):
    """oneDNN's kernels for a convolution of x_shape with weight w_shape (the bias among
    ``arrays`` where it is not None), all float32 (see ``deepgrad.onednn``); None where not used."""
    arrays = [a for a in arrays if a is not None]
    if not onednn.available() or any(a.dtype != np.float32 for a in arrays):
        return None
    return onednn.conv_plan(x_shape, w_shape, out_size, stride, padding, dilation, groups,
                            len(arrays) == 3)


def _offset_weights(w):
    """Weight (O, C, *K) -> (K, C, O): per kernel offset, the GEMM operand of
    ``_conv_by_offsets``."""
    o, c = w.shape[:2]
    return np.ascontiguousarray(w.reshape(o, c, -1).transpose(2, 1, 0))


class ConvTransposeNd(Function):
    """``conv_transpose{1,2,3}d``, the adjoint of ``ConvNd`` with respect to its input.

    x (N, Cin, *L), weight (Cin, Cout/groups, *K), bias (Cout,); ``out_size`` is the output's
    spatial size (it includes output_padding) and padding the (lo, hi) pairs of the adjoint conv.
    """

    __slots__ = ("rows", "w", "geometry", "groups", "plan", "x")

    def forward(self, x, w, b=None, *, stride, padding, dilation, groups, out_size):
        kernel, in_size = w.shape[2:], x.shape[2:]
        self.geometry = (padding, in_size, kernel, stride, dilation)
        self.w, self.groups, self.rows, self.x = w, groups, None, None
        out_shape = (x.shape[0], w.shape[1] * groups, *out_size)
        # oneDNN's kernels of the convolution this is the adjoint of (where its output size
        # gives back x's: not so for an output padding as large as the stride)
        self.plan = None
        if conv_out_size(out_size, kernel, stride, padding, dilation) == in_size:
            self.plan = _onednn_plan((x, w), out_shape, w.shape, in_size, stride, padding,
                                     dilation, groups)
        if self.plan is not None:
            self.x, self.w = _channels_last(x, ()), np.ascontiguousarray(w)
            out = self.plan.input_grad(self.x, self.w)
            if b is not None:
                out += b
            return np.moveaxis(out, -1, 1)
        self.rows = rows = _rows(x, groups)
        out = _col2im(rows, w, out_shape, *self.geometry)
        if b is not None:
            out += b.reshape(-1, *(1,) * len(out_size))
        return out

    def backward(self, g):
        needs = self.needs_input_grad
        gx, gw = self._backward_by_onednn(g, needs) if self.plan is not None \
            else self._backward_by_im2col(g, needs)
        if len(needs) == 2:
            return gx, gw
        return gx, gw, (g.sum(axis=(0, *range(2, g.ndim))) if needs[2] else None)

    def _backward_by_onednn(self, g, needs):
        gl = _channels_last(g.astype(np.float32, copy=False), ())
        gx = np.moveaxis(self.plan.forward(gl, self.w), -1, 1) if needs[0] else None
        gw = self.plan.weight_grad(gl, self.x)[0] if needs[1] else None
        return gx, gw

    def _backward_by_im2col(self, g, needs):
        padding, in_size, kernel, stride, dilation = self.geometry
        groups = self.groups
        cols = _cols(g, padding, in_size, kernel, stride, dilation, groups, _scratch)
        gx = None
        if needs[0]:
            gx = _unrows(_bmm(cols, _w3(self.w, groups).transpose(0, 2, 1)), g.shape[0], in_size,
                         None)
        gw = _unw3(_bmm(self.rows.transpose(0, 2, 1), cols), self.w.shape) if needs[1] else None
        return gx, gw


def conv_out_size(size, kernel, stride, padding, dilation) -> tuple:
    """Output spatial size of a convolution (padding as (lo, hi) pairs); may be < 1."""
    return tuple((s + lo + hi - d * (k - 1) - 1) // st + 1
                 for s, k, st, (lo, hi), d in zip(size, kernel, stride, padding, dilation))

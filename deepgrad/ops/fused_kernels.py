"""The loops of ``deepgrad.ops.fused``, compiled by Numba (imported by it only where Numba is
installed and turned on; see there for why and how they are used).

Maps run their rows in parallel (``prange``) on as many threads as ``numba.set_num_threads``
gives. A reduction splits its rows into ``blocks`` blocks, sums each one serially and adds the
partial sums: the same blocks give the same result whatever the threads. Sums are float64.
"""

import numba
import numpy as np
from numba import prange

_FLAGS = dict(cache=True, fastmath={"reassoc", "contract"}, nogil=True)  # NaN and inf kept
serial = numba.njit(**_FLAGS)
parallel = numba.njit(parallel=True, **_FLAGS)


# -- per-channel reductions of x (M, C) ------------------------------------------------------------
@serial
def _sums(x):
    m, c = x.shape
    total = np.zeros(c)
    for i in range(m):
        for j in range(c):
            total[j] += x[i, j]
    return total


@serial
def _square_deviations(x, mean):
    m, c = x.shape
    total = np.zeros(c)
    for i in range(m):
        for j in range(c):
            d = x[i, j] - mean[j]
            total[j] += d * d
    return total


@serial
def _grad_sums(g, x, mean):
    m, c = x.shape
    total = np.zeros((2, c))
    for i in range(m):
        for j in range(c):
            total[0, j] += g[i, j]
            total[1, j] += g[i, j] * (x[i, j] - mean[j])
    return total


@parallel
def channel_sums(x, blocks):
    """Per-channel sums of x (M, C)."""
    m, c = x.shape
    partial = np.empty((blocks, c))
    for b in prange(blocks):
        partial[b] = _sums(x[m * b // blocks:m * (b + 1) // blocks])
    return partial.sum(axis=0)


@parallel
def channel_square_deviations(x, mean, blocks):
    """Per-channel sums of (x - mean)^2 over x (M, C)."""
    m, c = x.shape
    partial = np.empty((blocks, c))
    for b in prange(blocks):
        partial[b] = _square_deviations(x[m * b // blocks:m * (b + 1) // blocks], mean)
    return partial.sum(axis=0)


@parallel
def channel_grad_sums(g, x, mean, blocks):
    """Per-channel sum(g) and sum(g * (x - mean)) of g, x (M, C), as a (2, C) array."""
    m, c = x.shape
    partial = np.empty((blocks, 2, c))
    for b in prange(blocks):
        lo, hi = m * b // blocks, m * (b + 1) // blocks
        partial[b] = _grad_sums(g[lo:hi], x[lo:hi], mean)
    return partial.sum(axis=0)


# -- maps ------------------------------------------------------------------------------------------
@parallel
def channel_affine(x, scale, shift, out):
    """out = x * scale + shift, per channel of x (M, C)."""
    m, c = x.shape
    for i in prange(m):
        for j in range(c):
            out[i, j] = x[i, j] * scale[j] + shift[j]


@parallel
def channel_affine2(g, a, x, b, shift, out):
    """out = g * a + x * b + shift, per channel of g, x (M, C)."""
    m, c = x.shape
    for i in prange(m):
        for j in range(c):
            out[i, j] = g[i, j] * a[j] + x[i, j] * b[j] + shift[j]


@parallel
def relu(x, out):
    """out = max(x, 0) over flat x (NaN stays NaN)."""
    for i in prange(x.shape[0]):
        v = x[i]
        out[i] = v if v > 0 or v != v else 0


@parallel
def relu_grad(g, y, out):
    """out = g where the ReLU's output y is positive, else 0 (flat arrays)."""
    for i in prange(y.shape[0]):
        out[i] = g[i] if y[i] > 0 else 0


# -- max pooling of channels-last images (N, H, W, C), windows that do not overlap ---------------
@parallel
def max_pool(x, kh, kw, sh, sw, out, arg):
    """out (N, OH, OW, C): each window's maximum; arg: the row-major kernel offset holding it,
    the first maximum or else the last NaN (PyTorch's choice; the value is NaN either way)."""
    n, oh, ow, c = out.shape
    for p in prange(n * oh):
        b, i = p // oh, p % oh
        for j in range(ow):
            best, at = out[b, i, j], arg[b, i, j]  # the channels of one output: a row
            first = x[b, i * sh, j * sw]
            for ch in range(c):
                best[ch], at[ch] = first[ch], 0
            for k in range(1, kh * kw):
                row = x[b, i * sh + k // kw, j * sw + k % kw]
                for ch in range(c):
                    v = row[ch]
                    take = v > best[ch] or v != v
                    best[ch] = v if take else best[ch]
                    at[ch] = k if take else at[ch]


@parallel
def max_pool_grad(g, arg, kh, kw, sh, sw, gx):
    """Each window's gradient g (N, OH, OW, C) to the input position its maximum came from,
    0 to the rest of the window, in gx (N, H, W, C); positions in no window are left as
    they are."""
    n, oh, ow, c = g.shape
    for p in prange(n * oh):
        b, i = p // oh, p % oh
        for j in range(ow):
            grad, at = g[b, i, j], arg[b, i, j]
            for k in range(kh * kw):
                row = gx[b, i * sh + k // kw, j * sw + k % kw]
                for ch in range(c):
                    row[ch] = grad[ch] if at[ch] == k else 0

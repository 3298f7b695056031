"""Compiled one-pass kernels over channels-last arrays (M, C): the per-channel sums and affine
maps of batch norm, and ReLU.

Why: NumPy broadcasts a (C,) vector over the rows of a (M, C) array with one short inner loop
per row, and runs each operation as its own pass over memory. A batch-norm forward is then five
passes (a multiply over a (100352, 16) array alone took 1.16 ms here) where a loop compiled for
the whole map is one (0.48 ms). The kernels below are such loops, compiled by Numba at their
first call (and cached on disk). Numba is optional (``pip install deepgrad[fast]``): where it is
missing, or with DEEPGRAD_NUMBA=0, ``available()`` is False and callers take their NumPy path,
which computes the same thing.

ReLU's kernels read and write flat views of arrays in memory order (any layout, as long as the
arrays share it).

Sums are accumulated in float64, so float32 inputs lose nothing to long sums; the variance is
two-pass (from x - mean).
"""

from __future__ import annotations

import functools
import os
import warnings

import numpy as np


@functools.cache
def _numba():
    """The numba module, or None where it is not installed or turned off."""
    if os.environ.get("DEEPGRAD_NUMBA", "1") == "0":
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba


@functools.cache
def available() -> bool:
    """Whether the compiled kernels can be used: Numba is there and compiles one of them (a
    Numba that cannot, say on an unsupported CPU, leaves NumPy in charge, with a warning)."""
    if _numba() is None:
        return False
    try:
        relu(np.zeros(2, np.float32), np.empty(2, np.float32))
    except Exception as error:  # any compiler failure: fall back rather than fail the op
        warnings.warn(f"deepgrad: Numba is installed but could not compile its kernels "
                      f"({type(error).__name__}: {error}); using the NumPy paths", RuntimeWarning,
                      stacklevel=2)
        return False
    return True


def usable(*arrays) -> bool:
    """Whether the kernels take these arrays: 2-D, C-contiguous, one floating dtype."""
    return available() and all(
        a.ndim == 2 and a.flags.c_contiguous and a.dtype == arrays[0].dtype
        and a.dtype in (np.float32, np.float64) for a in arrays)


def _compiled(fn):
    """fn compiled by Numba at its first call, cached on disk. Sums may be reassociated (so
    they vectorize); NaN and infinity keep their IEEE meaning."""
    @functools.cache
    def build():
        return _numba().njit(fn, cache=True, fastmath={"reassoc", "contract"}, nogil=True)

    @functools.wraps(fn)
    def call(*args):
        return build()(*args)

    return call


@_compiled
def channel_mean_var(x):
    """Per-channel mean and biased variance of x (M, C), in float64, two-pass."""
    m, c = x.shape
    mean = np.zeros(c)
    for i in range(m):
        for j in range(c):
            mean[j] += x[i, j]
    mean /= max(m, 1)
    var = np.zeros(c)
    for i in range(m):
        for j in range(c):
            d = x[i, j] - mean[j]
            var[j] += d * d
    var /= max(m, 1)
    return mean, var


@_compiled
def channel_affine(x, scale, shift, out):
    """out = x * scale + shift, per channel of x (M, C)."""
    m, c = x.shape
    for i in range(m):
        for j in range(c):
            out[i, j] = x[i, j] * scale[j] + shift[j]


@_compiled
def channel_grad_sums(g, x, mean):
    """Per-channel sum(g) and sum(g * (x - mean)) of g, x (M, C), in float64."""
    m, c = x.shape
    sum_g, sum_gx = np.zeros(c), np.zeros(c)
    for i in range(m):
        for j in range(c):
            sum_g[j] += g[i, j]
            sum_gx[j] += g[i, j] * (x[i, j] - mean[j])
    return sum_g, sum_gx


@_compiled
def channel_affine2(g, a, x, b, shift, out):
    """out = g * a + x * b + shift, per channel of g, x (M, C)."""
    m, c = x.shape
    for i in range(m):
        for j in range(c):
            out[i, j] = g[i, j] * a[j] + x[i, j] * b[j] + shift[j]


@_compiled
def relu(x, out):
    """out = max(x, 0) over flat x (NaN stays NaN)."""
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v if v > 0 or v != v else 0


@_compiled
def relu_grad(g, y, out):
    """out = g where the ReLU's output y is positive, else 0 (flat arrays)."""
    for i in range(y.shape[0]):
        out[i] = g[i] if y[i] > 0 else 0


def flat(*arrays):
    """Flat views in memory order of arrays that share one contiguous layout and one floating
    dtype (a C-ordered or a channels-last array alike), or None."""
    first = arrays[0]
    if not available() or first.dtype not in (np.float32, np.float64) or any(
            a.shape != first.shape or a.strides != first.strides or a.dtype != first.dtype
            for a in arrays):
        return None
    views = [a.ravel(order="K") for a in arrays]
    return views if all(np.shares_memory(v, a) or a.size == 0 for v, a in zip(views, arrays)) \
        else None


def warm_up() -> None:
    """Compile (or load from the disk cache) every kernel for float32 and float64 now, rather
    than at its first use."""
    if not available():
        return
    for dt in (np.float32, np.float64):
        x, v = np.ones((2, 3), dt), np.ones(3, dt)
        channel_mean_var(x)
        channel_affine(x, v, v, np.empty_like(x))
        channel_grad_sums(x, x, np.zeros(3))
        channel_affine2(x, v, x, v, v, np.empty_like(x))
        relu(x.ravel(), np.empty(6, dt))
        relu_grad(x.ravel(), x.ravel(), np.empty(6, dt))

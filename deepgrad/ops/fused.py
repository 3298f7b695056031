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
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from deepgrad.blas import get_num_threads


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


# -- the compiled kernels, each over a block of rows --------------------------------------------
@_compiled
def _channel_sums(x):
    """Per-channel sums of x (M, C), in float64."""
    m, c = x.shape
    total = np.zeros(c)
    for i in range(m):
        for j in range(c):
            total[j] += x[i, j]
    return total


@_compiled
def _channel_square_deviations(x, mean):
    """Per-channel sums of (x - mean)^2 over x (M, C), in float64."""
    m, c = x.shape
    total = np.zeros(c)
    for i in range(m):
        for j in range(c):
            d = x[i, j] - mean[j]
            total[j] += d * d
    return total


@_compiled
def _channel_affine(x, scale, shift, out):
    m, c = x.shape
    for i in range(m):
        for j in range(c):
            out[i, j] = x[i, j] * scale[j] + shift[j]


@_compiled
def _channel_grad_sums(g, x, mean):
    m, c = x.shape
    sum_g, sum_gx = np.zeros(c), np.zeros(c)
    for i in range(m):
        for j in range(c):
            sum_g[j] += g[i, j]
            sum_gx[j] += g[i, j] * (x[i, j] - mean[j])
    return sum_g, sum_gx


@_compiled
def _channel_affine2(g, a, x, b, shift, out):
    m, c = x.shape
    for i in range(m):
        for j in range(c):
            out[i, j] = g[i, j] * a[j] + x[i, j] * b[j] + shift[j]


@_compiled
def _relu(x, out):
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v if v > 0 or v != v else 0


@_compiled
def _relu_grad(g, y, out):
    for i in range(y.shape[0]):
        out[i] = g[i] if y[i] > 0 else 0


# -- threads --------------------------------------------------------------------------------------
# The kernels release the GIL, so blocks of rows run in parallel on Python threads, as many as
# set_num_threads gives (PyTorch's elementwise kernels use all its threads too). A block goes to
# another thread only when it holds at least _MIN_BLOCK elements: a hand-off costs tens of us.
_MIN_BLOCK = 1 << 16
_workers = {"pool": None, "size": 0}
_workers_lock = threading.Lock()


def _forget_workers() -> None:
    """In a forked child: the parent's threads are not there; start a pool afresh if needed."""
    global _workers_lock
    _workers.update(pool=None, size=0)
    _workers_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_workers)


def _pool(size: int) -> ThreadPoolExecutor:
    with _workers_lock:
        if _workers["size"] < size:
            _workers["pool"], _workers["size"] = ThreadPoolExecutor(size, "deepgrad-fused"), size
        return _workers["pool"]


def _map(fn, m: int, row_size: int) -> list:
    """[fn(start, stop)] over row blocks splitting m rows of row_size elements among the
    threads; this thread runs the first block (the only one for small work)."""
    n = max(1, min(get_num_threads(), m * row_size // _MIN_BLOCK))
    edges = [m * i // n for i in range(n + 1)]
    blocks = list(zip(edges[:-1], edges[1:]))
    futures = [_pool(n - 1).submit(fn, a, b) for a, b in blocks[1:]]
    return [fn(*blocks[0])] + [f.result() for f in futures]


# -- the operations --------------------------------------------------------------------------------
def channel_mean_var(x):
    """Per-channel mean and biased variance of x (M, C), in float64, two-pass."""
    m, c = x.shape
    mean = sum(_map(lambda a, b: _channel_sums(x[a:b]), m, c)) / max(m, 1)
    square_deviations = _map(lambda a, b: _channel_square_deviations(x[a:b], mean), m, c)
    return mean, sum(square_deviations) / max(m, 1)


def channel_affine(x, scale, shift, out) -> None:
    """out = x * scale + shift, per channel of x (M, C)."""
    _map(lambda a, b: _channel_affine(x[a:b], scale, shift, out[a:b]), *x.shape)


def channel_grad_sums(g, x, mean):
    """Per-channel sum(g) and sum(g * (x - mean)) of g, x (M, C), in float64."""
    parts = _map(lambda a, b: _channel_grad_sums(g[a:b], x[a:b], mean), *x.shape)
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


def channel_affine2(g, a, x, b, shift, out) -> None:
    """out = g * a + x * b + shift, per channel of g, x (M, C)."""
    _map(lambda lo, hi: _channel_affine2(g[lo:hi], a, x[lo:hi], b, shift, out[lo:hi]),
         *x.shape)


def relu(x, out) -> None:
    """out = max(x, 0) over flat x (NaN stays NaN)."""
    _map(lambda a, b: _relu(x[a:b], out[a:b]), x.shape[0], 1)


def relu_grad(g, y, out) -> None:
    """out = g where the ReLU's output y is positive, else 0 (flat arrays)."""
    _map(lambda a, b: _relu_grad(g[a:b], y[a:b], out[a:b]), y.shape[0], 1)


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

"""One-pass kernels over channels-last arrays (M, C): the per-channel sums and affine maps of
batch norm, ReLU, and max pooling, compiled by Numba (the loops are in ``fused_kernels.py``).

Why: NumPy broadcasts a (C,) vector over the rows of a (M, C) array with one short inner loop
per row, and runs each operation as its own pass over memory. A batch-norm forward is then five
passes (a multiply over a (100352, 16) array alone took 1.16 ms here) where a loop compiled for
the whole map is one (0.48 ms). The kernels are such loops, compiled by Numba at their first
call (and cached on disk). Numba is optional (``pip install deepgrad[fast]``): where it is
missing, or with DEEPGRAD_NUMBA=0, ``available()`` is False and callers take their NumPy path,
which computes the same thing.

Threads: the kernels split their rows among the threads ``set_num_threads`` gives (PyTorch's
elementwise kernels use all of its threads too), one for small arrays. Numba runs them on GNU
OpenMP where it can, whose threads MKL's and oneDNN's kernels use: a second pool (Python
threads were tried) spins against those and lost time at two threads.

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

from deepgrad.blas import forked_child, get_num_threads, set_num_threads


@functools.cache
def _kernels():
    """The compiled kernels (``fused_kernels``), or None where Numba is not installed or turned
    off. Numba's parallel loops are asked to run on GNU OpenMP first."""
    if os.environ.get("DEEPGRAD_NUMBA", "1") == "0":
        return None
    try:
        import numba
    except ImportError:
        return None
    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
    from deepgrad.ops import fused_kernels

    return fused_kernels


def available() -> bool:
    """Whether the compiled kernels can be used: Numba is there and compiles one of them (a
    Numba that cannot, say on an unsupported CPU, leaves NumPy in charge, with a warning), and
    this is not a forked child (whose parallel loops would find no OpenMP threads)."""
    return not forked_child() and _compiles()


@functools.cache
def _compiles() -> bool:
    if _kernels() is None:
        return False
    try:
        relu(np.zeros(2, np.float32), np.empty(2, np.float32))
    except Exception as error:  # any compiler failure: fall back rather than fail the op
        warnings.warn(f"deepgrad: Numba is installed but could not compile its kernels "
                      f"({type(error).__name__}: {error}); using the NumPy paths", RuntimeWarning,
                      stacklevel=2)
        return False
    _restore_thread_count()
    return True


def _restore_thread_count() -> None:
    """Starting its OpenMP threads (at the first kernel), Numba set OpenMP's thread count to its
    own: set deepgrad's again (oneDNN's kernels read it)."""
    try:
        set_num_threads(get_num_threads())
    except RuntimeError:  # no BLAS library was found: there is no count to keep
        pass


def usable(*arrays) -> bool:
    """Whether the kernels take these arrays: 2-D, C-contiguous, one floating dtype."""
    return available() and all(
        a.ndim == 2 and a.flags.c_contiguous and a.dtype == arrays[0].dtype
        and a.dtype in (np.float32, np.float64) for a in arrays)


# A thread gets at least this many elements: below, its hand-off costs more than it saves.
_MIN_PER_THREAD = 1 << 16


def _threads_for(size: int) -> int:
    """Give Numba's parallel loops the threads for ``size`` elements (as many as
    set_num_threads says, fewer for small arrays, none idle) and return their number."""
    if forked_child():
        raise RuntimeError("deepgrad's compiled kernels cannot run in a forked child process "
                           "(OpenMP's threads do not survive fork); build the graph in the child")
    numba = _kernels().numba
    n = max(1, min(get_num_threads(), size // _MIN_PER_THREAD, numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != n:  # (a count per calling thread)
        numba.set_num_threads(n)
    return n


# -- the operations --------------------------------------------------------------------------------
def channel_mean_var(x):
    """Per-channel mean and biased variance of x (M, C), in float64, two-pass."""
    m, blocks, k = x.shape[0], _threads_for(x.size), _kernels()
    mean = k.channel_sums(x, blocks) / max(m, 1)
    return mean, k.channel_square_deviations(x, mean, blocks) / max(m, 1)


def channel_affine(x, scale, shift, out) -> None:
    """out = x * scale + shift, per channel of x (M, C)."""
    _threads_for(x.size)
    _kernels().channel_affine(x, scale, shift, out)


def channel_grad_sums(g, x, mean):
    """Per-channel sum(g) and sum(g * (x - mean)) of g, x (M, C), in float64."""
    sums = _kernels().channel_grad_sums(g, x, mean, _threads_for(x.size))
    return sums[0], sums[1]


def channel_affine2(g, a, x, b, shift, out) -> None:
    """out = g * a + x * b + shift, per channel of g, x (M, C)."""
    _threads_for(x.size)
    _kernels().channel_affine2(g, a, x, b, shift, out)


def relu(x, out) -> None:
    """out = max(x, 0) over flat x (NaN stays NaN)."""
    _threads_for(x.size)
    _kernels().relu(x, out)


def relu_grad(g, y, out) -> None:
    """out = g where the ReLU's output y is positive, else 0 (flat arrays)."""
    _threads_for(y.size)
    _kernels().relu_grad(g, y, out)


def max_pool(x, kernel, stride, out_size):
    """Max pooling of a channels-last image x (N, H, W, C) by windows that do not overlap
    (stride >= kernel, no padding), all inside x: the maxima (N, *out_size, C) and, per output,
    the row-major kernel offset (uint8) holding the maximum (the last NaN where there is
    one)."""
    (kh, kw), (sh, sw) = kernel, stride
    shape = (x.shape[0], *out_size, x.shape[3])
    out, arg = np.empty(shape, x.dtype), np.empty(shape, np.uint8)
    _threads_for(x.size)
    _kernels().max_pool(x, kh, kw, sh, sw, out, arg)
    return out, arg


def max_pool_grad(g, arg, kernel, stride, in_shape):
    """The input gradient (N, H, W, C) of ``max_pool`` from the output gradient g (N, OH, OW,
    C, same layout as arg)."""
    (kh, kw), (sh, sw) = kernel, stride
    n, oh, ow, _ = g.shape
    covered = (oh - 1) * sh + kh == in_shape[1] and (ow - 1) * sw + kw == in_shape[2] \
        and (sh, sw) == (kh, kw)
    gx = (np.empty if covered else np.zeros)(in_shape, g.dtype)  # positions in no window: 0
    _threads_for(g.size)
    _kernels().max_pool_grad(g, arg, kh, kw, sh, sw, gx)
    return gx


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
        image = np.ones((1, 2, 2, 3), dt)
        out, arg = max_pool(image, (2, 2), (2, 2), (1, 1))
        max_pool_grad(out, arg, (2, 2), (2, 2), image.shape)

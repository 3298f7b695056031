"""The array layer: which array module holds the numbers, the dtypes, and the random source.
BLAS (matrix products, vector updates, threads) is in ``deepgrad.blas``; its public names are
re-exported here.

Everything above this module works on arrays through ``xp`` (NumPy today, CuPy on a GPU later),
so a primitive's forward and backward read like the maths written with NumPy.
"""

from __future__ import annotations

import ctypes
import os
import sys

import numpy as np

from deepgrad.blas import (  # noqa: F401  (re-exported: the array layer's BLAS)
    axpy,
    gemm,
    gemm_library,
    get_num_threads,
    scal,
    set_num_threads,
)

xp = np  # the array module; one place to swap in CuPy


# -- memory allocator -----------------------------------------------------------------------------
# A training step allocates and frees the same large arrays (activations, im2col matrices,
# gradients) every time. glibc's malloc by default hands blocks above a (dynamic) threshold to
# mmap and returns freed memory at the top of the heap to the OS, so each step pages its arrays
# in again: tens of thousands of page faults per ResNet step, each zero-filling 4 KiB. On glibc
# Linux, deepgrad therefore asks malloc at import to keep memory: blocks up to 32 MiB (the
# largest allowed threshold) come from the heap, freed memory is not trimmed, and the heap grows
# in steps of 256 MiB. This is what the environment variables MALLOC_MMAP_THRESHOLD_=33554432,
# MALLOC_TRIM_THRESHOLD_ and MALLOC_TOP_PAD_=268435456 do; it makes convolutional training
# steps about 15-25% faster. The cost: the process keeps its peak memory until it exits. Set
# DEEPGRAD_MALLOC_TUNING=0 to leave malloc as it is.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def _tune_malloc() -> bool:
    """Apply the malloc settings above; True where they were applied."""
    if os.environ.get("DEEPGRAD_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        if not libc.gnu_get_libc_version():  # not glibc (musl has no such function)
            return False
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 2**31 - 1),
                (_M_TOP_PAD, 256 << 20))
    return all([mallopt(param, value) == 1 for param, value in settings])


MALLOC_TUNED = _tune_malloc()


def get_array_module(*arrays):
    """The module (numpy or cupy) that owns these arrays."""
    return np


class dtype:
    """A tensor element type, spelled like PyTorch's (``deepgrad.float32``)."""

    __slots__ = ("name", "np", "is_floating_point", "itemsize")

    def __init__(self, name: str, np_dtype) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"deepgrad.{self.name}"

    def __reduce__(self):
        return (as_dtype, (self.name,))


float16 = dtype("float16", np.float16)
float32 = dtype("float32", np.float32)
float64 = dtype("float64", np.float64)
int8 = dtype("int8", np.int8)
int16 = dtype("int16", np.int16)
int32 = dtype("int32", np.int32)
int64 = dtype("int64", np.int64)
uint8 = dtype("uint8", np.uint8)
bool_ = dtype("bool", np.bool_)

_BY_NUMPY = {d.np: d for d in (float16, float32, float64, int8, int16, int32, int64, uint8, bool_)}
_BY_NAME = {d.name: d for d in _BY_NUMPY.values()}
_BY_NAME.update(half=float16, float=float32, double=float64, long=int64, int=int32, short=int16)
_PYTHON_TYPES = {float: float64, int: int64, bool: bool_}  # as torch treats dtype=float

_default_float = [float32]


def get_default_dtype() -> dtype:
    """The floating dtype that Python floats and ``randn`` produce (float32 unless changed)."""
    return _default_float[0]


def set_default_dtype(d) -> None:
    """Make ``d`` (float32 or float64) the dtype of new floating tensors."""
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {d}")
    _default_float[0] = d


def as_dtype(d) -> dtype:
    """Turn a deepgrad dtype, NumPy dtype, name or Python type into a deepgrad dtype."""
    if isinstance(d, dtype):
        return d
    if d in _PYTHON_TYPES:
        return _PYTHON_TYPES[d]
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    try:
        return _BY_NUMPY[np.dtype(d)]
    except (TypeError, KeyError):
        raise TypeError(f"unsupported dtype {d!r}; use one of {sorted(_BY_NAME)}") from None


def dtype_of(array) -> dtype:
    """The deepgrad dtype of an array."""
    try:
        return _BY_NUMPY[array.dtype]
    except KeyError:
        raise TypeError(f"arrays of dtype {array.dtype} are not supported") from None


# One generator for everything random in deepgrad (init, dropout, shuffling), so that
# manual_seed makes a run repeatable end to end.
_rng = [np.random.default_rng()]


def manual_seed(seed: int) -> np.random.Generator:
    """Seed every random source deepgrad uses; returns the generator."""
    _rng[0] = np.random.default_rng(seed)
    return _rng[0]


def rng() -> np.random.Generator:
    """The generator deepgrad draws from."""
    return _rng[0]


def generator(seed: int | None = None) -> np.random.Generator:
    """deepgrad's generator, or (given a seed) a new one that repeats on its own."""
    return _rng[0] if seed is None else np.random.default_rng(seed)


# -- memory layout ---------------------------------------------------------------------------------
# Convolutions return channels-last arrays (N, C, *S views of N, *S, C memory). A gradient made
# from scratch in another layout (C order) would make every elementwise op it meets mix layouts,
# which NumPy runs several times slower, so such gradients are made in their input's layout.
def memory_order(a) -> tuple:
    """a's axes from the largest stride to the smallest (its layout in memory)."""
    return tuple(sorted(range(a.ndim), key=lambda d: -abs(a.strides[d])))


def full_in_order(shape, fill, dtype, order) -> np.ndarray:
    """``np.full(shape, fill)`` laid out with axes in ``order`` (as ``memory_order`` gives);
    zeros come from ``np.zeros``, whose pages the OS zeroes on first touch."""
    physical = [shape[d] for d in order]
    array = np.zeros(physical, dtype) if fill == 0 else np.full(physical, fill, dtype)
    return array.transpose(np.argsort(order))


"""BLAS, called directly: the matrix products (``gemm``), the in-place vector updates of the
optimizers (``axpy``, ``scal``) and the thread count of both (``set_num_threads``).

Part of the array layer (``deepgrad.backend`` re-exports these names); it imports nothing from
deepgrad.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys

import numpy as np


# -- BLAS libraries -------------------------------------------------------------------------------
# NumPy's PyPI wheels ship OpenBLAS; deepgrad calls some of its routines directly (below). The
# optional ``mkl`` package (``pip install deepgrad[fast]``) brings Intel's MKL, the BLAS in
# PyTorch's CPU build: on the skinny GEMMs of convolutions (tens of output channels, tens of
# thousands of rows) OpenBLAS reaches about 100 GFLOP/s on one core of this machine and MKL
# 110-150. Where MKL is installed (and DEEPGRAD_MKL is not 0), deepgrad's GEMMs and vector
# updates go through it. It threads through GNU OpenMP where libgomp is present, else it runs
# on one thread.
def _numpy_openblas():
    """The OpenBLAS library inside NumPy's wheel (a ctypes CDLL), or None if there is none."""
    root = os.path.dirname(np.__file__)
    candidates = glob.glob(os.path.join(root, os.pardir, "numpy.libs", "libscipy_openblas64_*"))
    candidates += glob.glob(os.path.join(root, ".dylibs", "libscipy_openblas64_*"))
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            lib.scipy_cblas_saxpy64_  # noqa: B018  (the symbols used below are there)
            return lib
        except (OSError, AttributeError):
            continue
    return None


_MKL_SEQUENTIAL, _MKL_GNU = 1, 3


def _mkl_library():
    """The ``mkl`` package's libmkl_rt (a ctypes CDLL) with its threading layer chosen, or None.
    MKL loads that layer at its first call and exits the process if it fails, so the layer is
    chosen here: GNU OpenMP where libgomp loads, else none (one thread)."""
    if os.environ.get("DEEPGRAD_MKL", "1") == "0" or not sys.platform.startswith("linux"):
        return None
    for path in package_libraries("mkl", "libmkl_rt.so"):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        if "MKL_THREADING_LAYER" not in os.environ:
            lib.MKL_Set_Threading_Layer(_MKL_GNU if _GOMP is not None else _MKL_SEQUENTIAL)
        return lib
    return None


def package_libraries(distribution: str, prefix: str) -> list:
    """Paths of the shared libraries named ``prefix*`` that an installed pip package brought
    (none where it is not installed or its metadata is unreadable)."""
    try:
        from importlib import metadata
        files = metadata.files(distribution) or []
    except Exception:  # not installed, or its metadata unreadable
        return []
    return [str(f.locate()) for f in files if os.path.basename(str(f)).startswith(prefix)]


def _gomp():
    """GNU OpenMP (a ctypes CDLL), whose threads MKL and oneDNN use, or None."""
    try:
        return ctypes.CDLL("libgomp.so.1")
    except OSError:
        return None


_OPENBLAS = _numpy_openblas()
_GOMP = _gomp()
_MKL = _mkl_library()
_INT_MAX = 2**31 - 1  # MKL's LP64 interface takes 32-bit sizes
_REALS = ((np.float32, ctypes.c_float, "s"), (np.float64, ctypes.c_double, "d"))


def _bind(lib, name: str, argtypes) -> dict:
    """{dtype: routine} for float32 and float64 from a BLAS library: ``name`` has {} for the s/d
    prefix, ``argtypes(c_real)`` gives the routine's argument types. {} where a symbol is
    missing."""
    try:
        routines = {}
        for dt, c_real, p in _REALS:
            f = getattr(lib, name.format(p))
            f.argtypes, f.restype = argtypes(c_real), None
            routines[np.dtype(dt)] = f
        return routines
    except AttributeError:
        return {}


def _library_routines(lib, prefix: str, suffix: str, size_t):
    """(axpy, scal, gemm) of a BLAS library, each {dtype: routine} (``prefix{s|d}name{suffix}``,
    sizes of type size_t), or None where the library or one of them is missing."""
    if lib is None:
        return None
    n, i, p = size_t, ctypes.c_int, ctypes.c_void_p
    routines = (_bind(lib, f"{prefix}{{}}axpy{suffix}", lambda r: (n, r, p, n, p, n)),
                _bind(lib, f"{prefix}{{}}scal{suffix}", lambda r: (n, r, p, n)),
                _bind(lib, f"{prefix}{{}}gemm{suffix}",
                      lambda r: (i, i, i, n, n, n, r, p, n, p, n, r, p, n)))
    return routines if all(routines) else None


# MKL's routines where it is used, else OpenBLAS's, else none (NumPy does the work)
_AXPY, _SCAL, _GEMMS = _library_routines(_MKL, "cblas_", "", ctypes.c_int) \
    or _library_routines(_OPENBLAS, "scipy_cblas_", "64_", ctypes.c_int64) or ({}, {}, {})


# -- in-place vector updates ----------------------------------------------------------------------
# Optimizers update every parameter each step. NumPy's elementwise ops run on one core and take a
# pass per operation; BLAS's axpy and scal update in place in one pass, on the BLAS's threads.
# They come from MKL where it is used, else from NumPy's OpenBLAS (the library that owns the
# thread pool: a second BLAS, such as SciPy's, would fight it for the cores). Where neither is
# found, the plain NumPy lines below do the same work.
# Below this many elements a BLAS call through ctypes costs more than NumPy's passes save.
_BLAS_MIN_SIZE = 16384


def _vector_routine(routines: dict, y):
    """The routine for y's dtype where y is large enough to gain from BLAS, else None."""
    return routines.get(y.dtype) if _BLAS_MIN_SIZE <= y.size <= _INT_MAX else None


def axpy(a: float, x, y, scratch) -> None:
    """y += a * x, in place; scratch (y's shape and dtype) holds a * x where BLAS is not used."""
    f = _vector_routine(_AXPY, y)
    if f and x.dtype == y.dtype and x.shape == y.shape and _dense(x) and _dense(y):
        f(y.size, a, x.ctypes.data, 1, y.ctypes.data, 1)
    else:
        y += np.multiply(x, a, out=scratch)


def scal(a: float, y) -> None:
    """y *= a, in place."""
    f = _vector_routine(_SCAL, y)
    if f and _dense(y):
        f(y.size, a, y.ctypes.data, 1)
    else:
        y *= a


def _dense(a) -> bool:
    return a.flags.c_contiguous and a.flags.writeable


# -- matrix products ------------------------------------------------------------------------------
# ``gemm`` calls cblas_?gemm of MKL where it is used, else of NumPy's OpenBLAS, directly: it can
# then add the product into its output in place (BLAS's beta = 1), which NumPy's matmul cannot.
# Where neither library is found it is NumPy's matmul.
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# Below this many multiply-adds NumPy's matmul is faster: a call through ctypes costs about 8 us
# (measured: 32x64 @ 64x64 in 12 us against NumPy's 2.7 us; 32x128 @ 128x128, 17 us against 11).
_GEMM_MIN_WORK = 1 << 21


def gemm_library() -> str:
    """Which library runs ``gemm``: 'mkl', 'openblas' or 'numpy'."""
    if not _GEMMS:
        return "numpy"
    return "mkl" if _MKL is not None else "openblas"


def _blas_operand(a):
    """(transpose flag, leading dimension) of a 2-D array BLAS can read in place, or None."""
    (s0, s1), n = a.strides, a.itemsize
    if s1 == n and s0 % n == 0 and a.shape[1] <= s0 // n <= _INT_MAX:
        return _NO_TRANS, s0 // n
    if s0 == n and s1 % n == 0 and a.shape[0] <= s1 // n <= _INT_MAX:
        return _TRANS, s1 // n
    return None


def gemm(a, b, out=None, accumulate: bool = False):
    """The product of 2-D arrays a @ b, written into ``out`` when given, or added to it with
    ``accumulate``. BLAS runs it where the operands are strided rows or columns of one floating
    dtype and ``out`` has contiguous rows; NumPy's matmul otherwise."""
    f = _GEMMS.get(a.dtype)
    if f is None or b.dtype != a.dtype or a.shape[1] != b.shape[0] or 0 in a.shape + b.shape \
            or max(a.shape + b.shape) > _INT_MAX or a.size * b.shape[1] < _GEMM_MIN_WORK:
        return _numpy_gemm(a, b, out, accumulate)
    ta, tb = _blas_operand(a), _blas_operand(b)
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), a.dtype)
    to = _blas_operand(out)
    if ta is None or tb is None or out.dtype != a.dtype or to is None or to[0] != _NO_TRANS \
            or not out.flags.writeable or np.may_share_memory(out, a) \
            or np.may_share_memory(out, b):
        return _numpy_gemm(a, b, out, accumulate)
    (m, k), n = a.shape, b.shape[1]
    f(_ROW_MAJOR, ta[0], tb[0], m, n, k, 1.0, a.ctypes.data, ta[1], b.ctypes.data, tb[1],
      float(accumulate), out.ctypes.data, to[1])
    return out


def _numpy_gemm(a, b, out, accumulate: bool):
    if out is not None and accumulate:
        out += a @ b
        return out
    return np.matmul(a, b, out=out)


# -- threads --------------------------------------------------------------------------------------
# NumPy's matrix products run on OpenBLAS's thread pool (all cores by default; OPENBLAS_NUM_THREADS
# sets it at start-up). On a machine whose cores are busy with other processes, a pool as large
# as the core count can be far slower than one thread: its threads wait for each other at every
# product (a 64x9216 @ 9216x128 product was measured at 2 ms on one thread and 500 ms on two
# on a 2-core machine running 7 other jobs). set_num_threads changes the pool while running.
# Where MKL runs the GEMMs, it takes that thread count and OpenBLAS keeps one thread: two pools
# on the same cores spin against each other (an MNIST CNN step took 100 ms with both at two
# threads, 50 ms with MKL alone at two). oneDNN's convolutions (deepgrad/onednn.py) run on GNU
# OpenMP's threads, whose count is set alongside. In a process that also imports PyTorch, MKL
# shares GNU OpenMP with it, so torch.set_num_threads caps MKL's threads too.
def set_num_threads(n: int) -> None:
    """Use ``n`` threads for matrix products and convolutions (as ``torch.set_num_threads``)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    if _GOMP is not None:
        _GOMP.omp_set_num_threads(ctypes.c_int(n))
    if _MKL is not None:
        _MKL.MKL_Set_Num_Threads(ctypes.c_int(n))
    elif _OPENBLAS is not None:
        _OPENBLAS.scipy_openblas_set_num_threads64_(ctypes.c_int(n))
    else:
        raise RuntimeError("set_num_threads: NumPy's OpenBLAS was not found; set "
                           "OPENBLAS_NUM_THREADS (or your BLAS's variable) before starting")


def get_num_threads() -> int:
    """The number of threads matrix products use (1 where no BLAS library was found)."""
    if _MKL is not None:
        return int(_MKL.MKL_Get_Max_Threads())
    if _OPENBLAS is None:
        return 1
    return int(_OPENBLAS.scipy_openblas_get_num_threads64_())


def _hand_threads_over() -> None:
    """Give MKL and OpenMP OpenBLAS's thread count (unless their own variables set one), and
    OpenBLAS one thread where MKL runs the GEMMs."""
    if _OPENBLAS is None:
        return
    count = ctypes.c_int(int(_OPENBLAS.scipy_openblas_get_num_threads64_()))
    if _GOMP is not None and "OMP_NUM_THREADS" not in os.environ:
        _GOMP.omp_set_num_threads(count)
    if _MKL is None:
        return
    if not any(v in os.environ for v in ("MKL_NUM_THREADS", "OMP_NUM_THREADS")):
        _MKL.MKL_Set_Num_Threads(count)
    _OPENBLAS.scipy_openblas_set_num_threads64_(ctypes.c_int(1))


_hand_threads_over()


# GNU OpenMP's threads do not survive fork, and a child that waited for them would hang: a
# forked child runs MKL on one thread, and oneDNN and the compiled kernels, which start their
# own parallel regions, step aside there (they ask ``forked_child``).
_FORKED = [False]


def forked_child() -> bool:
    """Whether this process was forked from the one that imported deepgrad."""
    return _FORKED[0]


def _one_thread_after_fork() -> None:
    _FORKED[0] = True
    if _GOMP is not None:
        _GOMP.omp_set_num_threads(ctypes.c_int(1))
    if _MKL is not None:
        _MKL.MKL_Set_Num_Threads(ctypes.c_int(1))


os.register_at_fork(after_in_child=_one_thread_after_fork)

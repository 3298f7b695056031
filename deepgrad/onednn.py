"""oneDNN's convolution kernels, called directly where the optional ``onednn-cpu-gomp`` package
is installed (``pip install deepgrad[fast]``; ``DEEPGRAD_ONEDNN=0`` turns them off).

oneDNN is Intel's library of deep-learning primitives, the one PyTorch's CPU build runs its
convolutions on. Its kernels compute a 3x3 convolution straight from the channels-last image,
in registers, with no im2col matrix: on one core of this machine a ResNet first-stage layer
(batch 128, 16 channels, 28x28) takes 3.3 ms forward against 7.3 ms for deepgrad's own kernel
offsets + MKL GEMMs (``deepgrad/ops/conv.py``), which stays the path everywhere else.

``conv_plan`` gives, for one convolution geometry, the three kernels of a training step on
channels-last float32 arrays: ``forward``, ``input_grad`` and ``weight_grad`` (with the bias
gradient). It is None where oneDNN is missing or has only its slow reference kernel for the
geometry. Plans are cached: a training step repeats the same shapes.

Part of the array layer; it imports nothing from deepgrad but ``blas``. Its threads are GNU
OpenMP's, whose count ``blas.set_num_threads`` sets.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import sys
import threading

import numpy as np

from deepgrad.blas import forked_child, package_libraries

# constants of oneDNN's C API (dnnl_types.h, version 3)
_CPU, _IN_ORDER, _F32, _FORMAT_ANY = 1, 1, 3, 1
_FORWARD_TRAINING, _DIRECT = 0x40, 0x1
_SRC, _DST, _WEIGHTS, _BIAS = 1, 17, 33, 41
_DIFF_SRC, _DIFF_DST, _DIFF_WEIGHTS, _DIFF_BIAS = 129, 145, 161, 169
_QUERY_IMPL_INFO, _QUERY_WEIGHTS_MD, _QUERY_DIFF_WEIGHTS_MD = 8, 131, 132

_Dims = ctypes.c_int64 * 12  # dnnl_dims_t
_handle = ctypes.c_void_p


class _ExecArg(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_int), ("memory", _handle)]


class OneDNNError(RuntimeError):
    """A oneDNN call failed (its status code is in the message)."""


class _Library:
    """libdnnl with the CPU engine and one in-order stream."""

    def __init__(self, lib) -> None:
        self.lib = lib
        lib.dnnl_primitive_desc_query_md.restype = _handle
        lib.dnnl_primitive_desc_query_md.argtypes = [_handle, ctypes.c_int, ctypes.c_int]
        lib.dnnl_memory_desc_equal.argtypes = [_handle, _handle]
        lib.dnnl_memory_desc_get_size.restype = ctypes.c_size_t
        lib.dnnl_memory_desc_get_size.argtypes = [_handle]
        self.engine, self.stream = _handle(), _handle()
        self.call("dnnl_engine_create", ctypes.byref(self.engine), _CPU, ctypes.c_size_t(0))
        self.call("dnnl_stream_create", ctypes.byref(self.stream), self.engine,
                  ctypes.c_uint(_IN_ORDER))
        self.lock = threading.Lock()  # one primitive at a time: they share scratch memory

    def call(self, name: str, *args) -> None:
        status = getattr(self.lib, name)(*args)
        if status != 0:
            raise OneDNNError(f"oneDNN {name} failed with status {status}")

    def create(self, name: str, *args) -> _handle:
        """A new handle from a dnnl_*_create function (its first argument is the handle)."""
        out = _handle()
        self.call(name, ctypes.byref(out), *args)
        return out

    def strided_md(self, dims, strides) -> _handle:
        return self.create("dnnl_memory_desc_create_with_strides", len(dims), _dims(dims),
                           _F32, _dims(strides))

    def any_md(self, dims) -> _handle:
        """A descriptor whose layout the primitive chooses (for weights: its blocked format)."""
        return self.create("dnnl_memory_desc_create_with_tag", len(dims), _dims(dims), _F32,
                           _FORMAT_ANY)


def _dims(values) -> _Dims:
    return _Dims(*values)


@functools.cache
def _library():
    """The loaded library, or None where it is not installed, turned off, or fails to load."""
    if os.environ.get("DEEPGRAD_ONEDNN", "1") == "0" or not sys.platform.startswith("linux"):
        return None
    for path in package_libraries("onednn-cpu-gomp", "libdnnl.so.3"):
        try:
            return _Library(ctypes.CDLL(path))
        except (OSError, AttributeError, OneDNNError):
            continue
    return None


def available() -> bool:
    """Whether oneDNN's kernels are used: installed, and not in a forked child (its kernels
    would wait for OpenMP threads that do not survive fork; deepgrad's own code runs there)."""
    return not forked_child() and _library() is not None


class _Primitive:
    """One oneDNN primitive and the memory descriptors of its arguments."""

    def __init__(self, lib: _Library, pd: _handle, mds: dict) -> None:
        self.lib, self.pd, self.mds = lib, pd, mds
        self.nbytes = {arg: lib.lib.dnnl_memory_desc_get_size(md)
                       for arg, md in mds.items() if md is not None}
        self.primitive = lib.create("dnnl_primitive_create", pd)

    def __del__(self) -> None:
        _destroy(self.lib, "dnnl_primitive_destroy", getattr(self, "primitive", None))
        _destroy(self.lib, "dnnl_primitive_desc_destroy", self.pd)

    def impl(self) -> str:
        """The name of the implementation oneDNN chose (e.g. 'brgconv:avx512_core')."""
        name = ctypes.c_char_p()
        self.lib.call("dnnl_primitive_desc_query", self.pd, _QUERY_IMPL_INFO, 0,
                      ctypes.byref(name))
        return name.value.decode()

    def __call__(self, arrays: dict) -> None:
        """Run on ``arrays`` ({argument: ndarray laid out as its descriptor says})."""
        lib = self.lib
        if forked_child():
            raise OneDNNError("oneDNN cannot run in a forked child process (OpenMP's threads do "
                              "not survive fork); build the graph in the child")
        for arg, a in arrays.items():  # the kernels trust the pointers they are given
            size = self.nbytes[arg]
            if a.dtype != np.float32 or not a.flags.c_contiguous or a.nbytes < size:
                raise ValueError(f"oneDNN {self.impl()}: argument {arg} must be a C-contiguous "
                                 f"float32 array of {size} bytes, got {a.dtype} {a.shape}")
        memories = []
        try:
            for arg, a in arrays.items():
                memories.append(lib.create("dnnl_memory_create", self.mds[arg], lib.engine,
                                           _handle(a.ctypes.data)))
            args = (_ExecArg * len(arrays))(*map(_ExecArg, arrays, memories))
            with lib.lock:
                lib.call("dnnl_primitive_execute", self.primitive, lib.stream, len(arrays), args)
                lib.call("dnnl_stream_wait", lib.stream)
        finally:
            for m in memories:
                lib.lib.dnnl_memory_destroy(m)


def _destroy(lib: _Library, name: str, *handles) -> None:
    """Free oneDNN objects (quietly: at interpreter exit the library may be gone)."""
    try:
        for h in handles:
            if h is not None:
                getattr(lib.lib, name)(h)
    except Exception:  # noqa: BLE001
        pass


def _reorder(lib: _Library, src_md, dst_md):
    """A primitive copying between two layouts of one tensor, or None where they are equal."""
    if lib.lib.dnnl_memory_desc_equal(src_md, dst_md):
        return None
    pd = lib.create("dnnl_reorder_primitive_desc_create", src_md, lib.engine, dst_md,
                    lib.engine, None)
    return _Primitive(lib, pd, {_SRC: src_md, _DST: dst_md})


def _channels_last_strides(shape) -> list:
    """Strides, in elements and in (N, C, *S) order, of a C-contiguous (N, *S, C) array."""
    n, c, *size = shape
    spatial = [math.prod(size[d + 1:]) * c for d in range(len(size))]
    return [math.prod(size) * c, 1, *spatial]


def _contiguous_strides(shape) -> list:
    return [math.prod(shape[d + 1:]) for d in range(len(shape))]


class ConvPlan:
    """oneDNN's kernels for one convolution geometry: x (N, C, *S), weight (O, C/groups, *K),
    padding as (lo, hi) pairs. Images are C-contiguous channels-last float32 arrays
    (N, *S, C); weights are PyTorch's (O, C/groups, *K) layout, which each call reorders to
    and from the blocked layout the kernels read."""

    def __init__(self, lib: _Library, x_shape, w_shape, out_size, stride, padding, dilation,
                 groups: int, bias: bool) -> None:
        self.lib = lib
        n, o = x_shape[0], w_shape[0]
        y_shape = (n, o, *out_size)
        self.y_shape = (n, *out_size, o)
        self.x_shape, self.w_shape = (n, *x_shape[2:], x_shape[1]), tuple(w_shape)
        w_dims = list(w_shape) if groups == 1 else [groups, o // groups, *w_shape[1:]]
        self.x_md = lib.strided_md(x_shape, _channels_last_strides(x_shape))
        self.y_md = lib.strided_md(y_shape, _channels_last_strides(y_shape))
        self.w_md = lib.strided_md(w_dims, _contiguous_strides(w_dims))
        self.b_md = lib.strided_md([o], [1]) if bias else None
        self.w_any = lib.any_md(w_dims)
        self.geometry = (_dims(stride), _dims(d - 1 for d in dilation),
                         _dims(lo for lo, _ in padding), _dims(hi for _, hi in padding))
        self.fwd_pd = lib.create("dnnl_convolution_forward_primitive_desc_create", lib.engine,
                                 _FORWARD_TRAINING, _DIRECT, self.x_md, self.w_any, self.b_md,
                                 self.y_md, *self.geometry, None)
        w_md = _handle(lib.lib.dnnl_primitive_desc_query_md(self.fwd_pd, _QUERY_WEIGHTS_MD, 0))
        self.fwd = _Primitive(lib, self.fwd_pd, {_SRC: self.x_md, _WEIGHTS: w_md,
                                                 _BIAS: self.b_md, _DST: self.y_md})
        self.fwd_weights = _reorder(lib, self.w_md, w_md)
        self.bwd_data, self.bwd_data_weights = self._build_bwd_data()
        self.bwd_weights, self.bwd_weights_out = self._build_bwd_weights()

    def __del__(self) -> None:
        _destroy(self.lib, "dnnl_memory_desc_destroy",
                 *(getattr(self, a, None) for a in ("x_md", "y_md", "w_md", "b_md", "w_any")))

    def fast(self) -> bool:
        """False where oneDNN has only its reference kernel for one of the three (far slower
        than deepgrad's im2col)."""
        return not any(p.impl().startswith("ref")
                       for p in (self.fwd, self.bwd_data, self.bwd_weights))

    def forward(self, x, w, b=None):
        """The convolution of x (N, *S, C) as a new (N, *L, O) array, plus the bias b."""
        y = np.empty(self.y_shape, np.float32)
        args = {_SRC: x, _WEIGHTS: _reordered(self.fwd_weights, w), _DST: y}
        if self.b_md is not None:
            args[_BIAS] = b
        self.fwd(args)
        return y

    def input_grad(self, g, w):
        """The gradient (N, *S, C) with respect to x of an output gradient g (N, *L, O)."""
        gx = np.empty(self.x_shape, np.float32)
        self.bwd_data({_DIFF_DST: g, _WEIGHTS: _reordered(self.bwd_data_weights, w),
                       _DIFF_SRC: gx})
        return gx

    def weight_grad(self, x, g):
        """The gradients (weight (O, C/groups, *K), bias (O,) or None) from the input x
        (N, *S, C) and the output gradient g (N, *L, O)."""
        primitive, reorder = self.bwd_weights, self.bwd_weights_out
        gw = np.empty(self.w_shape, np.float32)
        blocked = gw if reorder is None else _buffer(primitive, _DIFF_WEIGHTS)
        args = {_SRC: x, _DIFF_DST: g, _DIFF_WEIGHTS: blocked}
        gb = None
        if self.b_md is not None:
            args[_DIFF_BIAS] = gb = np.empty(self.y_shape[-1], np.float32)
        primitive(args)
        if reorder is not None:
            reorder({_SRC: blocked, _DST: gw})
        return gw, gb

    def _build_bwd_data(self):
        lib = self.lib
        pd = lib.create("dnnl_convolution_backward_data_primitive_desc_create", lib.engine,
                        _DIRECT, self.x_md, self.w_any, self.y_md, *self.geometry, self.fwd_pd,
                        None)
        w_md = _handle(lib.lib.dnnl_primitive_desc_query_md(pd, _QUERY_WEIGHTS_MD, 0))
        primitive = _Primitive(lib, pd, {_DIFF_DST: self.y_md, _WEIGHTS: w_md,
                                         _DIFF_SRC: self.x_md})
        return primitive, _reorder(lib, self.w_md, w_md)

    def _build_bwd_weights(self):
        lib = self.lib
        pd = lib.create("dnnl_convolution_backward_weights_primitive_desc_create", lib.engine,
                        _DIRECT, self.x_md, self.w_any, self.b_md, self.y_md, *self.geometry,
                        self.fwd_pd, None)
        w_md = _handle(lib.lib.dnnl_primitive_desc_query_md(pd, _QUERY_DIFF_WEIGHTS_MD, 0))
        primitive = _Primitive(lib, pd, {_SRC: self.x_md, _DIFF_DST: self.y_md,
                                         _DIFF_WEIGHTS: w_md, _DIFF_BIAS: self.b_md})
        return primitive, _reorder(lib, w_md, self.w_md)


def _buffer(primitive: _Primitive, arg: int):
    """A float32 array large enough for a primitive's argument in its layout."""
    return np.empty(primitive.nbytes[arg] // 4, np.float32)


def _reordered(reorder, w):
    """w in the layout a kernel reads (itself where that is its own)."""
    if reorder is None:
        return w
    out = _buffer(reorder, _DST)
    reorder({_SRC: w, _DST: out})
    return out


@functools.lru_cache(maxsize=256)
def _plan(x_shape, w_shape, out_size, stride, padding, dilation, groups, bias):
    lib = _library()
    try:
        plan = ConvPlan(lib, x_shape, w_shape, out_size, stride, padding, dilation, groups, bias)
    except OneDNNError:  # a geometry oneDNN does not take
        return None
    return plan if plan.fast() else None


def conv_plan(x_shape, w_shape, out_size, stride, padding, dilation, groups: int, bias: bool):
    """The ConvPlan of a float32 convolution (shapes as ``ConvNd`` takes them), or None where
    oneDNN is not used: not installed, an empty tensor, or no fast kernel for the geometry."""
    if _library() is None or 0 in (*x_shape, *w_shape, *out_size) or len(x_shape) > 5:
        return None
    return _plan(tuple(x_shape), tuple(w_shape), tuple(out_size), tuple(stride),
                 tuple(map(tuple, padding)), tuple(dilation), groups, bias)

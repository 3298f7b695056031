"""Indexing primitives: ``x[key]``, ``x[key] = v``, gather, scatter_add, index_select.

Where an index can repeat (integer arrays, gather), backward scatter-adds with ``np.add.at`` so
that every use of an element contributes to its gradient.
"""

from __future__ import annotations

import numpy as np

from deepgrad.autograd import Function, is_grad_enabled
from deepgrad.backend import full_in_order, memory_order
from deepgrad.ops.promote import as_tensor
from deepgrad.tensor import Tensor, _dim


def _key(key):
    """An indexing key with tensors and lists turned into arrays; and whether it is advanced."""
    parts = key if isinstance(key, tuple) else (key,)
    out, advanced = [], False
    for k in parts:
        if isinstance(k, Tensor):
            k = k.array
        elif isinstance(k, (list, np.ndarray)):
            k = np.asarray(k)
        if isinstance(k, np.ndarray):
            if k.dtype.kind not in "biu":
                raise IndexError(f"index: tensors used as indices must be integer or bool, got "
                                 f"{k.dtype}")
            advanced = True
        out.append(k)
    return tuple(out), advanced


class GetItem(Function):
    __slots__ = ("shape", "key", "advanced", "order")

    def forward(self, x, key, advanced):
        self.shape, self.key, self.advanced = x.shape, key, advanced
        self.order = memory_order(x)
        return x[key]

    def backward(self, g):
        full = full_in_order(self.shape, 0, g.dtype, self.order)
        if self.advanced:
            np.add.at(full, self.key, g)  # repeated indices add up
        else:
            full[self.key] = g
        return full


class SetItem(Function):
    """x with x[key] = v, as a new array (the graph form of item assignment)."""
    __slots__ = ("key",)

    def forward(self, x, v, key):
        self.key = key
        out = x.copy()
        out[key] = v
        return out

    def backward(self, g):
        gx = None
        if self.needs_input_grad[0]:
            gx = g.copy()
            gx[self.key] = 0
        return gx, (g[self.key] if self.needs_input_grad[1] else None)


def getitem(input, key) -> Tensor:
    key, advanced = _key(key)
    out = GetItem.apply(input, key=key, advanced=advanced)  # errors name getitem and the shape
    if not advanced:  # a view, as in PyTorch: in-place changes to it reach input too
        out._view_of = (input, key)
    return out


def setitem(input, key, value) -> None:
    """``x[key] = value``: in place, or through the graph when gradients are recorded."""
    key, _ = _key(key)
    v = as_tensor(value, like=input)
    lead = next((i for i, n in enumerate(v.shape) if n != 1), v.ndim)
    if lead:  # torch drops a value's leading size-1 dims (x[0] = t of shape (1,))
        v = v.reshape(v.shape[lead:])
    if (input._requires_grad or v._requires_grad) and is_grad_enabled():
        input._inplace(SetItem.apply(input, v.to(input.dtype), key=key), "setitem")
        return
    input._check_leaf_inplace("setitem")
    try:
        input.array[key] = v.array
    except (IndexError, ValueError) as e:
        raise type(e)(f"setitem: {e} (tensor of shape {input.shape}, value of shape "
                      f"{v.shape})") from None


# -- gather / scatter ---------------------------------------------------------------------------
def _along(index: np.ndarray, dim: int):
    """Full index arrays that pick ``index`` along dim and walk every other dim in order."""
    grids = list(np.ogrid[tuple(slice(n) for n in index.shape)])
    grids[dim] = index
    return tuple(grids)


class Gather(Function):
    __slots__ = ("shape", "where")

    def forward(self, x, index, dim):
        self.shape, self.where = x.shape, _along(index, dim)
        return x[self.where]

    def backward(self, g):
        full = np.zeros(self.shape, g.dtype)
        np.add.at(full, self.where, g)
        return full


class ScatterAdd(Function):
    __slots__ = ("where", "src_part", "src_shape")

    def forward(self, x, src, index, dim):
        self.where = _along(index, dim)
        self.src_part = tuple(slice(n) for n in index.shape)
        self.src_shape = src.shape
        out = x.copy()
        np.add.at(out, self.where, src[self.src_part])
        return out

    def backward(self, g):
        gsrc = None
        if self.needs_input_grad[1]:
            gsrc = np.zeros(self.src_shape, g.dtype)
            gsrc[self.src_part] = g[self.where]
        return g, gsrc


class IndexSelect(Function):
    __slots__ = ("shape", "index", "dim")

    def forward(self, x, index, dim):
        self.shape, self.index, self.dim = x.shape, index, dim
        return np.take(x, index, axis=dim)

    def backward(self, g):
        full = np.zeros(self.shape, g.dtype)
        np.add.at(np.moveaxis(full, self.dim, 0), self.index, np.moveaxis(g, self.dim, 0))
        return full


def _index_array(index, op: str, input: Tensor, dim: int, ndim=None) -> np.ndarray:
    idx = index.array if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer tensor, got {idx.dtype}")
    if ndim is not None and idx.ndim != ndim:
        raise RuntimeError(f"{op}: index has {idx.ndim} dims (shape {idx.shape}), expected "
                           f"{ndim} like the input (shape {input.shape})")
    n = input.shape[dim] if input.ndim else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"{op}: index values must lie in [{-n}, {n - 1}] for dim {dim} of "
                         f"shape {input.shape}; got values from {idx.min()} to {idx.max()}")
    return idx


def _fits_inside(idx: np.ndarray, shape: tuple, dim: int, op: str, what: str) -> None:
    for d, (i, n) in enumerate(zip(idx.shape, shape)):
        if d != dim and i > n:
            raise RuntimeError(f"{op}: index shape {idx.shape} is larger than {what} shape "
                               f"{shape} in dim {d}")


def gather(input, dim: int, index) -> Tensor:
    """out[i][j] = input[index[i][j]][j] for dim=0 (and likewise for other dims)."""
    d = _dim(dim, input.ndim, "gather")
    idx = _index_array(index, "gather", input, d, ndim=input.ndim)
    _fits_inside(idx, input.shape, d, "gather", "input")
    return Gather.apply(input, index=idx, dim=d)


def scatter_add(input, dim: int, index, src) -> Tensor:
    """A copy of input with src's values added at input[index[i][j]][j] (dim=0); repeats add."""
    d = _dim(dim, input.ndim, "scatter_add")
    idx = _index_array(index, "scatter_add", input, d, ndim=input.ndim)
    _fits_inside(idx, input.shape, d, "scatter_add", "input")
    src = as_tensor(src, like=input).to(input.dtype)
    for dd, (i, n) in enumerate(zip(idx.shape, src.shape)):
        if i > n:
            raise RuntimeError(f"scatter_add: index shape {idx.shape} is larger than src shape "
                               f"{src.shape} in dim {dd}")
    return ScatterAdd.apply(input, src, index=idx, dim=d)


def index_select(input, dim: int, index) -> Tensor:
    """The slices of input at the given (1-D) indices along dim."""
    d = _dim(dim, input.ndim, "index_select")
    idx = _index_array(index, "index_select", input, d)
    if idx.ndim > 1:
        raise RuntimeError(f"index_select: index must be 1-D, got shape {idx.shape}")
    return IndexSelect.apply(input, index=idx.reshape(-1), dim=d)


def masked_select(input, mask) -> Tensor:
    """The elements where mask (broadcast with input) is True, as a 1-D tensor."""
    m = mask.array if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_select: mask must be a bool tensor, got {m.dtype}")
    try:
        shape = np.broadcast_shapes(input.shape, m.shape)
    except ValueError:
        raise RuntimeError(f"masked_select: mask of shape {m.shape} does not broadcast with "
                           f"input of shape {input.shape}") from None
    return getitem(input.expand(shape), np.broadcast_to(m, shape))


def nonzero(input, *, as_tuple: bool = False):
    """Indices of the non-zero elements: an (n, ndim) int64 tensor, or one per dim."""
    idx = np.nonzero(input.array)
    if as_tuple:
        return tuple(Tensor._make(i.astype(np.int64), None) for i in idx)
    return Tensor._make(np.stack(idx, axis=1).astype(np.int64), None)

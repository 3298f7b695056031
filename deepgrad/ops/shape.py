"""Shape primitives: reshape, transpose/permute, expand, repeat, cat/stack, pad.

flatten, squeeze, unsqueeze and view are reshapes; split and chunk are slices.
"""

from __future__ import annotations

import numpy as np

from deepgrad.autograd import Function
from deepgrad.backend import full_in_order, memory_order
from deepgrad.tensor import Tensor, _dim


def _sizes(args, op: str) -> tuple:
    """Sizes given as f(2, 3) or f((2, 3)) or f([2, 3])."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    try:
        return tuple(int(a) for a in args)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: sizes must be integers, got {args!r}") from None


class Reshape(Function):
    __slots__ = ("shape",)

    def forward(self, x, shape):
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, g):
        return g.reshape(self.shape)


class Permute(Function):
    __slots__ = ("inverse",)

    def forward(self, x, dims):
        self.inverse = tuple(np.argsort(dims))
        return x.transpose(dims)

    def backward(self, g):
        return g.transpose(self.inverse)


class Expand(Function):
    __slots__ = ()

    def forward(self, x, shape):
        return np.broadcast_to(x, shape)

    def backward(self, g):
        return g  # the engine sums it back over the expanded dims


class Repeat(Function):
    __slots__ = ("shape", "reps")

    def forward(self, x, reps):
        self.shape = (1,) * (len(reps) - x.ndim) + x.shape
        self.reps = reps
        return np.tile(x.reshape(self.shape), reps)

    def backward(self, g):
        # view each dim as (repeat, size) and sum over the repeats
        split = [n for pair in zip(self.reps, self.shape) for n in pair]
        return g.reshape(split).sum(axis=tuple(range(0, len(split), 2)))


class Cat(Function):
    __slots__ = ("bounds", "dim")

    def forward(self, *xs, dim):
        self.bounds = np.cumsum([x.shape[dim] for x in xs])[:-1]
        self.dim = dim
        return np.concatenate(xs, axis=dim)

    def backward(self, g):
        return tuple(np.split(g, self.bounds, axis=self.dim))


class Stack(Function):
    __slots__ = ("dim",)

    def forward(self, *xs, dim):
        self.dim = dim
        return np.stack(xs, axis=dim)

    def backward(self, g):
        return tuple(np.moveaxis(g, self.dim, 0))


class Pad(Function):
    """Constant padding (negative amounts crop); reflect/replicate/circular via an index map."""
    __slots__ = ("shape", "widths", "mode", "crop", "inner", "order")

    def forward(self, x, widths, mode, value):
        self.shape, self.widths, self.mode = x.shape, widths, mode
        grow = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
        if mode != "constant":
            return np.pad(x, grow, mode=_NP_MODES[mode])
        # negative widths crop: x[crop] is kept, and lands at out[inner]; out and the
        # gradient keep x's memory layout
        self.crop = tuple(slice(max(-lo, 0), n + min(hi, 0))
                          for (lo, hi), n in zip(widths, x.shape))
        kept = x[self.crop]
        size = [n + lo + hi for n, (lo, hi) in zip(kept.shape, grow)]
        self.order = memory_order(x)
        out = full_in_order(size, value, x.dtype, self.order)
        self.inner = tuple(slice(lo, m - hi) for (lo, hi), m in zip(grow, out.shape))
        out[self.inner] = kept
        return out

    def backward(self, g):
        if self.mode == "constant":
            out = full_in_order(self.shape, 0, g.dtype, self.order)
            out[self.crop] = g[self.inner]
            return out
        return self._scatter_back(g)

    def _scatter_back(self, g):
        """Every output element copies one input element: scatter-add through that index map."""
        padded = [i for i, w in enumerate(self.widths) if w != (0, 0)]
        first = padded[0] if padded else len(self.shape)
        inner_shape = self.shape[first:]
        size, lead = int(np.prod(inner_shape)), int(np.prod(self.shape[:first]))
        index = np.pad(np.arange(size).reshape(inner_shape), self.widths[first:],
                       mode=_NP_MODES[self.mode])
        out = np.zeros((size, lead), g.dtype)
        np.add.at(out, index.reshape(-1), g.reshape(lead, -1).T)
        return out.T.reshape(self.shape)


_NP_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


# -- functions ----------------------------------------------------------------------------------
def reshape(input, *shape) -> Tensor:
    shape = _sizes(shape, "reshape")
    if shape == input.shape:
        return input
    try:
        return Reshape.apply(input, shape=shape)
    except ValueError:
        raise RuntimeError(
            f"reshape: shape {shape} is invalid for a tensor of shape {input.shape} "
            f"({input.numel()} elements)"
        ) from None


view = reshape


def view_as(input, other) -> Tensor:
    return reshape(input, other.shape)


def reshape_as(input, other) -> Tensor:
    return reshape(input, other.shape)


def flatten(input, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if input.ndim == 0:
        return reshape(input, (1,))
    s, e = _dim(start_dim, input.ndim, "flatten"), _dim(end_dim, input.ndim, "flatten")
    if s > e:
        raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = input.shape
    return reshape(input, shape[:s] + (int(np.prod(shape[s:e + 1])),) + shape[e + 1:])


def unflatten(input, dim: int, sizes) -> Tensor:
    d = _dim(dim, input.ndim, "unflatten")
    return reshape(input, input.shape[:d] + tuple(sizes) + input.shape[d + 1:])


def squeeze(input, dim=None) -> Tensor:
    """Remove size-1 dims (all, or those in dim; others in dim are left alone, as in torch)."""
    if dim is None:
        dims = {i for i, n in enumerate(input.shape) if n == 1}
    else:
        dims = {_dim(d, input.ndim, "squeeze") for d in ((dim,) if isinstance(dim, int) else dim)}
        dims = {d for d in dims if input.ndim and input.shape[d] == 1}
    return reshape(input, tuple(n for i, n in enumerate(input.shape) if i not in dims))


def unsqueeze(input, dim: int) -> Tensor:
    d = _dim(dim, input.ndim + 1, "unsqueeze")
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


def permute(input, *dims) -> Tensor:
    dims = _sizes(dims, "permute")
    if len(dims) != input.ndim:
        raise RuntimeError(f"permute: got {len(dims)} dims {dims} for a tensor with "
                           f"{input.ndim} dimensions (shape {input.shape})")
    dims = tuple(_dim(d, input.ndim, "permute") for d in dims)
    if sorted(dims) != list(range(input.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of 0..{input.ndim - 1}")
    return Permute.apply(input, dims=dims)


def transpose(input, dim0: int, dim1: int) -> Tensor:
    n = input.ndim
    if n < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return input
    dims = list(range(n))
    a, b = _dim(dim0, n, "transpose"), _dim(dim1, n, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(input, dims=tuple(dims))


swapaxes = transpose


def t(input) -> Tensor:
    """Transpose a tensor of at most 2 dims."""
    if input.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dimensions, got shape {input.shape}")
    return transpose(input, 0, -1) if input.ndim == 2 else input


def T(input) -> Tensor:
    """All dims reversed (``x.T``)."""
    return Permute.apply(input, dims=tuple(reversed(range(input.ndim))))


def mT(input) -> Tensor:
    return transpose(input, -2, -1)


def expand(input, *sizes) -> Tensor:
    sizes = _sizes(sizes, "expand")
    if len(sizes) < input.ndim:
        raise RuntimeError(f"expand: the number of sizes ({len(sizes)}) must be at least the "
                           f"number of dims ({input.ndim}); shape {input.shape}")
    lead = len(sizes) - input.ndim
    shape = tuple(n if s == -1 and i >= lead else s for i, (s, n) in enumerate(
        zip(sizes, (None,) * lead + input.shape)))
    for i, n in enumerate(input.shape):
        if n != 1 and shape[lead + i] != n:
            raise RuntimeError(f"expand: cannot expand shape {input.shape} to {sizes}: "
                               f"dim {i} has size {n}, which is not 1")
    if shape == input.shape:
        return input
    return Expand.apply(input, shape=shape)


def expand_as(input, other) -> Tensor:
    return expand(input, other.shape)


def broadcast_to(input, size) -> Tensor:
    return expand(input, size)


def repeat(input, *sizes) -> Tensor:
    reps = _sizes(sizes, "repeat")
    if len(reps) < input.ndim:
        raise RuntimeError(f"repeat: {len(reps)} repeat counts for a tensor with {input.ndim} "
                           f"dimensions (shape {input.shape}); give at least one per dim")
    return Repeat.apply(input, reps=reps)


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing dim (they must agree in every other dim)."""
    tensors = _same_dtype(tensors, "cat")
    ref = tensors[0]
    d = _dim(dim, ref.ndim, "cat")
    for i, x in enumerate(tensors):
        if x.ndim != ref.ndim or x.shape[:d] + x.shape[d + 1:] != ref.shape[:d] + ref.shape[d + 1:]:
            raise RuntimeError(f"cat: tensor {i} has shape {x.shape}, which does not match "
                               f"tensor 0's shape {ref.shape} outside dim {dim}")
    return Cat.apply(*tensors, dim=d)


concat = concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dim."""
    tensors = _same_dtype(tensors, "stack")
    for i, x in enumerate(tensors):
        if x.shape != tensors[0].shape:
            raise RuntimeError(f"stack: tensor {i} has shape {x.shape}, expected "
                               f"{tensors[0].shape} like tensor 0")
    return Stack.apply(*tensors, dim=_dim(dim, tensors[0].ndim + 1, "stack"))


def _same_dtype(tensors, op: str) -> list:
    from deepgrad.ops.promote import _cast, result_dtype

    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{op}: expects a non-empty list of tensors")
    dt = result_dtype(*tensors)
    return [_cast(x, dt) for x in tensors]


def split(input, split_size_or_sections, dim: int = 0) -> tuple:
    """Pieces of split_size along dim (the last may be smaller), or of the listed sizes."""
    d = _dim(dim, input.ndim, "split")
    n = input.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise RuntimeError(f"split: split_size must be positive, got {step}")
        sizes = [min(step, n - i) for i in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split: sizes {sizes} add up to {sum(sizes)}, but dim "
                               f"{dim} has size {n}")
    pieces, start = [], 0
    for size in sizes:
        index = (slice(None),) * d + (slice(start, start + size),)
        pieces.append(input[index])
        start += size
    return tuple(pieces)


def chunk(input, chunks: int, dim: int = 0) -> tuple:
    """At most `chunks` pieces of equal size (the last may be smaller), as torch.chunk."""
    if chunks <= 0:
        raise RuntimeError(f"chunk: chunks must be positive, got {chunks}")
    n = input.shape[_dim(dim, input.ndim, "chunk")]
    return split(input, max(-(-n // chunks), 1), dim)


def pad(input, pad, mode: str = "constant", value=None) -> Tensor:
    """Pad the last dims; ``pad = (left, right, top, bottom, ...)`` names the last dim first."""
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError(f"pad: got {len(pad)} padding values for a tensor of shape "
                           f"{input.shape}; give an even number, at most 2 per dim")
    if mode not in ("constant", *_NP_MODES):
        raise NotImplementedError(f"pad: mode {mode!r}; use constant, reflect, replicate or "
                                  "circular")
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)][::-1]
    widths = [(0, 0)] * (input.ndim - len(pairs)) + pairs
    if mode != "constant":
        if min(min(w) for w in widths) < 0:
            raise RuntimeError(f"pad: negative padding {tuple(pad)} needs mode='constant'")
        if mode == "reflect":
            for (lo, hi), n in zip(widths, input.shape):
                if max(lo, hi) >= n:
                    raise RuntimeError(f"pad: reflect padding {lo, hi} must be smaller than the "
                                       f"dim it pads ({n}); input shape {input.shape}")
    return Pad.apply(input, widths=tuple(widths), mode=mode, value=0 if value is None else value)

"""``Tensor``: an array, and where it came from (its ``grad_fn``) so that gradients can flow back.

This module holds the data structure. The differentiable operations live in ``deepgrad/ops/``,
grouped by kind; ``ops/__init__.py`` binds them to Tensor as methods (``x.sum()``, ``x + y``).
"""

from __future__ import annotations

import numpy as np

from deepgrad import backend
from deepgrad.autograd import engine
from deepgrad.autograd.function import register_tensor_type
from deepgrad.autograd.grad_mode import _enabled as _grad_mode
from deepgrad.backend import as_dtype, dtype_of, xp


class Tensor:
    """A multi-dimensional array that can record the operations applied to it."""

    __slots__ = ("array", "_requires_grad", "grad", "grad_fn", "_view_of", "__weakref__")

    def __init__(self, data=(), requires_grad: bool = False) -> None:
        # like torch.Tensor(data): always the default float dtype (dg.tensor infers it)
        self.array = _from_data(data, backend.get_default_dtype())
        self.grad = None
        self.grad_fn = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _make(array, grad_fn) -> Tensor:
        """Wrap an array without copying or checks (the hot path of every operation)."""
        t = _new(Tensor)
        t.array = array
        t.grad = None
        t.grad_fn = grad_fn
        t._requires_grad = grad_fn is not None
        return t

    # -- what it is ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.array.shape

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def dtype(self) -> backend.dtype:
        return dtype_of(self.array)

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    @property
    def data(self) -> Tensor:
        """The same values, detached from the graph (shares memory)."""
        return Tensor._make(self.array, None)

    @data.setter
    def data(self, value) -> None:
        self.array = value.array if isinstance(value, Tensor) else xp.asarray(value)

    def size(self, dim: int | None = None):
        return self.array.shape if dim is None else self.array.shape[_dim(dim, self.ndim, "size")]

    def dim(self) -> int:
        return self.array.ndim

    def numel(self) -> int:
        return int(self.array.size)

    def element_size(self) -> int:
        return self.array.itemsize

    def stride(self, dim: int | None = None):
        strides = tuple(s // self.array.itemsize for s in self.array.strides)
        return strides if dim is None else strides[_dim(dim, self.ndim, "stride")]

    def is_contiguous(self) -> bool:
        return bool(self.array.flags.c_contiguous)

    def is_floating_point(self) -> bool:
        return self.array.dtype.kind == "f"

    # -- leaving deepgrad ---------------------------------------------------------------------
    def numpy(self, force: bool = False) -> np.ndarray:
        """The values as a NumPy array sharing memory (like ``torch.Tensor.numpy``)."""
        if self._requires_grad and not force:
            raise RuntimeError(
                "numpy(): this tensor requires grad; call tensor.detach().numpy() instead"
            )
        return self.array

    def item(self):
        if self.array.size != 1:
            raise ValueError(
                f"item(): only a tensor with one element can be converted to a Python number, "
                f"this one has shape {self.shape}"
            )
        return self.array.item()

    def tolist(self):
        return self.array.tolist()

    def __array__(self, dtype=None, copy=None):
        return self.array if dtype is None else self.array.astype(dtype)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.array.shape[0]))

    def __bool__(self) -> bool:
        if self.array.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self.array.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.array)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.array.dtype.kind not in "iu" or self.array.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.array.item())

    def __format__(self, spec: str) -> str:
        if self.array.size == 1 and spec:
            return format(self.item(), spec)
        return repr(self)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return _format(self)

    # -- autograd -----------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError(
                "requires_grad_(False) on a non-leaf tensor; use .detach() to get a tensor "
                "outside the graph"
            )
        if requires_grad and self.array.dtype.kind not in "fc":
            raise RuntimeError(
                f"only floating point tensors can require gradients, this one is {self.dtype}"
            )
        self._requires_grad = bool(requires_grad) or self.grad_fn is not None
        return self

    def detach(self) -> Tensor:
        """The same values (shared memory), cut from the graph."""
        return Tensor._make(self.array, None)

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        if self.grad_fn is not None:
            engine.retain_grad(self)

    @property
    def retains_grad(self) -> bool:
        return engine.retains_grad(self)

    def backward(self, gradient=None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs=None) -> None:
        """Backpropagate from this tensor: accumulate d(self)/d(leaf) into each leaf's .grad."""
        engine.backward(self, None if gradient is None else [gradient], retain_graph,
                        create_graph, inputs)

    # -- in place -----------------------------------------------------------------------------
    def _inplace(self, result: Tensor, name: str) -> Tensor:
        """Make ``result`` the new value of self (the tail of every in-place operation).

        Without a graph the values are written into self's memory, so views see the change.
        With one, self takes result's place in the graph and its old array is left untouched,
        which keeps every value saved for backward valid.
        """
        self._check_leaf_inplace(name)
        if result.shape != self.shape:
            raise RuntimeError(
                f"{name}: the result has shape {result.shape}, which cannot be written in "
                f"place into a tensor of shape {self.shape}"
            )
        if not np.can_cast(result.array.dtype, self.array.dtype, "same_kind"):
            raise RuntimeError(
                f"{name}: the result is {result.dtype}, which cannot be written in place into a "
                f"{self.dtype} tensor; use the out-of-place operation"
            )
        origin = getattr(self, "_view_of", None)  # (base, key) when self is base[key]
        if result.grad_fn is None and self.grad_fn is None:
            self.array[...] = result.array
            if origin is not None and not np.may_share_memory(self.array, origin[0].array):
                origin[0].array[origin[1]] = self.array  # the view was rebound earlier
            return self
        if origin is None and self.array.base is not None:
            # deepgrad tracks views made by indexing only: rebinding this tensor would leave
            # the tensor it views unchanged, silently. PyTorch would update both.
            raise RuntimeError(
                f"{name}: in-place operation on a view (a reshape, transpose or expand of another "
                "tensor) while gradients are recorded; deepgrad cannot update the viewed tensor "
                "too. Use the out-of-place operation, or .clone() the view first"
            )
        self.array = result.array.astype(self.array.dtype, copy=False)
        self.grad_fn = result.grad_fn
        self._requires_grad = result._requires_grad
        if origin is not None:  # write the new values into the base as well, through the graph
            from deepgrad.ops.index import SetItem

            base, key = origin
            base._inplace(SetItem.apply(base, self, key=key), name)
        return self

    def _check_leaf_inplace(self, name: str) -> None:
        if self._requires_grad and self.grad_fn is None and _grad_mode[0]:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad cannot be changed in place while "
                "gradients are recorded; do it under `with deepgrad.no_grad():` (as optimizers "
                "do) or use the out-of-place operation"
            )

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value) -> Tensor:
        value = value.array if isinstance(value, Tensor) else value
        return self._inplace(Tensor._make(xp.full(self.shape, value, self.array.dtype), None),
                             "fill_")

    def copy_(self, src) -> Tensor:
        src = src if isinstance(src, Tensor) else Tensor(src)
        try:
            xp.broadcast_to(src.array, self.shape)
        except ValueError:
            raise RuntimeError(
                f"copy_: cannot copy a tensor of shape {src.shape} into one of shape {self.shape}"
            ) from None
        return self._inplace(src.expand(self.shape).to(self.dtype), "copy_")


_new = object.__new__
register_tensor_type(Tensor)


def _dim(dim: int, ndim: int, op: str) -> int:
    """Normalise a possibly negative dimension index, with an error that names the op."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"{op}: dimension {dim} is out of range for a tensor with {ndim} dimensions "
            f"(expected a value in [{-n}, {n - 1}])"
        )
    return dim % n


# -- construction ---------------------------------------------------------------------------
def _from_data(data, dtype) -> np.ndarray:
    """An array (always a fresh copy) from Python data, an array or a tensor, with torch's dtypes.

    Python floats become the default float dtype (float32), ints int64, bools bool; a NumPy
    array keeps its dtype.
    """
    if isinstance(data, Tensor):
        data = data.array
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data)
    else:
        try:
            arr = np.array(_unwrap(data))
        except ValueError:
            raise ValueError(f"tensor(): the nested lists have different lengths, so they do not "
                             f"form a rectangular array: {_preview(data)}") from None
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"tensor(): cannot make a tensor from {type(data).__name__} data "
                            f"(it became a NumPy array of dtype {arr.dtype})")
        if dtype is None:  # Python numbers: torch's defaults
            dtype = backend.get_default_dtype() if arr.dtype.kind == "f" else (
                np.int64 if arr.dtype.kind in "iu" else None)
    if dtype is not None:
        arr = arr.astype(as_dtype(dtype).np, copy=False)
    dtype_of(arr)  # rejects unsupported dtypes with a clear error
    return arr


def _preview(data) -> str:
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."


def _unwrap(data):
    """Replace tensors inside nested lists by their values (torch.tensor([t1, t2]))."""
    if isinstance(data, Tensor):
        return data.array
    if isinstance(data, (list, tuple)):
        return [_unwrap(x) for x in data]
    return data


# -- repr like PyTorch's --------------------------------------------------------------------
def _format(t: Tensor) -> str:
    a = t.array
    extras = []
    if a.size == 0 and a.ndim != 1:
        extras.append(f"size={t.shape}")
    default_float = backend.get_default_dtype().np
    # an empty tensor shows no values to tell its dtype by, so it is named unless default
    implied = (default_float,) if a.size == 0 else (default_float, np.int64, np.bool_)
    if a.dtype not in implied:
        extras.append(f"dtype={t.dtype}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn={t.grad_fn!r}")
    elif t._requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + ", ".join([_format_values(a)] + extras) + ")"


def _format_values(a: np.ndarray) -> str:
    if a.size == 0:
        return "[]"
    spell = _float_spelling(a) if a.dtype.kind == "f" else str
    # elements are padded to the widest finite non-zero one shown (as PyTorch does)
    shown = (a if a.size <= 1000 else _edges(a)).reshape(-1)
    measured = shown[np.isfinite(shown) & (shown != 0)] if a.dtype.kind == "f" else shown
    width = max((len(spell(v)) for v in (measured if measured.size else shown)), default=0)
    return np.array2string(
        a, separator=", ", prefix="tensor(", threshold=1000, edgeitems=3,
        formatter={"all": lambda v: spell(v).rjust(width)}, max_line_width=80,
    )


def _edges(a: np.ndarray, k: int = 3) -> np.ndarray:
    """The first and last k entries along every dim (what a summarised repr shows)."""
    for axis, n in enumerate(a.shape):
        if n > 2 * k:
            a = np.concatenate([a.take(range(k), axis), a.take(range(n - k, n), axis)], axis)
    return a


def _float_spelling(a: np.ndarray):
    """PyTorch's choice: whole numbers as '3.', else 4 decimals, scientific for wide ranges."""
    values = np.abs(a[np.isfinite(a) & (a != 0)].astype(np.float64))
    if values.size == 0:
        return _whole
    lo, hi = values.min(), values.max()
    if np.all(values == np.round(values)):
        return _whole if hi <= 1e8 else _scientific
    if hi / lo > 1000 or hi > 1e8 or lo < 1e-4:
        return _scientific
    return _fixed


def _whole(v) -> str:
    return f"{v:.0f}." if np.isfinite(v) else str(v)


def _fixed(v) -> str:
    return f"{v:.4f}" if np.isfinite(v) else str(v)


def _scientific(v) -> str:
    return f"{v:.4e}" if np.isfinite(v) else str(v)

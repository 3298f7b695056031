"""The differentiable operations, grouped by kind, and their binding to Tensor as methods.

Every ``Tensor`` method and operator that computes something is one of the functions below;
this is the one place that lists them.
"""

from deepgrad import backend
from deepgrad.ops import creation, elementwise, index, linalg, promote, reduce, shape
from deepgrad.ops.activation import heaviside, log_softmax, softmax
from deepgrad.ops.creation import *  # noqa: F403
from deepgrad.ops.elementwise import (
    abs,
    add,
    allclose,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    clamp,
    clip,
    clone,
    contiguous,
    cos,
    div,
    eq,
    equal,
    exp,
    floor_divide,
    ge,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    log,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    masked_fill,
    maximum,
    minimum,
    mul,
    ne,
    neg,
    pow,
    relu,
    remainder,
    sigmoid,
    sign,
    sin,
    sqrt,
    sub,
    tanh,
    where,
)
from deepgrad.ops.index import (
    gather,
    getitem,
    index_select,
    masked_select,
    nonzero,
    scatter_add,
    setitem,
)
from deepgrad.ops.linalg import bmm, dot, matmul, mm, outer
from deepgrad.ops.promote import result_dtype, to
from deepgrad.ops.reduce import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    prod,
    std,
    sum,
    var,
)
from deepgrad.ops.shape import (
    broadcast_to,
    cat,
    chunk,
    concat,
    concatenate,
    expand,
    expand_as,
    flatten,
    pad,
    permute,
    repeat,
    reshape,
    reshape_as,
    split,
    squeeze,
    stack,
    swapaxes,
    t,
    transpose,
    unflatten,
    unsqueeze,
    view,
    view_as,
)
from deepgrad.tensor import Tensor

_METHODS = {
    # arithmetic and operators
    "add": add, "sub": sub, "mul": mul, "div": div, "pow": pow, "neg": neg, "abs": abs,
    "__add__": add, "__radd__": add, "__sub__": sub, "__rsub__": elementwise.rsub,
    "__mul__": mul, "__rmul__": mul, "__truediv__": div, "__rtruediv__": elementwise.rdiv,
    "__floordiv__": floor_divide, "__rfloordiv__": lambda a, b: floor_divide(b, a),
    "__mod__": remainder, "__rmod__": lambda a, b: remainder(b, a),
    "__pow__": pow, "__rpow__": elementwise.rpow, "__matmul__": matmul,
    "__rmatmul__": linalg.rmatmul, "__neg__": neg, "__abs__": abs, "__pos__": lambda a: a,
    "__eq__": eq, "__ne__": ne, "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
    "__and__": bitwise_and, "__or__": bitwise_or, "__xor__": bitwise_xor,
    "__invert__": bitwise_not, "__getitem__": getitem, "__setitem__": setitem,
    "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge,
    "logical_and": logical_and, "logical_or": logical_or, "logical_xor": logical_xor,
    "logical_not": logical_not, "floor_divide": floor_divide, "remainder": remainder,
    # functions
    "exp": exp, "log": log, "sqrt": sqrt, "sin": sin, "cos": cos, "tanh": tanh,
    "sigmoid": sigmoid, "relu": relu, "clamp": clamp, "clip": clip, "maximum": maximum,
    "minimum": minimum, "masked_fill": masked_fill, "sign": sign, "isnan": isnan,
    "isinf": isinf, "isfinite": isfinite, "allclose": allclose, "equal": equal,
    "where": lambda self, condition, other: where(condition, self, other),
    "heaviside": heaviside, "softmax": softmax, "log_softmax": log_softmax,
    # reductions
    "sum": sum, "mean": mean, "var": var, "std": std, "max": max, "min": min, "amax": amax,
    "amin": amin, "argmax": argmax, "argmin": argmin, "logsumexp": logsumexp, "prod": prod,
    "all": all, "any": any,
    # matrices
    "matmul": matmul, "mm": mm, "bmm": bmm, "dot": dot, "outer": outer,
    # shapes
    "reshape": reshape, "view": view, "view_as": view_as, "reshape_as": reshape_as,
    "flatten": flatten, "unflatten": unflatten, "squeeze": squeeze, "unsqueeze": unsqueeze,
    "permute": permute, "transpose": transpose, "swapaxes": swapaxes, "t": t,
    "expand": expand, "expand_as": expand_as, "broadcast_to": broadcast_to, "repeat": repeat,
    "split": split, "chunk": chunk,
    # indexing
    "gather": gather, "scatter_add": scatter_add, "index_select": index_select,
    "masked_select": masked_select, "nonzero": nonzero,
    # copies and dtypes
    "clone": clone, "contiguous": contiguous, "to": to,
    "type_as": lambda self, other: to(self, other.dtype),
    "float": lambda self: to(self, backend.float32),
    "double": lambda self: to(self, backend.float64),
    "half": lambda self: to(self, backend.float16),
    "long": lambda self: to(self, backend.int64),
    "int": lambda self: to(self, backend.int32),
    "bool": lambda self: to(self, backend.bool_),
    "cpu": lambda self: self,
}

# in place: compute out of place, then let Tensor._inplace write it back or take its graph node
_INPLACE = ("add", "sub", "mul", "div", "pow", "neg", "abs", "exp", "log", "sqrt", "sin", "cos",
            "tanh", "sigmoid", "relu", "clamp", "clip", "masked_fill")
_OPERATORS_INPLACE = {"__iadd__": "add", "__isub__": "sub", "__imul__": "mul",
                      "__itruediv__": "div", "__ipow__": "pow"}


def _make_inplace(fn, name):
    def method(self, *args, **kwargs):
        return self._inplace(fn(self, *args, **kwargs), name)

    method.__name__ = name
    method.__doc__ = f"In-place {name[:-1]}."
    return method


def _bind() -> None:
    for name, fn in _METHODS.items():
        setattr(Tensor, name, fn)
    for name in _INPLACE:
        setattr(Tensor, name + "_", _make_inplace(_METHODS[name], name + "_"))
    for name, base in _OPERATORS_INPLACE.items():
        setattr(Tensor, name, _make_inplace(_METHODS[base], name))
    Tensor.T = property(shape.T)
    Tensor.mT = property(shape.mT)


_bind()

__all__ = [n for n in dir() if not n.startswith("_") and n not in (
    "activation", "backend", "creation", "elementwise", "index", "linalg", "promote", "reduce",
    "shape")]

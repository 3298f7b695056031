"""Gradient clipping, and parameters flattened to one vector and back.

``clip_grad_norm_`` rescales all gradients together when their joint norm exceeds a bound (the
usual guard against exploding gradients in recurrent networks); ``clip_grad_value_`` clamps each
gradient element. Both work in place on the gradient arrays and allocate no copies. As in
torch, they take one tensor or an iterable of them; ``foreach`` arguments are accepted and ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from deepgrad.ops.shape import cat
from deepgrad.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
           "parameters_to_vector", "vector_to_parameters"]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale the gradients so that their joint ``norm_type``-norm is at most ``max_norm``.

    The norm is taken over all gradients together, as if concatenated into one vector; each
    is multiplied by ``min(1, max_norm / (total_norm + 1e-6))``. Returns the total norm
    (before clipping) as a 0-d tensor.
    """
    params = _params(parameters, "clip_grad_norm_")
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def get_total_norm(tensors: Tensor | Iterable[Tensor], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of the tensors taken together, as a 0-d tensor of their dtype."""
    arrays = [t.array for t in _params(tensors, "get_total_norm")]
    p = _norm_type(norm_type)
    if not arrays:
        return Tensor._make(np.zeros((), np.float32), None)
    dtype = np.result_type(*arrays)
    total = _norm(np.array([_norm(a, p) for a in arrays], dtype), p)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {p} of the gradients is "
                           f"{total}, so they cannot be clipped; set error_if_nonfinite=False to "
                           "scale them by the non-finite norm anyway")
    return Tensor._make(np.asarray(total, dtype), None)


def clip_grads_with_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                          total_norm: Tensor | float, foreach: bool | None = None) -> None:
    """Multiply every gradient by ``min(1, max_norm / (total_norm + 1e-6))``, in place."""
    grads = [p.grad.array for p in _params(parameters, "clip_grads_with_norm_")
             if p.grad is not None]
    if not grads:
        return
    total = total_norm.array if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    coef = float(max_norm) / (total + 1e-6)  # in total's dtype, as torch computes it
    if coef < 1.0 or math.isnan(coef):
        for g in grads:
            g *= coef


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place."""
    clip_value = float(clip_value)
    for p in _params(parameters, "clip_grad_value_"):
        if p.grad is not None:
            np.clip(p.grad.array, -clip_value, clip_value, out=p.grad.array)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor (in the graph)."""
    params = _params(parameters, "parameters_to_vector")
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters' arrays, in place.

    Unlike torch, which makes each parameter a view of ``vec``, the values are copied, so that
    the parameters keep their own memory (which optimizers hold on to).
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected vec to be a Tensor, got "
                        f"{type(vec).__name__}")
    params = _params(parameters, "vector_to_parameters")
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise ValueError(f"vector_to_parameters: vec has shape {vec.shape}, expected ({total},) "
                         "for these parameters")
    start = 0
    for p in params:
        n = p.numel()
        p.array[...] = vec.array[start:start + n].reshape(p.shape)
        start += n


def _params(parameters, op: str) -> list:
    """A list of tensors from one tensor or an iterable of them."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: expected tensors, but item {i} is a {type(p).__name__}")
    return params


def _norm_type(norm_type) -> float:
    try:
        return float(norm_type)
    except (TypeError, ValueError):
        raise ValueError(f"clip_grad_norm_: norm_type must be a number or 'inf', got "
                         f"{norm_type!r}") from None


def _norm(a: np.ndarray, p: float):
    """The p-norm of all of a's elements (a NumPy scalar of a's dtype), as torch's vector_norm."""
    if a.size == 0:
        return a.dtype.type(0)
    if p == 2:
        flat = a.reshape(-1)
        return np.sqrt(np.dot(flat, flat))
    if p == math.inf:
        return max(a.max(), -a.min())
    if p == -math.inf:
        return np.abs(a).min()
    if p == 0:
        return a.dtype.type(np.count_nonzero(a))
    if p == 1:
        return np.abs(a).sum()
    return (np.abs(a) ** p).sum() ** (1 / p)

"""Matrix products: ``matmul`` (``@``) with NumPy's 1-D, 2-D, batched and broadcast rules."""

from __future__ import annotations

import math

import numpy as np

from deepgrad.autograd import Function
from deepgrad.blas import gemm
from deepgrad.ops.promote import binary_operands
from deepgrad.tensor import Tensor


def _mm(a, b):
    """a @ b, with 2-D products through the backend's GEMM."""
    return gemm(a, b) if a.ndim == 2 and b.ndim == 2 else a @ b


class MatMul(Function):
    __slots__ = ("a", "b")

    def forward(self, a, b):
        self.a, self.b = a, b
        return _mm(a, b)

    def backward(self, g):
        a, b = self.a, self.b
        if a.ndim == 1 and b.ndim == 1:  # dot product
            return g * b, g * a
        # treat vectors as matrices: a (k,) -> (1, k), b (k,) -> (k, 1)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = np.expand_dims(g, -2) if a.ndim == 1 else g
        g2 = np.expand_dims(g2, -1) if b.ndim == 1 else g2
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = _mm(g2, np.swapaxes(b2, -1, -2))
            ga = ga[..., 0, :] if a.ndim == 1 else ga
        if self.needs_input_grad[1]:
            gb = _mm(np.swapaxes(a2, -1, -2), g2)
            gb = gb[..., 0] if b.ndim == 1 else gb
        return ga, gb  # batch dims that were broadcast are summed away by the engine


def matmul(input, other) -> Tensor:
    a, b = binary_operands(input, other)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes "
                           f"{a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise RuntimeError(
            f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
            f"({k_a} columns in the first, {k_b} rows in the second)"
        )
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise RuntimeError(f"matmul: the batch dims of {a.shape} and {b.shape} do not "
                           "broadcast") from None
    return MatMul.apply(a, b)


def rmatmul(input, other) -> Tensor:
    return matmul(other, input)


def mm(input, mat2) -> Tensor:
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expects two matrices, got shapes {input.shape} and {mat2.shape}")
    return matmul(input, mat2)


def bmm(input, mat2) -> Tensor:
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: expects two 3-D tensors with the same batch size, got shapes "
                           f"{input.shape} and {mat2.shape}")
    return matmul(input, mat2)


def dot(input, other) -> Tensor:
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"dot: expects two 1-D tensors, got shapes {input.shape} and "
                           f"{other.shape}")
    return matmul(input, other)


def outer(input, vec2) -> Tensor:
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"outer: expects two 1-D tensors, got shapes {input.shape} and "
                           f"{vec2.shape}")
    return matmul(input.reshape(-1, 1), vec2.reshape(1, -1))


class Linear(Function):
    """``x @ W.T + b`` as one GEMM and an in-place bias add (``nn.functional.linear``).

    Leading batch dims of x are folded into the GEMM's rows: (..., in) -> (rows, in).
    """

    __slots__ = ("x2", "w", "x_shape")

    def forward(self, x, w, b=None):
        self.x_shape = x.shape
        self.x2 = x2 = x.reshape(math.prod(x.shape[:-1]), x.shape[-1])
        self.w = w
        out = gemm(x2, w.T)
        if b is not None:
            out += b
        return out.reshape(*x.shape[:-1], w.shape[0])

    def backward(self, g):
        needs = self.needs_input_grad
        g2 = g.reshape(self.x2.shape[0], g.shape[-1])
        gx = gemm(g2, self.w).reshape(self.x_shape) if needs[0] else None
        gw = gemm(g2.T, self.x2) if needs[1] else None
        if len(needs) == 2:
            return gx, gw
        return gx, gw, (g2.sum(0) if needs[2] else None)

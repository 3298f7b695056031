"""Reverse-mode automatic differentiation: primitives, the graph walk, grad mode, gradcheck."""

from deepgrad.autograd.engine import backward, grad, sum_to
from deepgrad.autograd.function import Function
from deepgrad.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from deepgrad.autograd.gradcheck import gradcheck

__all__ = [
    "Function", "backward", "grad", "sum_to", "gradcheck",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
]

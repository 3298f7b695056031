"""Finite-difference check of a function's analytical gradients (the test of every primitive)."""

from __future__ import annotations

import numpy as np

from deepgrad.autograd.engine import grad as _grad
from deepgrad.autograd.grad_mode import no_grad


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """Compare backward's Jacobian with central differences, for every input that requires grad.

    ``fn`` takes the tensors in ``inputs`` and returns a tensor or a tuple of tensors; only
    floating outputs are checked. Use float64 inputs: float32 differences are too coarse.
    """
    inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    wrt = [i for i, x in enumerate(inputs) if getattr(x, "requires_grad", False)]
    if not wrt:
        raise ValueError("gradcheck: no input requires grad")
    for i in wrt:
        if inputs[i].array.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 inputs")
    outputs = _float_outputs(fn(*inputs))
    for k, out in enumerate(outputs):
        analytical = _analytical(out, [inputs[i] for i in wrt])
        for j, i in enumerate(wrt):
            numerical = _numerical(fn, inputs, i, k, eps)
            bad = ~np.isclose(analytical[j], numerical, rtol=rtol, atol=atol, equal_nan=True)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                msg = (
                    f"gradcheck: Jacobian mismatch for output {k} w.r.t. input {i} at "
                    f"(output element {r}, input element {c}): backward gave "
                    f"{analytical[j][r, c]!r}, finite differences gave {numerical[r, c]!r} "
                    f"({int(bad.sum())} of {bad.size} entries differ)"
                )
                if raise_exception:
                    raise AssertionError(msg)
                return False
    return True


def _float_outputs(out) -> list:
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    return [o for o in outs if o.dtype.is_floating_point]


def _analytical(out, wrt) -> list:
    """One backward pass per output element gives the Jacobian row by row."""
    n = out.numel()
    jac = [np.zeros((n, x.numel())) for x in wrt]
    if not out.requires_grad:
        return jac
    for r in range(n):
        onehot = np.zeros(n)
        onehot[r] = 1.0
        grads = _grad(out, wrt, grad_outputs=onehot.reshape(out.shape), retain_graph=True,
                      allow_unused=True)
        for j, g in enumerate(grads):
            if g is not None:
                jac[j][r] = g.array.reshape(-1)
    return jac


@no_grad()
def _numerical(fn, inputs, i, k, eps) -> np.ndarray:
    """Central differences of output k w.r.t. every element of input i (x may be a view)."""
    x = inputs[i].array

    def f():
        return _float_outputs(fn(*inputs))[k].array.astype(np.float64).reshape(-1)

    jac = np.zeros((f().size, x.size))
    for c, idx in enumerate(np.ndindex(*x.shape)):
        orig = x[idx]
        x[idx] = orig + eps
        plus = f()
        x[idx] = orig - eps
        minus = f()
        x[idx] = orig
        jac[:, c] = (plus - minus) / (2 * eps)
    return jac

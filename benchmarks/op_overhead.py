"""Per-operation overhead: a chain of 1,000 small elementwise ops on a (64, 64) float32 tensor,
forward and backward. Small tensors make the framework's own cost per op dominate.

    python benchmarks/op_overhead.py
"""

from __future__ import annotations

import numpy as np
from harness import compare, report, try_import_torch

N_OPS = 1000
SHAPE = (64, 64)


def chain(x, w, n_ops: int):
    """Cycle through five cheap ops (tensor and scalar operands, two activations)."""
    y = x
    for _ in range(n_ops // 5):
        y = y * w
        y = y + w
        y = y.tanh()
        y = y * 0.5
        y = y.sigmoid()
    return y.sum()


def stepper(lib, x0, w0):
    """One forward+backward of the chain in lib (deepgrad or torch)."""
    x = lib.tensor(x0, requires_grad=True)
    w = lib.tensor(w0, requires_grad=True)

    def step():
        x.grad = w.grad = None
        chain(x, w, N_OPS).backward()

    return step


def main() -> dict:
    import deepgrad as dg

    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(SHAPE).astype(np.float32)
    w0 = rng.standard_normal(SHAPE).astype(np.float32)
    torch = try_import_torch()
    dg_s, torch_s = compare(stepper(dg, x0, w0), stepper(torch, x0, w0) if torch else None)
    return report(f"op overhead: {N_OPS} elementwise ops on {SHAPE} float32, forward+backward",
                  dg_s, torch_s)


if __name__ == "__main__":
    main()

"""Per-operation overhead: a chain of 1,000 small elementwise ops, forward and backward.

Three measurements, deepgrad against PyTorch in one run:
- on a (64, 64) float32 tensor (issue 2's benchmark): framework overhead plus the kernels;
- on a one-element tensor: the kernels cost next to nothing, so this is the framework's own
  cost per operation (recording the graph, dispatch, backward bookkeeping);
- the (64, 64) chain written by hand in NumPy, forward and backward, with no framework at all:
  the floor for any framework whose kernels are NumPy's.

    python benchmarks/op_overhead.py
"""

from __future__ import annotations

import numpy as np
from harness import best_time, compare, report, try_import_torch

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


def numpy_chain(x, w):
    """The same chain's forward and backward, by hand, in NumPy."""
    saved, y = [], x
    for _ in range(N_OPS // 5):
        a = y * w
        t = np.tanh(a + w)
        s = 1 / (1 + np.exp(-(t * 0.5)))
        saved.append((y, t, s))
        y = s
    g, gw = np.ones_like(y), np.zeros_like(w)
    for y, t, s in reversed(saved):
        g = g * s * (1 - s) * 0.5 * (1 - t * t)
        gw += g + g * y
        g = g * w
    return g, gw


def main() -> list:
    import deepgrad as dg

    rng = np.random.default_rng(0)
    torch = try_import_torch()
    results = []
    for shape in (SHAPE, (1,)):
        x0 = rng.standard_normal(shape).astype(np.float32)
        w0 = rng.standard_normal(shape).astype(np.float32)
        dg_s, torch_s = compare(stepper(dg, x0, w0), stepper(torch, x0, w0) if torch else None)
        results.append(report(f"op overhead: {N_OPS} elementwise ops on {shape} float32, "
                              "forward+backward", dg_s, torch_s))
        if shape == SHAPE:
            floor = best_time(lambda x0=x0, w0=w0: numpy_chain(x0, w0), repeat=15)
            print(f"  the same chain by hand in NumPy (no framework): {floor * 1e3:.3f} ms")
    return results


if __name__ == "__main__":
    main()

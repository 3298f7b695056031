"""Stochastic gradient descent, with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

import numpy as np

from deepgrad.backend import axpy, scal
from deepgrad.optim.optimizer import Optimizer, check_range, decayed_grad
from deepgrad.tensor import Tensor


class SGD(Optimizer):
    """``p -= lr * v`` with ``v = momentum * v + (1 - dampening) * g`` (``v = g`` at the first
    step), ``g = grad + weight_decay * p``; Nesterov uses ``g + momentum * v`` instead of v.

    Same arguments, defaults and maths as ``torch.optim.SGD``; ``foreach`` and ``fused`` are
    accepted and ignored.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        super()._check_options(options)
        check_range(self, options, [("lr", 0, None), ("momentum", 0, None),
                                    ("weight_decay", 0, None)])
        if options.get("nesterov") and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum > 0 and zero dampening, "
                             f"got momentum={options['momentum']}, "
                             f"dampening={options['dampening']}")

    def _update(self, group: dict) -> None:
        lr, momentum = float(group["lr"]), float(group["momentum"])
        dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
        nesterov, maximize = group["nesterov"], group["maximize"]
        for p in group["params"]:
            if p.grad is None:
                continue
            param = p.array
            s1, s2 = self._scratch.get(param, 2)
            g = decayed_grad(param, p.grad.array, weight_decay, maximize, s1)
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = Tensor._make(g.copy(order="K"), None)
                    buf = buf.array
                else:
                    buf = buf.array
                    scal(momentum, buf)
                    axpy(1 - dampening, g, buf, s2)
                g = np.add(g, np.multiply(buf, momentum, out=s2), out=s2) if nesterov else buf
            axpy(-lr, g, param, s2)

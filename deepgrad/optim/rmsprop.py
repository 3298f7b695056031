"""RMSprop: steps scaled by a moving root mean square of the gradient (centered, with momentum)."""

from __future__ import annotations

import numpy as np

from deepgrad.optim.optimizer import (
    Optimizer,
    check_range,
    decayed_grad,
    step_counter,
    zeros_state,
)


class RMSprop(Optimizer):
    """``v = alpha * v + (1 - alpha) * g**2``; ``p -= lr * g / (sqrt(v) + eps)``.

    ``centered`` subtracts the squared moving mean of g from v (a variance estimate);
    ``momentum`` accumulates ``b = momentum * b + g / (sqrt(v) + eps)`` and steps by
    ``lr * b``. Same arguments, defaults and maths as ``torch.optim.RMSprop``; ``foreach`` and
    ``capturable`` are accepted and ignored.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        super()._check_options(options)
        check_range(self, options, [("lr", 0, None), ("eps", 0, None), ("momentum", 0, None),
                                    ("weight_decay", 0, None), ("alpha", 0, None)])

    def _update(self, group: dict) -> None:
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
        centered, maximize = group["centered"], group["maximize"]
        for p, param, state in self._with_grads(group):
            if not state:
                state["step"] = step_counter()
                state["square_avg"] = zeros_state(param)
            state["step"].array += 1
            s1, s2 = self._scratch.get(param, 2)
            g = decayed_grad(param, p.grad.array, weight_decay, maximize, s1)
            square_avg = state["square_avg"].array
            square_avg *= alpha
            square_avg += np.multiply(np.multiply(g, g, out=s2), 1 - alpha, out=s2)
            if centered:
                if "grad_avg" not in state:
                    state["grad_avg"] = zeros_state(param)
                grad_avg = state["grad_avg"].array
                grad_avg += np.multiply(np.subtract(g, grad_avg, out=s2), 1 - alpha, out=s2)
                avg = np.subtract(square_avg, np.multiply(grad_avg, grad_avg, out=s2), out=s2)
                np.sqrt(avg, out=avg)
            else:
                avg = np.sqrt(square_avg, out=s2)
            avg += eps
            if momentum > 0:
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = zeros_state(param)
                buf = state["momentum_buffer"].array
                buf *= momentum
                buf += np.divide(g, avg, out=s2)
                param -= np.multiply(buf, lr, out=s2)
            else:
                param -= np.multiply(np.divide(g, avg, out=s2), lr, out=s2)

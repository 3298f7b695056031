"""Adadelta: steps sized by the ratio of moving RMS of past updates to that of gradients."""

from __future__ import annotations

import numpy as np

from deepgrad.optim.optimizer import (
    Optimizer,
    check_range,
    decayed_grad,
    step_counter,
    zeros_state,
)


class Adadelta(Optimizer):
    """``v = rho * v + (1 - rho) * g**2``; ``d = sqrt(u + eps) / sqrt(v + eps) * g``;
    ``u = rho * u + (1 - rho) * d**2``; ``p -= lr * d``.

    Same arguments, defaults and maths as ``torch.optim.Adadelta``; ``foreach`` and
    ``capturable`` are accepted and ignored.
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        super()._check_options(options)
        check_range(self, options, [("lr", 0, None), ("eps", 0, None), ("weight_decay", 0, None)])
        if "rho" in options and not 0.0 <= float(options["rho"]) <= 1.0:
            raise self._invalid("rho", options["rho"], "in [0, 1]")

    def _update(self, group: dict) -> None:
        lr, rho, eps = float(group["lr"]), float(group["rho"]), float(group["eps"])
        weight_decay, maximize = float(group["weight_decay"]), group["maximize"]
        for p, param, state in self._with_grads(group):
            if not state:
                state["step"] = step_counter()
                state["square_avg"] = zeros_state(param)
                state["acc_delta"] = zeros_state(param)
            state["step"].array += 1
            s1, s2, delta = self._scratch.get(param, 3)
            g = decayed_grad(param, p.grad.array, weight_decay, maximize, s1)
            square_avg, acc_delta = state["square_avg"].array, state["acc_delta"].array
            square_avg *= rho
            square_avg += np.multiply(np.multiply(g, g, out=s2), 1 - rho, out=s2)
            std = np.sqrt(np.add(square_avg, eps, out=s2), out=s2)
            np.sqrt(np.add(acc_delta, eps, out=delta), out=delta)
            delta /= std
            delta *= g
            acc_delta *= rho
            acc_delta += np.multiply(np.multiply(delta, delta, out=s2), 1 - rho, out=s2)
            param -= np.multiply(delta, lr, out=delta)

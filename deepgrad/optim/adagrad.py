"""Adagrad: per-coordinate steps shrinking with the sum of all squared gradients so far."""

from __future__ import annotations

import numpy as np

from deepgrad.optim.optimizer import Optimizer, check_range, decayed_grad, step_counter
from deepgrad.tensor import Tensor


class Adagrad(Optimizer):
    """``s += g**2``; ``p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)``.

    Same arguments, defaults and maths as ``torch.optim.Adagrad``, and like it the state (step
    and ``sum``, filled with ``initial_accumulator_value``) exists from construction on.
    ``foreach`` and ``fused`` are accepted and ignored.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        super()._check_options(options)
        check_range(self, options, [("lr", 0, None), ("lr_decay", 0, None),
                                    ("weight_decay", 0, None), ("eps", 0, None),
                                    ("initial_accumulator_value", 0, None)])

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            self._init_state(p, group)

    def _init_state(self, p: Tensor, group: dict) -> dict:
        state = self.state[p]
        state["step"] = step_counter()
        state["sum"] = Tensor._make(np.full_like(p.array, group["initial_accumulator_value"]),
                                    None)
        return state

    def _update(self, group: dict) -> None:
        lr, lr_decay, eps = float(group["lr"]), float(group["lr_decay"]), float(group["eps"])
        weight_decay, maximize = float(group["weight_decay"]), group["maximize"]
        for p, param, state in self._with_grads(group):
            state = state or self._init_state(p, group)
            counter = state["step"].array
            counter += 1
            clr = lr / (1 + (float(counter) - 1) * lr_decay)
            s1, s2 = self._scratch.get(param, 2)
            g = decayed_grad(param, p.grad.array, weight_decay, maximize, s1)
            total = state["sum"].array
            total += np.multiply(g, g, out=s2)
            std = np.sqrt(total, out=s2)
            std += eps
            param -= np.multiply(np.divide(g, std, out=s2), clr, out=s2)

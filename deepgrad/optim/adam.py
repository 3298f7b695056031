"""Adam (with AMSGrad) and AdamW, its variant with decoupled weight decay."""

from __future__ import annotations

import numpy as np

from deepgrad.backend import axpy, scal
from deepgrad.optim.optimizer import (
    Optimizer,
    check_range,
    decayed_grad,
    step_counter,
    zeros_state,
)


class Adam(Optimizer):
    """Adam: ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` with bias-corrected moving averages
    ``m`` of the gradient and ``v`` of its square (AMSGrad: the running maximum of v).

    Same arguments, defaults and maths as ``torch.optim.Adam``: ``weight_decay`` adds
    ``weight_decay * p`` to the gradient, unless ``decoupled_weight_decay`` (AdamW) shrinks
    p by ``1 - lr * weight_decay`` first. ``foreach``, ``capturable`` and ``fused`` are
    accepted and ignored.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_options(self, options: dict) -> None:
        super()._check_options(options)
        check_range(self, options, [("lr", 0, None), ("eps", 0, None), ("weight_decay", 0, None)])
        betas = options.get("betas")
        if betas is None:
            return
        if len(betas) != 2:
            raise self._invalid("betas", betas, "a pair (beta1, beta2)")
        for i, beta in enumerate(betas):
            if not 0.0 <= float(beta) < 1.0:
                raise self._invalid(f"beta parameter at index {i}", beta, "in [0, 1)")

    def _update(self, group: dict) -> None:
        lr, eps = float(group["lr"]), float(group["eps"])
        weight_decay = float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        amsgrad, maximize = group["amsgrad"], group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        for p, param, state in self._with_grads(group):
            if not state:
                state["step"] = step_counter()
                state["exp_avg"] = zeros_state(param)
                state["exp_avg_sq"] = zeros_state(param)
                if amsgrad:
                    state["max_exp_avg_sq"] = zeros_state(param)
            s1, s2, s3 = self._scratch.get(param, 3)
            counter = state["step"].array
            counter += 1
            step = float(counter)
            if decoupled and weight_decay:
                param *= 1 - lr * weight_decay
                g = decayed_grad(param, p.grad.array, 0, maximize, s1)
            else:
                g = decayed_grad(param, p.grad.array, weight_decay, maximize, s1)
            m, v = state["exp_avg"].array, state["exp_avg_sq"].array
            # m = beta1 m + (1 - beta1) g and v = beta2 v + (1 - beta2) g^2, in place (BLAS)
            scal(beta1, m)
            axpy(1 - beta1, g, m, s3)
            scal(beta2, v)
            axpy(1 - beta2, np.multiply(g, g, out=s2), v, s3)
            if amsgrad:
                v = np.maximum(state["max_exp_avg_sq"].array, v,
                               out=state["max_exp_avg_sq"].array)
            # p -= lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps)
            denom = np.sqrt(v, out=s2)
            scal(1 / (1 - beta2 ** step) ** 0.5, denom)
            denom += eps
            axpy(-lr / (1 - beta1 ** step), np.divide(m, denom, out=s2), param, s3)


class AdamW(Adam):
    """Adam with decoupled weight decay (``p *= 1 - lr * weight_decay`` before the Adam step),
    as ``torch.optim.AdamW``; note the default ``weight_decay=1e-2``."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)

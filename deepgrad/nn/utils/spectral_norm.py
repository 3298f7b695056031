"""Spectral normalization (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
Networks"): a layer's weight is divided by its largest singular value, so the layer is at most
1-Lipschitz. In a GAN's discriminator this bounds how sharply D can change, which keeps its
gradients useful to the generator.

PyTorch's ``torch.nn.utils.spectral_norm`` semantics: the parameter ``weight`` becomes
``weight_orig``; buffers ``weight_u`` and ``weight_v`` hold the singular vector estimates; a
forward pre-hook recomputes ``weight = weight_orig / sigma`` before every call, with
sigma = u^T W v. In training mode the hook first refines u and v by ``n_power_iterations`` steps
of the power method (one per call is enough, as the weights move slowly); in eval mode it uses
them as they are. sigma carries gradient to ``weight_orig``; u and v are constants.
"""

from __future__ import annotations

import numpy as np

from deepgrad.autograd import no_grad
from deepgrad.nn.modules.conv import _ConvTranspose
from deepgrad.nn.modules.module import Module, Parameter
from deepgrad.ops.creation import randn
from deepgrad.tensor import Tensor

__all__ = ["spectral_norm", "remove_spectral_norm"]


class SpectralNorm:
    """The forward pre-hook that ``spectral_norm`` installs on a module."""

    def __init__(self, name: str, n_power_iterations: int, dim: int, eps: float) -> None:
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def matrix(self, weight: Tensor) -> Tensor:
        """The weight as a matrix with ``dim`` as rows."""
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u, v = getattr(module, self.name + "_u"), getattr(module, self.name + "_v")
        matrix = self.matrix(weight)
        if do_power_iteration:
            w = matrix.detach().numpy()
            for _ in range(self.n_power_iterations):  # in place: the buffers keep the estimate
                v.array[...] = _normalize(w.T @ u.array, self.eps)
                u.array[...] = _normalize(w @ v.array, self.eps)
        u_c, v_c = Tensor._make(u.array.copy(), None), Tensor._make(v.array.copy(), None)
        sigma = (u_c * (matrix @ v_c)).sum()
        return weight / sigma

    def __call__(self, module: Module, args) -> None:
        setattr(module, self.name, self.compute_weight(module, module.training))


def _normalize(x: np.ndarray, eps: float) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), eps)


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:
    """Divide ``module.<name>`` by its spectral norm before every forward call; returns the
    module.

    ``dim`` is the weight dimension that indexes the matrix's rows: 0 by default, 1 for
    transposed convolutions (their output channels). ``n_power_iterations`` power-method steps
    refine the singular vectors per training-mode call.
    """
    if isinstance(module, Module) and any(isinstance(h, SpectralNorm) and h.name == name
                                          for h in module._forward_pre_hooks.values()):
        raise RuntimeError(f"spectral_norm: {name!r} of {type(module).__name__} is already "
                           "spectrally normalized")
    weight = module._parameters.get(name) if isinstance(module, Module) else None
    if weight is None:
        raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter {name!r}")
    if not isinstance(n_power_iterations, int) or n_power_iterations < 0:
        raise ValueError("spectral_norm: n_power_iterations must be a non-negative int, got "
                         f"{n_power_iterations!r}")
    if dim is None:
        dim = 1 if isinstance(module, _ConvTranspose) else 0
    if not -weight.ndim <= dim < weight.ndim:
        raise ValueError(f"spectral_norm: dim {dim} is out of range for a weight of shape "
                         f"{tuple(weight.shape)}")
    hook = SpectralNorm(name, n_power_iterations, dim % weight.ndim, eps)
    h, w = hook.matrix(weight.detach()).shape
    with no_grad():
        u = Tensor._make(_normalize(randn(h, dtype=weight.dtype).numpy(), eps), None)
        v = Tensor._make(_normalize(randn(w, dtype=weight.dtype).numpy(), eps), None)
    delattr(module, name)
    module.register_parameter(name + "_orig", weight)
    setattr(module, name, weight.detach())
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    module.register_forward_pre_hook(hook)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo ``spectral_norm``: ``name`` becomes a plain parameter holding the normalized weight
    (with the current singular vector estimates)."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, SpectralNorm) and hook.name == name:
            with no_grad():
                weight = hook.compute_weight(module, do_power_iteration=False)
            del module._forward_pre_hooks[key]
            for suffix in ("_orig", "_u", "_v"):
                delattr(module, name + suffix)
            delattr(module, name)
            module.register_parameter(name, Parameter(weight.detach().numpy().copy()))
            return module
    raise ValueError(f"remove_spectral_norm: spectral_norm of {name!r} not found in "
                     f"{type(module).__name__}")

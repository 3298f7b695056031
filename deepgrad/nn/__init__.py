"""Neural networks: layers, losses and initializers built on deepgrad's tensors."""

from deepgrad.nn import functional

__all__ = ["functional"]

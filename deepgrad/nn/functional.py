"""Stateless neural-network functions (``deepgrad.nn.functional``, imported as ``F``)."""

from __future__ import annotations

from deepgrad.ops.elementwise import relu, sigmoid, tanh
from deepgrad.ops.shape import pad

__all__ = ["pad", "relu", "sigmoid", "tanh"]

"""Optimizers that update parameters from their gradients."""

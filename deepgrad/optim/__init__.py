"""Optimizers that update parameters from their gradients, and learning-rate schedules."""

from deepgrad.optim import lr_scheduler
from deepgrad.optim.optimizer import *

"""Optimizers that update parameters from their gradients, and learning-rate schedules."""

from deepgrad.optim import lr_scheduler, swa_utils
from deepgrad.optim.adadelta import Adadelta
from deepgrad.optim.adagrad import Adagrad
from deepgrad.optim.adam import Adam, AdamW
from deepgrad.optim.optimizer import Optimizer
from deepgrad.optim.rmsprop import RMSprop
from deepgrad.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "lr_scheduler",
           "swa_utils"]

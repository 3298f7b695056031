"""Neural networks: modules, layers, losses and initializers built on deepgrad's tensors."""

from deepgrad.nn import functional, init, utils
from deepgrad.nn.modules import *

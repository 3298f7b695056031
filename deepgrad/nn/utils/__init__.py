"""Utilities for training networks: gradient clipping, spectral normalization and
variable-length sequence batches."""

from deepgrad.nn.utils import rnn
from deepgrad.nn.utils.clip_grad import *
from deepgrad.nn.utils.spectral_norm import *

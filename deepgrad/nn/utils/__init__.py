"""Utilities for training networks: gradient clipping and variable-length sequence batches."""

from deepgrad.nn.utils import rnn
from deepgrad.nn.utils.clip_grad import *

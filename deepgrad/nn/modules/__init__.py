"""Layers as modules (``deepgrad.nn.Linear``, ...), one file per family."""

from deepgrad.nn.modules.activation import *
from deepgrad.nn.modules.container import *
from deepgrad.nn.modules.conv import *
from deepgrad.nn.modules.dropout import *
from deepgrad.nn.modules.linear import *
from deepgrad.nn.modules.loss import *
from deepgrad.nn.modules.module import *
from deepgrad.nn.modules.normalization import *
from deepgrad.nn.modules.pooling import *
from deepgrad.nn.modules.rnn import *
from deepgrad.nn.modules.sparse import *
from deepgrad.nn.modules.upsampling import *

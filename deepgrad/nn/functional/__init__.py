"""Stateless neural-network functions (``deepgrad.nn.functional``, imported as ``F``).

Grouped by family, one module each; everything is re-exported here.
"""

from deepgrad.nn.functional.activation import *
from deepgrad.nn.functional.conv import *
from deepgrad.nn.functional.dropout import *
from deepgrad.nn.functional.linear import *
from deepgrad.nn.functional.loss import *
from deepgrad.nn.functional.normalization import *
from deepgrad.nn.functional.pooling import *
from deepgrad.nn.functional.sparse import *
from deepgrad.nn.functional.upsampling import *
from deepgrad.ops.shape import pad

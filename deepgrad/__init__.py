"""deepgrad: a deep learning framework that shows how deep learning works, and trains for real.

    import deepgrad as dg
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad  # tensor([2., 4., 6.])
"""

from deepgrad import autograd, backend, data, models, nn, optim, train
from deepgrad.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from deepgrad.backend import bool_ as bool  # noqa: A001  (deepgrad.bool, as torch.bool)
from deepgrad.backend import (
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    get_num_threads,
    int8,
    int16,
    int32,
    int64,
    manual_seed,
    set_default_dtype,
    set_num_threads,
    uint8,
)
from deepgrad.ops import *  # noqa: F403
from deepgrad.serialization import *  # noqa: F403
from deepgrad.tensor import Tensor

half, float, double, long, int, short = float16, float32, float64, int64, int32, int16  # noqa: A001

__version__ = "0.1.0"

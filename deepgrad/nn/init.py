"""Weight initializers (``deepgrad.nn.init``), with PyTorch's names, arguments and distributions.

Each ``*_`` function fills ``tensor`` in place (straight into ``tensor.array``, so no graph is
recorded, as PyTorch does under ``no_grad``) and returns it. Random draws come from deepgrad's
seeded generator (``deepgrad.manual_seed``) unless a NumPy ``generator`` is passed.

Why the scale matters: a layer ``y = W x`` with ``fan_in`` inputs multiplies the variance of its
input by ``fan_in * Var(W)``. Unless that factor is about 1 (adjusted by the activation's gain),
signals and gradients shrink or explode exponentially with depth. Glorot (xavier) keeps it near 1
for roughly linear activations (tanh, sigmoid, softmax), He (kaiming) doubles it for ReLU-like ones
that zero half their inputs, LeCun uses ``1 / fan_in`` for self-normalising SELU networks.
``init_for_activation`` picks the right one from the activation.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from deepgrad import backend
from deepgrad.tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
    "eye_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "orthogonal_", "init_for_activation",
]

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d",
               "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which to scale a weight's std so that the activation keeps the variance.

    linear, conv*, sigmoid: 1; tanh: 5/3; relu: sqrt(2); leaky_relu: sqrt(2 / (1 + slope^2))
    (``param`` is the negative slope, default 0.01); selu: 3/4 (for self-normalising networks use
    ``'linear'``, which gives LeCun's variance 1 / fan_in).
    """
    if nonlinearity in _LINEAR_FNS:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            param = 0.01
        elif isinstance(param, bool) or not isinstance(param, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + param**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of "
        f"{[*_LINEAR_FNS, 'tanh', 'relu', 'leaky_relu', 'selu']}"
    )


# -- helpers ------------------------------------------------------------------------------------
def _check(tensor, fn: str, floating: bool = False) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{fn}: expected a deepgrad Tensor, got {type(tensor).__name__}")
    if floating and not tensor.is_floating_point():
        raise TypeError(f"{fn}: needs a floating point tensor, got {tensor.dtype}")


def _fill(tensor: Tensor, values) -> Tensor:
    """Write values into the tensor's own array (keeping its dtype and every alias of it)."""
    tensor.array[...] = values
    return tensor


def _rng(generator, fn: str) -> np.random.Generator:
    if generator is None:
        return backend.rng()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"{fn}: generator must be a numpy.random.Generator, got {type(generator).__name__}"
        )
    return generator


def _draw_dtype(tensor: Tensor):
    """The generator draws float32 or float64 only; other floats are cast from float32."""
    return np.float64 if tensor.array.dtype == np.float64 else np.float32


def _calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel): in * k and out * k."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, "
            f"got shape {shape}"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


# -- fills --------------------------------------------------------------------------------------
def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with draws from U(a, b)."""
    _check(tensor, "uniform_", floating=True)
    u = _rng(generator, "uniform_").random(tensor.shape, dtype=_draw_dtype(tensor))
    return _fill(tensor, a + (b - a) * u)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with draws from N(mean, std^2)."""
    _check(tensor, "normal_", floating=True)
    z = _rng(generator, "normal_").standard_normal(tensor.shape, dtype=_draw_dtype(tensor))
    return _fill(tensor, mean + std * z)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator=None) -> Tensor:
    """Fill with draws from N(mean, std^2) conditioned on [a, b] (a and b are values, not stds)."""
    _check(tensor, "trunc_normal_", floating=True)
    if not std > 0 or not a < b:
        raise ValueError(f"trunc_normal_: needs std > 0 and a < b, got std={std}, a={a}, b={b}")
    gen = _rng(generator, "trunc_normal_")
    z = _truncated_standard_normal(tensor.numel(), (a - mean) / std, (b - mean) / std, gen)
    values = (mean + std * z).astype(tensor.array.dtype).reshape(tensor.shape)
    return _fill(tensor, np.clip(values, a, b))  # rounding to float32 must not cross a bound


def _truncated_standard_normal(n: int, lo: float, hi: float, gen) -> np.ndarray:
    """n draws of N(0, 1) conditioned on [lo, hi], by rejection sampling (Robert, 1995).

    Each round proposes values for the draws still missing and keeps those accepted with
    probability density / (M * proposal density). The proposal is chosen so that at least about a
    third is accepted wherever [lo, hi] lies: N(0, 1) for wide intervals around 0, a uniform for
    short ones, a shifted exponential for far tails (where N(0, 1) draws would almost never land).
    """
    if hi <= 0:  # a left tail is a mirrored right tail
        return -_truncated_standard_normal(n, -hi, -lo, gen)
    rate = (lo + math.sqrt(lo * lo + 4)) / 2  # the best exponential rate for the tail at lo

    def propose(m: int) -> np.ndarray:
        if lo <= 0 and hi - lo >= math.sqrt(2 * math.pi):
            z = gen.standard_normal(m)
            return z[(z >= lo) & (z <= hi)]
        u = gen.random(m)
        if lo <= 0:
            z = gen.uniform(lo, hi, m)
            return z[u < np.exp(-z * z / 2)]
        if (hi - lo) * rate < 1:
            z = gen.uniform(lo, hi, m)
            return z[u < np.exp((lo * lo - z * z) / 2)]
        z = lo + gen.exponential(1 / rate, m)
        return z[(u < np.exp(-((z - rate) ** 2) / 2)) & (z <= hi)]

    out = np.empty(n)
    done = 0
    while done < n:
        z = propose(n - done)
        out[done:done + z.size] = z
        done += z.size
    return out


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with the value ``val``."""
    _check(tensor, "constant_")
    return _fill(tensor, val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return constant_(tensor, 1)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return constant_(tensor, 0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity (ones on the diagonal), so a linear layer passes its
    inputs through unchanged."""
    _check(tensor, "eye_")
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape))


# -- scaled by the fans -------------------------------------------------------------------------
def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot & Bengio (2010): U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out))."""
    _check(tensor, "xavier_uniform_", floating=True)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot & Bengio (2010): N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check(tensor, "xavier_normal_", floating=True)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity, fn: str) -> float | None:
    """He's std = gain / sqrt(fan), or None (with a warning) for an empty tensor."""
    _check(tensor, fn, floating=True)
    if tensor.numel() == 0:
        warnings.warn(f"{fn}: initializing a zero-element tensor is a no-op", stacklevel=3)
        return None
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He et al. (2015): U(-bound, bound), bound = gain * sqrt(3 / fan).

    ``a`` is the negative slope of a leaky_relu; mode 'fan_in' keeps the forward variance,
    'fan_out' the backward one.
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He et al. (2015): N(0, std^2), std = gain / sqrt(fan); arguments as ``kaiming_uniform_``."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    return tensor if std is None else normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator=None) -> Tensor:
    """Saxe et al. (2013): a (semi-)orthogonal matrix, uniformly distributed, times ``gain``.

    The tensor is viewed as (shape[0], rest); its rows (or columns, if fewer) are orthonormal, so
    it preserves the norm of every signal it maps, however deep the stack.
    """
    _check(tensor, "orthogonal_", floating=True)
    if tensor.ndim < 2:
        raise ValueError(
            f"orthogonal_: only tensors with 2 or more dimensions are supported, "
            f"got shape {tensor.shape}"
        )
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(generator, "orthogonal_").standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)  # fix QR's sign choice: makes q uniform (Haar)
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))


# -- choosing by activation ---------------------------------------------------------------------
# activation (lower case, no underscores) -> (scheme, the nonlinearity whose gain it uses)
_SCHEMES = {
    "relu": ("he", "relu"), "leakyrelu": ("he", "leaky_relu"), "elu": ("he", "relu"),
    "gelu": ("he", "relu"), "silu": ("he", "relu"),
    "tanh": ("glorot", "tanh"), "sigmoid": ("glorot", "sigmoid"), "linear": ("glorot", "linear"),
    "identity": ("glorot", "linear"), "softmax": ("glorot", "linear"),
    "selu": ("lecun", "linear"),
}
_DEFAULT_DISTRIBUTION = {"he": "normal", "glorot": "uniform", "lecun": "normal"}


def init_for_activation(target, activation, distribution: str | None = None, generator=None):
    """Initialize a weight (or every weight of a module) for the activation that follows it.

    The scale of the initial weights decides whether signals and gradients keep their variance
    through the layers or vanish/explode with depth, and the right scale depends on the
    activation (see the module docstring):

    - relu, leaky_relu, elu, gelu, silu: He (kaiming, ``fan_in``), std = gain / sqrt(fan_in) with
      relu's gain sqrt(2) (leaky_relu's from its negative slope): these zero or shrink about half
      of their inputs, halving the variance, which the factor 2 restores. Normal by default.
    - tanh, sigmoid, linear/identity, softmax: Glorot (xavier), std = gain * sqrt(2 / (fan_in +
      fan_out)), which balances forward and backward variance for activations that are about
      linear near 0; gain from ``calculate_gain`` (tanh: 5/3, else 1). Uniform by default.
    - selu: LeCun normal, std = 1 / sqrt(fan_in), the fixed point of self-normalising networks.

    ``target`` is a tensor, or anything with ``named_parameters()`` (a module): then every
    parameter with 2 or more dimensions is initialized and every parameter named ``bias`` is
    zeroed (1-D weights, such as a norm layer's scale, are left alone). ``activation`` is a name
    ('relu', 'leaky_relu', ...), an activation module (``nn.LeakyReLU(0.2)``, whose
    ``negative_slope`` is used) or a function (``F.relu``). ``distribution`` ('normal' or
    'uniform') overrides the scheme's usual one. Returns ``target``.
    """
    name = activation if isinstance(activation, str) else getattr(
        activation, "__name__", type(activation).__name__)
    key = name.lower().replace("_", "")
    if key not in _SCHEMES:
        raise ValueError(
            f"init_for_activation: unknown activation {name!r}; use one of "
            "relu, leaky_relu, elu, gelu, silu, tanh, sigmoid, linear, identity, softmax, selu"
        )
    scheme, nonlinearity = _SCHEMES[key]
    distribution = distribution or _DEFAULT_DISTRIBUTION[scheme]
    if distribution not in ("normal", "uniform"):
        raise ValueError(
            f"init_for_activation: distribution must be 'normal' or 'uniform', got {distribution!r}"
        )
    normal = distribution == "normal"
    slope = getattr(activation, "negative_slope", 0.01)

    def init(weight: Tensor) -> None:
        if scheme == "glorot":
            fill = xavier_normal_ if normal else xavier_uniform_
            fill(weight, calculate_gain(nonlinearity), generator)
        else:
            fill = kaiming_normal_ if normal else kaiming_uniform_
            fill(weight, slope, "fan_in", nonlinearity, generator)

    if isinstance(target, Tensor):
        init(target)
        return target
    if not hasattr(target, "named_parameters"):
        raise TypeError(
            f"init_for_activation: expected a Tensor or a module, got {type(target).__name__}"
        )
    for pname, param in target.named_parameters():
        if param.ndim >= 2:
            init(param)
        elif pname.rsplit(".", 1)[-1] == "bias":
            zeros_(param)
    return target

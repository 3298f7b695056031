"""``interpolate`` (nearest, linear, bilinear) and its deprecated alias ``upsample``, with
PyTorch's signatures and sampling formulas. The primitive lives in ``deepgrad/ops/sampling.py``."""

from __future__ import annotations

import math
import numbers
import warnings

from deepgrad.ops import sampling as _sampling
from deepgrad.tensor import Tensor

__all__ = ["interpolate", "upsample"]

_LINEAR = {"linear": 3, "bilinear": 4}  # mode: the input ndim it needs


def _per_axis(value, n: int, name: str) -> tuple:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(values) != n:
        raise ValueError(f"interpolate: {name} {value!r} must have one entry per spatial "
                         f"dimension ({n})")
    return values


def _sizes(input: Tensor, size, scale_factor, recompute_scale_factor) -> tuple:
    """Output sizes and the scales the kernels use (None: in/out)."""
    n = input.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor, got "
                         f"size={size!r}, scale_factor={scale_factor!r}")
    if size is not None:
        out = _per_axis(size, n, "size")
        if not all(isinstance(s, numbers.Integral) and s > 0 for s in out):
            raise ValueError(f"interpolate: size must hold positive ints, got {size!r}")
        return tuple(int(s) for s in out), (None,) * n
    scales = tuple(float(s) for s in _per_axis(scale_factor, n, "scale_factor"))
    if not all(s > 0 for s in scales):
        raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor!r}")
    out = tuple(math.floor(m * s) for m, s in zip(input.shape[2:], scales))
    if min(out) < 1:
        raise ValueError(f"interpolate: scale_factor {scale_factor!r} gives the empty output "
                         f"size {out} for input of shape {tuple(input.shape)}")
    return out, (None,) * n if recompute_scale_factor else scales


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims of (N, C, *spatial) input to size, or by scale_factor.

    'nearest' (1 to 3 spatial dims) copies x[floor(dst * in/out)]; 'linear' (N, C, L) and
    'bilinear' (N, C, H, W) interpolate between the two nearest samples, with pixel centres
    aligned (align_corners=False, the default) or the corner samples aligned (True).
    """
    if mode not in ("nearest", *_LINEAR):
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported; use "
                                  f"'nearest', 'linear' or 'bilinear'")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners can only be set with the interpolating "
                         "modes 'linear' and 'bilinear'")
    if not 3 <= input.ndim <= 5 or mode in _LINEAR and input.ndim != _LINEAR[mode]:
        need = f"{_LINEAR[mode]}-d" if mode in _LINEAR else "3-d to 5-d"
        raise ValueError(f"interpolate: mode {mode!r} needs a {need} input (N, C, *spatial), "
                         f"got shape {tuple(input.shape)}")
    if input.array.dtype.kind != "f":
        raise TypeError(f"interpolate: needs a floating point input, got {input.dtype}")
    out, scales = _sizes(input, size, scale_factor, recompute_scale_factor)
    if mode == "nearest":
        plans = tuple(("nearest", _sampling.nearest_indices(m, o, s))
                      for m, o, s in zip(input.shape[2:], out, scales))
    else:
        plans = tuple(("linear",) + _sampling.linear_weights(m, o, s, bool(align_corners),
                                                             input.array.dtype)
                      for m, o, s in zip(input.shape[2:], out, scales))
    return _sampling.Resample.apply(input, plans=plans)


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """Deprecated alias of interpolate (as in PyTorch)."""
    warnings.warn("nn.functional.upsample is deprecated. Use nn.functional.interpolate "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)

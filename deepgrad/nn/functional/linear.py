"""``linear``, the affine map of a fully connected layer (``input @ weight.T + bias``), and
``bilinear``, its two-input form."""

from __future__ import annotations

from deepgrad.ops.linalg import Linear
from deepgrad.tensor import Tensor

__all__ = ["linear", "bilinear"]


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias`` over the last dim of input, as one fused primitive.

    input (..., in_features), weight (out_features, in_features), bias (out_features,).
    All must share one dtype: a float64 batch into a float32 layer is an error, not an upcast.
    """
    if not _fits(input, weight, bias):
        _check(input, weight, bias)
    if bias is None:
        return Linear.apply(input, weight)
    return Linear.apply(input, weight, bias)


def _fits(input, weight, bias) -> bool:
    """The quick test of the usual case; ``_check`` says what is wrong otherwise."""
    if not (isinstance(input, Tensor) and isinstance(weight, Tensor)):
        return False
    x, w = input.array, weight.array
    if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1] or x.dtype != w.dtype \
            or x.dtype.kind != "f":
        return False
    if bias is None:
        return True
    return isinstance(bias, Tensor) and bias.array.shape == w.shape[:1] \
        and bias.array.dtype == x.dtype


def _check(input, weight, bias) -> None:
    """Raise the error that says what ``_fits`` rejected."""
    for name, t in (("input", input), ("weight", weight), ("bias", bias)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"linear: {name} must be a Tensor, got {type(t).__name__}")
    if weight.ndim != 2:
        raise RuntimeError(f"linear: weight must be 2-D (out_features, in_features), got shape "
                           f"{weight.shape}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise RuntimeError(
            f"linear: input has shape {input.shape} and weight has shape {weight.shape}; the "
            f"input's last dim must equal in_features ({weight.shape[1]})"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise RuntimeError(f"linear: bias has shape {bias.shape}, expected ({weight.shape[0]},) "
                           f"for weight of shape {weight.shape}")
    dt = input.array.dtype
    if weight.array.dtype != dt or (bias is not None and bias.array.dtype != dt):
        described = ", ".join(f"{name} {t.dtype.name}" for name, t in
                              (("input", input), ("weight", weight), ("bias", bias))
                              if t is not None)
        raise RuntimeError(f"linear: expected one dtype, got {described}; cast the input "
                           "(x.float()) or the layer (layer.double())")
    if dt.kind != "f":
        raise RuntimeError(f"linear: expected floating point tensors, got {input.dtype}")


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None
             ) -> Tensor:
    """``y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o]``.

    One GEMM gives ``input1 @ weight`` for every output at once, (..., out, in2); a product
    with input2 and a sum over its last dim finish it.
    """
    if weight.ndim != 3 or input1.ndim == 0 or input1.shape[:-1] != input2.shape[:-1] or \
            (input1.shape[-1], input2.shape[-1]) != weight.shape[1:]:
        raise RuntimeError(
            f"bilinear: input1 {input1.shape} and input2 {input2.shape} must share their leading "
            f"dims and end in in1_features, in2_features of weight {weight.shape} "
            "(out_features, in1_features, in2_features)"
        )
    dtypes = {t.dtype.name for t in (input1, input2, weight, bias) if t is not None}
    if len(dtypes) > 1:
        raise RuntimeError(f"bilinear: expected one dtype for inputs, weight and bias, got "
                           f"{sorted(dtypes)}")
    out, in1, in2 = weight.shape
    mixed = input1 @ weight.permute(1, 0, 2).reshape(in1, out * in2)
    y = (mixed.unflatten(-1, (out, in2)) * input2.unsqueeze(-2)).sum(-1)
    return y if bias is None else y + bias

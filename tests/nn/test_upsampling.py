"""interpolate / upsample / Upsample: gradcheck and torch oracle for every mode and option,
reprs, errors."""

import warnings

import numpy as np
import pytest
from harness import Case, OpSpec, assert_same, make_tests, optional_torch

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn

torch = optional_torch()
TF = torch.nn.functional if torch else None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

X = (2, 3, 4, 5)


def cases(mode: str, shape: tuple, corners: tuple) -> list:
    out = []
    for align in corners:
        extra = {} if align is None else {"align_corners": align}
        out += [
            Case(shape, mode=mode, scale_factor=2, **extra),
            Case(shape, mode=mode, size=tuple(2 * n + 1 for n in shape[2:]), **extra),
            Case(shape, mode=mode, size=tuple(max(n - 2, 1) for n in shape[2:]), **extra),
            Case(shape, mode=mode, scale_factor=1.7, **extra),
            Case(shape, mode=mode, scale_factor=0.6, recompute_scale_factor=True, **extra),
            Case(shape, mode=mode, size=1, **extra),
        ]
        if len(shape) == 4:
            out.append(Case(shape, mode=mode, scale_factor=(1.5, 0.5), **extra))
    return out


SPECS = [
    OpSpec("interpolate", F.interpolate,
           cases("nearest", X, (None,)) + cases("nearest", (2, 3, 5), (None,))
           + cases("nearest", (1, 2, 3, 2, 3), (None,))[:2]
           + [Case((1, 2, 5), scale_factor=1.3),  # the scale is used, not out/in
              Case((1, 2, 5), mode="linear", scale_factor=2.1)]
           + cases("bilinear", X, (False, True)) + cases("linear", (2, 3, 5), (False, True)),
           torch_fn=lambda x, **kw: TF.interpolate(x, **kw), rtol=2e-5, atol=2e-6),
]
test_gradcheck, test_oracle = make_tests(SPECS)


@needs_torch
@pytest.mark.parametrize("kwargs", [
    dict(scale_factor=2), dict(scale_factor=(2, 3)), dict(size=(7, 3)),
    dict(scale_factor=2, mode="bilinear"), dict(size=(6, 9), mode="bilinear", align_corners=True),
    dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True),
])
def test_upsample_module_matches_torch(kwargs):
    ours, theirs = nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs)
    assert repr(ours) == repr(theirs)
    a = np.random.default_rng(0).standard_normal(X).astype(np.float32)
    x, t = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, ref = ours(x), theirs(t)
    assert_same(out, ref, 2e-5, 2e-6)
    w = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    (out * dg.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    assert_same(x.grad, t.grad, 2e-5, 2e-6)
    assert x.grad.dtype == dg.float32


def test_nearest_doubling_repeats_pixels_and_gradient_sums_them():
    x = dg.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], requires_grad=True)
    y = F.interpolate(x, scale_factor=2)
    np.testing.assert_array_equal(y.array[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4],
                                                  [3, 3, 4, 4]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.array, np.full((1, 1, 2, 2), 4.0))


def test_upsample_is_a_deprecated_alias():
    x = dg.randn(1, 2, 3, 3)
    with pytest.warns(UserWarning, match="upsample is deprecated"):
        y = F.upsample(x, scale_factor=2, mode="bilinear", align_corners=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    np.testing.assert_array_equal(y.array, ref.array)


@pytest.mark.parametrize("call, error, match", [
    (lambda x: F.interpolate(x), ValueError, "exactly one of size and scale_factor"),
    (lambda x: F.interpolate(x, size=4, scale_factor=2), ValueError, "exactly one"),
    (lambda x: F.interpolate(x, size=(4, 4, 4)), ValueError, r"one entry per spatial .*\(2\)"),
    (lambda x: F.interpolate(x, size=0), ValueError, "size must hold positive ints"),
    (lambda x: F.interpolate(x, scale_factor=0.1), ValueError, r"empty output size \(0, 0\)"),
    (lambda x: F.interpolate(x, scale_factor=2, align_corners=True), ValueError,
     "align_corners can only be set"),
    (lambda x: F.interpolate(x, scale_factor=2, mode="bicubic"), NotImplementedError,
     "'bicubic' is not supported"),
    (lambda x: F.interpolate(x[0], scale_factor=2, mode="bilinear"), ValueError,
     r"'bilinear' needs a 4-d input .* got shape \(3, 4, 5\)"),
    (lambda x: F.interpolate(x[0, 0], scale_factor=2), ValueError, r"shape \(4, 5\)"),
    (lambda x: F.interpolate(x.long(), scale_factor=2), TypeError, "floating point"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(dg.randn(*X))


@needs_torch
@pytest.mark.parametrize("scale, expected", [(1.1, [0, 0, 1, 2, 3]),
                                             (2.1, [0, 0, 0, 1, 1, 2, 2, 3, 3, 4])])
def test_nearest_to_once_or_twice_the_size_follows_the_scale_like_torch(scale, expected):
    # torch's forward uses floor(dst / scale); its backward assumes out == in or out == 2 * in
    # means the identity or dst // 2 and disagrees with it, so compare the forward only
    a = np.arange(10.0, dtype=np.float32).reshape(1, 2, 5)
    ref = TF.interpolate(torch.tensor(a), scale_factor=scale)
    assert_same(F.interpolate(dg.tensor(a), scale_factor=scale), ref)
    np.testing.assert_array_equal(ref.numpy()[0, 0], expected)

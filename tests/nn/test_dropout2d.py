"""Channel dropout (dropout2d / Dropout2d): whole channels dropped, scaling, eval identity,
gradients, seeding, torch's conventions, errors."""

import numpy as np
import pytest
from harness import optional_torch

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn
from deepgrad.autograd import gradcheck

torch = optional_torch()
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_whole_channels_are_dropped_with_probability_p(p):
    dg.manual_seed(0)
    y = F.dropout2d(dg.ones(100, 60, 3, 4), p).array
    per_channel = y.reshape(100, 60, -1)
    # every channel is all zero or all 1/(1-p)
    assert (per_channel == per_channel[..., :1]).all()
    dropped = per_channel[..., 0] == 0
    assert abs(dropped.mean() - p) < 4 * np.sqrt(p * (1 - p) / dropped.size)
    np.testing.assert_allclose(per_channel[~dropped], 1 / (1 - p), rtol=1e-6)
    assert y.dtype == np.float32


def test_eval_mode_training_false_and_extreme_p():
    x = dg.randn(2, 3, 4, 4)
    assert F.dropout2d(x, 0.5, training=False) is x
    assert F.dropout2d(x, 0.0) is x
    assert not F.dropout2d(x, 1.0).array.any()
    layer = nn.Dropout2d(0.5)
    assert (layer(dg.ones(8, 8, 2, 2)).array == 0).any()
    layer.eval()
    np.testing.assert_array_equal(layer(x).array, x.array)


def test_gradient_is_the_channel_mask_and_float64_gradcheck():
    x = dg.randn(4, 5, 3, 3, requires_grad=True)
    y = F.dropout2d(x, 0.4)
    g = dg.randn(4, 5, 3, 3)
    y.backward(g)
    kept = y.array != 0
    np.testing.assert_allclose(x.grad.array[kept], g.array[kept] / 0.6, rtol=1e-6)
    assert not x.grad.array[~kept].any()
    assert x.grad.dtype == dg.float32

    x64 = dg.randn(2, 3, 2, 2, dtype=dg.float64, requires_grad=True)

    def fn(t):
        dg.manual_seed(5)  # the same mask at every evaluation
        return F.dropout2d(t, 0.3)

    assert fn(x64).dtype == dg.float64
    assert gradcheck(fn, (x64,))


def test_manual_seed_repeats_masks_and_inplace_writes_the_input():
    dg.manual_seed(7)
    a = F.dropout2d(dg.ones(4, 6, 2, 2)).array
    dg.manual_seed(7)
    b = dg.ones(4, 6, 2, 2)
    out = nn.Dropout2d(inplace=True)(b)
    assert out is b
    np.testing.assert_array_equal(a, b.array)


def test_three_d_input_drops_along_the_first_two_dims_with_a_warning():
    with pytest.warns(UserWarning, match="3D input to dropout2d"):
        y = F.dropout2d(dg.ones(6, 50, 7), 0.5).array
    assert (y == y[..., :1]).all() and (y == 0).any() and (y != 0).any()


@needs_torch
def test_repr_and_signature_match_torch():
    for args in [(), (0.3,), (0.2, True)]:
        assert repr(nn.Dropout2d(*args)) == repr(torch.nn.Dropout2d(*args))
    a = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    ref = torch.nn.functional.dropout2d(torch.tensor(a), 0.5, training=False)
    np.testing.assert_array_equal(F.dropout2d(dg.tensor(a), 0.5, training=False).array,
                                  ref.numpy())


def test_errors():
    with pytest.raises(ValueError, match=r"dropout2d: .* \[0, 1\], got 1.5"):
        F.dropout2d(dg.ones(2, 3, 4, 4), 1.5)
    with pytest.raises(ValueError, match=r"Dropout2d: .* got -0.1"):
        nn.Dropout2d(-0.1)
    with pytest.raises(ValueError, match=r"dropout2d: expected a \(N, C, H, W\) input, got "
                                         r"shape \(4,\)"):
        F.dropout2d(dg.ones(4))
    with pytest.raises(RuntimeError, match="dropout2d: expected a floating point input"):
        F.dropout2d(dg.ones(2, 3, 4, 4, dtype=dg.int64))
    with pytest.warns(UserWarning, match="Received a 5-D input"):
        F.dropout2d(dg.ones(1, 2, 2, 2, 2))

"""Inverted dropout: statistics, scaling, eval identity, gradients, seeding, errors."""

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn
from deepgrad.autograd import gradcheck


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_fraction_zeroed_is_p_and_kept_units_are_scaled(p):
    dg.manual_seed(0)
    x = dg.ones(200, 500)
    y = F.dropout(x, p).array
    dropped = y == 0
    n = y.size
    assert abs(dropped.mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[~dropped], 1 / (1 - p), rtol=1e-6)
    assert abs(y.mean() - 1) < 0.02  # the expected value is kept
    assert y.dtype == np.float32


def test_eval_mode_and_training_false_are_the_identity():
    x = dg.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    layer = nn.Dropout(0.5)
    assert layer.training and (layer(x).array == 0).any()
    layer.eval()
    np.testing.assert_array_equal(layer(x).array, x.array)
    model = nn.Sequential(nn.Linear(5, 5), nn.Dropout(0.9))
    model.eval()
    np.testing.assert_array_equal(model(x).array, model[0](x).array)


def test_gradient_flows_only_through_kept_units():
    x = dg.randn(6, 7, requires_grad=True)
    y = F.dropout(x, 0.4)
    g = dg.randn(6, 7)
    y.backward(g)
    kept = y.array != 0
    np.testing.assert_allclose(x.grad.array[kept], g.array[kept] / 0.6, rtol=1e-6)
    assert not x.grad.array[~kept].any()
    assert x.grad.dtype == dg.float32


def test_float64_stays_float64_and_gradcheck_with_a_fixed_mask():
    x = dg.randn(3, 4, dtype=dg.float64, requires_grad=True)

    def fn(t):
        dg.manual_seed(3)  # the same mask at every evaluation
        return F.dropout(t, 0.3)

    assert fn(x).dtype == dg.float64
    assert gradcheck(fn, (x,))


def test_manual_seed_makes_masks_repeatable():
    x = dg.ones(50, 50)
    dg.manual_seed(7)
    a = F.dropout(x, 0.5).array
    b = F.dropout(x, 0.5).array
    dg.manual_seed(7)
    np.testing.assert_array_equal(F.dropout(x, 0.5).array, a)
    assert not np.array_equal(a, b)


def test_p_one_drops_everything_and_bad_p_is_an_error():
    x = dg.randn(3, 3, requires_grad=True)
    y = F.dropout(x, 1.0)
    assert not y.array.any()
    y.sum().backward()
    assert not x.grad.array.any()
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout: .*got {bad}"):
            F.dropout(x, bad)
        with pytest.raises(ValueError, match=f"Dropout: .*got {bad}"):
            nn.Dropout(bad)
    with pytest.raises(RuntimeError, match="floating point.*int64"):
        F.dropout(dg.tensor([1, 2, 3]), 0.5)


def test_inplace_dropout():
    x = dg.randn(5, 5, requires_grad=True)
    h = x * 1
    y = F.dropout(h, 0.5, inplace=True)
    assert y is h and (h.array == 0).any()
    h.sum().backward()
    np.testing.assert_allclose(x.grad.array, (h.array != 0) * 2.0)
    with pytest.raises(RuntimeError, match="leaf"):
        F.dropout(x, 0.5, inplace=True)
    z = dg.ones(4, 4)
    nn.Dropout(0.5, inplace=True)(z)
    assert (z.array == 0).any()


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    for args in ((), (0.2,), (0.3, True)):
        assert repr(nn.Dropout(*args)) == repr(torch.nn.Dropout(*args))

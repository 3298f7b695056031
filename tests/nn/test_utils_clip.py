"""Gradient clipping and parameter vectors, against PyTorch."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deepgrad as dg  # noqa: E402
from deepgrad.nn.utils import (  # noqa: E402
    clip_grad_norm_,
    clip_grad_value_,
    get_total_norm,
    parameters_to_vector,
    vector_to_parameters,
)

SHAPES = [(3, 5), (5,), (2, 2, 2)]


def _pair(dtype=np.float32, seed=0, scale=1.0):
    """Parameters with gradients in both frameworks (the last one without a gradient)."""
    rng = np.random.default_rng(seed)
    values = [rng.normal(size=s).astype(dtype) for s in SHAPES + [(4,)]]
    grads = [(rng.normal(size=s) * scale).astype(dtype) for s in SHAPES]
    ps = [dg.tensor(v, requires_grad=True) for v in values]
    qs = [torch.tensor(v, requires_grad=True) for v in values]
    for p, q, g in zip(ps, qs, grads):
        p.grad, q.grad = dg.tensor(g.copy()), torch.tensor(g.copy())
    return ps, qs


def _assert_same_grads(ps, qs, rtol):
    for p, q in zip(ps, qs):
        if q.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad.array, q.grad.numpy(), rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, "inf", -math.inf, 0])
@pytest.mark.parametrize("max_norm", [0.5, 1e4])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ps, qs = _pair()
    arrays = [p.grad.array for p in ps[:-1]]
    total = clip_grad_norm_(ps, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(qs, max_norm, norm_type)
    assert isinstance(total, dg.Tensor) and total.shape == () and total.dtype == dg.float32
    np.testing.assert_allclose(total.item(), expected.item(), rtol=1e-5)
    _assert_same_grads(ps, qs, rtol=1e-5)
    assert all(p.grad.array is a for p, a in zip(ps, arrays))  # scaled in place
    assert all(p.grad.array.dtype == np.float32 for p in ps[:-1])


def test_clip_grad_norm_scales_down_only():
    ps, _ = _pair(np.float64)
    before = [p.grad.array.copy() for p in ps[:-1]]
    total = clip_grad_norm_(ps, max_norm=1.0)
    assert total.item() > 1.0 and total.dtype == dg.float64
    after = math.sqrt(sum(float((p.grad.array ** 2).sum()) for p in ps[:-1]))
    assert after == pytest.approx(1.0, rel=1e-5)
    for b, p in zip(before, ps):
        np.testing.assert_allclose(p.grad.array / b, 1.0 / (total.item() + 1e-6), rtol=1e-12)


def test_clip_grad_norm_takes_one_tensor_or_a_generator():
    ps, qs = _pair(np.float64)
    total = clip_grad_norm_(ps[0], 0.1)
    expected = torch.nn.utils.clip_grad_norm_(qs[0], 0.1)
    assert total.item() == pytest.approx(expected.item(), rel=1e-12)
    total = clip_grad_norm_((p for p in ps), 0.1)
    expected = torch.nn.utils.clip_grad_norm_((q for q in qs), 0.1)
    assert total.item() == pytest.approx(expected.item(), rel=1e-12)
    _assert_same_grads(ps, qs, rtol=1e-12)


def test_clip_grad_norm_without_gradients_returns_zero():
    p = dg.tensor([1.0, 2.0], requires_grad=True)
    total = clip_grad_norm_([p], 1.0)
    assert total.item() == 0.0 and p.grad is None


def test_clip_grad_norm_with_non_finite_gradients():
    ps, qs = _pair()
    ps[0].grad.array[0, 0] = qs[0].grad[0, 0] = float("nan")
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is nan"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    total = clip_grad_norm_(ps, 1.0)  # as torch: scaled by the NaN norm
    expected = torch.nn.utils.clip_grad_norm_(qs, 1.0)
    assert math.isnan(total.item()) and math.isnan(expected.item())
    assert np.isnan(ps[1].grad.array).all() and torch.isnan(qs[1].grad).all()


def test_get_total_norm_matches_torch():
    ps, qs = _pair(np.float64)
    total = get_total_norm([p.grad for p in ps[:-1]], 3.0)
    expected = torch.nn.utils.get_total_norm([q.grad for q in qs[:-1]], 3.0)
    assert total.item() == pytest.approx(expected.item(), rel=1e-12)


def test_clip_grad_norm_rejects_bad_arguments():
    ps, _ = _pair()
    with pytest.raises(ValueError, match="norm_type must be a number or 'inf', got 'two'"):
        clip_grad_norm_(ps, 1.0, norm_type="two")
    with pytest.raises(TypeError, match="clip_grad_norm_: expected tensors, but item 1 is a list"):
        clip_grad_norm_([ps[0], [1.0]], 1.0)


@pytest.mark.parametrize("clip_value", [0.1, 1.5, 100])
def test_clip_grad_value_matches_torch(clip_value):
    ps, qs = _pair(scale=2.0)
    arrays = [p.grad.array for p in ps[:-1]]
    assert clip_grad_value_(ps, clip_value) is None
    torch.nn.utils.clip_grad_value_(qs, clip_value)
    _assert_same_grads(ps, qs, rtol=0)
    assert all(p.grad.array is a for p, a in zip(ps, arrays))
    assert max(np.abs(a).max() for a in arrays) <= clip_value


def test_parameters_to_vector_and_back():
    ps, qs = _pair(np.float64)
    vec = parameters_to_vector(ps)
    np.testing.assert_array_equal(vec.array, torch.nn.utils.parameters_to_vector(qs).detach())
    arrays = [p.array for p in ps]
    vector_to_parameters(dg.tensor(vec.array * 2), ps)
    for p, q, a in zip(ps, qs, arrays):
        assert p.array is a
        np.testing.assert_array_equal(p.array, 2 * q.detach().numpy())


def test_parameters_to_vector_is_differentiable():
    ps, _ = _pair(np.float64)
    for p in ps:
        p.grad = None
    (parameters_to_vector(ps) * 3).sum().backward()
    assert all((p.grad.array == 3).all() for p in ps)


def test_vector_to_parameters_checks_the_length():
    ps, _ = _pair()
    with pytest.raises(ValueError, match=r"vec has shape \(5,\), expected \(32,\)"):
        vector_to_parameters(dg.zeros(5), ps)
    with pytest.raises(TypeError, match="expected vec to be a Tensor"):
        vector_to_parameters(np.zeros(32), ps)

"""Embedding: F.embedding and nn.Embedding against PyTorch (lookup, gradients, padding_idx,
max_norm, scale_grad_by_freq, from_pretrained), and their errors."""

import numpy as np
import pytest

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn
from deepgrad.autograd import gradcheck

torch = pytest.importorskip("torch")

IDS = np.array([[1, 4, 4, 0], [9, 2, 1, 1]])


def twins(*args, **kwargs):
    torch.manual_seed(0)
    theirs = torch.nn.Embedding(*args, **kwargs)
    ours = nn.Embedding(*args, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def backprop_both(ours, theirs, ids=IDS):
    y, ty = ours(dg.tensor(ids)), theirs(torch.tensor(ids))
    g = np.random.default_rng(1).standard_normal(ty.shape).astype(np.float32)
    y.backward(dg.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(),
                               rtol=1e-5, atol=1e-6)
    return y


@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 1}, {"padding_idx": -1},
                                    {"scale_grad_by_freq": True},
                                    {"padding_idx": 4, "scale_grad_by_freq": True}])
def test_matches_torch(kwargs):
    ours, theirs = twins(10, 3, **kwargs)
    y = backprop_both(ours, theirs)
    assert y.shape == (2, 4, 3) and y.dtype == dg.float32


def test_padding_row_starts_at_zero_and_stays_unlearnt():
    m = nn.Embedding(6, 4, padding_idx=2)
    assert np.all(m.weight.array[2] == 0) and np.any(m.weight.array[3] != 0)
    opt = dg.optim.SGD(m.parameters(), lr=1.0)
    m(dg.tensor([2, 2, 3])).sum().backward()
    opt.step()
    assert np.all(m.weight.array[2] == 0)


def test_max_norm_renormalises_looked_up_rows_in_place():
    ours, theirs = twins(10, 3, max_norm=1.0)
    before = ours.weight.array.copy()
    backprop_both(ours, theirs)
    np.testing.assert_allclose(ours.weight.array, theirs.weight.detach().numpy(), rtol=1e-6)
    used = np.unique(IDS)
    assert np.all(np.linalg.norm(ours.weight.array[used], axis=1) <= 1.0 + 1e-6)
    unused = np.setdiff1d(np.arange(10), used)
    np.testing.assert_array_equal(ours.weight.array[unused], before[unused])


def test_max_norm_other_norm_type():
    ours, theirs = twins(10, 3, max_norm=0.5, norm_type=1.0)
    backprop_both(ours, theirs)
    np.testing.assert_allclose(ours.weight.array, theirs.weight.detach().numpy(), rtol=1e-6)


def test_functional_and_gradcheck():
    w = dg.tensor(np.random.default_rng(0).standard_normal((7, 2)), requires_grad=True)
    ids = dg.tensor([[0, 3], [3, 6], [6, 6]])
    assert gradcheck(lambda w: F.embedding(ids, w), [w])  # padding_idx and
    # scale_grad_by_freq change the gradient on purpose: checked against torch above
    tw = torch.tensor(w.detach().numpy())
    np.testing.assert_array_equal(F.embedding(ids, w).detach().numpy(),
                                  torch.nn.functional.embedding(torch.tensor(ids.numpy()),
                                                                tw).numpy())


def test_from_pretrained():
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    m = nn.Embedding.from_pretrained(dg.tensor(w))
    assert not m.weight.requires_grad
    np.testing.assert_array_equal(m(dg.tensor([3, 0])).numpy(), w[[3, 0]])
    w[0, 0] = 100  # a copy: later changes to the source do not leak in
    assert m.weight.array[0, 0] == 0
    trainable = nn.Embedding.from_pretrained(dg.tensor(w), freeze=False, padding_idx=1)
    assert trainable.weight.requires_grad and trainable.padding_idx == 1
    assert repr(trainable) == repr(torch.nn.Embedding.from_pretrained(torch.tensor(w),
                                                                      padding_idx=1))


def test_state_dict_and_repr():
    ours, theirs = twins(5, 3, padding_idx=-1, max_norm=1.0)
    assert repr(ours) == repr(theirs) == "Embedding(5, 3, padding_idx=4, max_norm=1.0)"
    assert list(ours.state_dict()) == ["weight"]
    assert repr(nn.Embedding(65, 64)) == repr(torch.nn.Embedding(65, 64))
    assert nn.Embedding(3, 2, dtype=dg.float64).weight.dtype == dg.float64


def test_init_is_standard_normal():
    w = nn.Embedding(1000, 50).weight.array
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02


def test_errors():
    m = nn.Embedding(5, 2)
    with pytest.raises(IndexError, match=r"embedding: index 5 is out of range for a weight of "
                                         r"5 rows"):
        m(dg.tensor([1, 5]))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        m(dg.tensor([-1]))
    with pytest.raises(TypeError, match="embedding: expected integer indices"):
        m(dg.tensor([1.0]))
    with pytest.raises(ValueError, match=r"Embedding: padding_idx must be within the 5 "
                                         r"embeddings"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(5, 2, sparse=True)
    with pytest.raises(ValueError, match="embedding: weight must be 2-D"):
        F.embedding(dg.tensor([0]), dg.zeros(3))


def test_empty_and_repeated_indices():
    m = nn.Embedding(5, 2)
    y = m(dg.zeros(0, 3, dtype=dg.int64))
    assert y.shape == (0, 3, 2)
    y.sum().backward()
    assert np.all(m.weight.grad.array == 0)
    m.weight.grad = None
    m(dg.tensor([3, 1, 3, 3])).sum().backward()  # every use of a row adds to its gradient
    np.testing.assert_array_equal(m.weight.grad.array[:, 0], [0, 1, 0, 3, 0])

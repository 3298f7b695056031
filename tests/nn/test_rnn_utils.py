"""deepgrad.nn.utils.rnn: pad_sequence, pack_padded_sequence, pad_packed_sequence,
pack_sequence (and the unpacking helpers) against PyTorch, gradients included."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.nn.utils import rnn

torch = pytest.importorskip("torch")
trnn = torch.nn.utils.rnn


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def seqs(lengths, feature=(2,)):
    arrays = [rand(n, *feature, seed=i) for i, n in enumerate(lengths)]
    return ([dg.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def same(a, b):
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def backprop(a, b, seed=3):
    g = rand(*b.shape, seed=seed)
    a.backward(dg.tensor(g))
    b.backward(torch.tensor(g))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence(batch_first, padding_side):
    ours, theirs = seqs([3, 5, 1], feature=(2, 2))
    a = rnn.pad_sequence(ours, batch_first, -1.5, padding_side)
    b = trnn.pad_sequence(theirs, batch_first, -1.5, padding_side)
    same(a, b)
    backprop(a, b)
    for x, y in zip(ours, theirs):
        same(x.grad, y.grad)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce_sorted", [([4, 3, 3, 1], True),
                                                    ([2, 4, 1, 3], False)])
def test_pack_padded_and_back(batch_first, lengths, enforce_sorted):
    x = rand(4, 4, 3) if batch_first else rand(4, 4, 3, seed=1)
    dx, tx = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    p = rnn.pack_padded_sequence(dx, lengths, batch_first, enforce_sorted)
    q = trnn.pack_padded_sequence(tx, torch.tensor(lengths), batch_first, enforce_sorted)
    same(p.data, q.data)
    same(p.batch_sizes, q.batch_sizes)
    for mine, ref in ((p.sorted_indices, q.sorted_indices),
                      (p.unsorted_indices, q.unsorted_indices)):
        assert (mine is None) == (ref is None)
        if ref is not None:
            same(mine, ref)
    a, alen = rnn.pad_packed_sequence(p, batch_first, padding_value=7.0, total_length=6)
    b, blen = trnn.pad_packed_sequence(q, batch_first, padding_value=7.0, total_length=6)
    same(a, b)
    same(alen, blen)
    assert alen.dtype == dg.int64
    backprop(a, b)
    same(dx.grad, tx.grad)


def test_pack_sequence_and_unpack():
    ours, theirs = seqs([2, 5, 3])
    p = rnn.pack_sequence(ours, enforce_sorted=False)
    q = trnn.pack_sequence(theirs, enforce_sorted=False)
    same(p.data, q.data)
    same(p.batch_sizes, q.batch_sizes)
    backprop(p.data, q.data)
    for x, y in zip(ours, theirs):
        same(x.grad, y.grad)
    for x, y in zip(rnn.unpack_sequence(p), ours):
        same(x, y)
    padded = rnn.pad_sequence(ours, batch_first=True)
    for x, y in zip(rnn.unpad_sequence(padded, dg.tensor([2, 5, 3]), batch_first=True), ours):
        same(x, y)


def test_packed_sequence_is_a_namedtuple():
    p = rnn.pack_sequence([dg.ones(3, 2), dg.ones(1, 2)])
    data, batch_sizes, sorted_indices, unsorted_indices = p
    assert data is p.data and sorted_indices is None and unsorted_indices is None
    np.testing.assert_array_equal(batch_sizes.numpy(), [2, 1, 1])
    assert isinstance(p, rnn.PackedSequence)
    assert p.to(dg.float64).data.dtype == dg.float64
    q = rnn.PackedSequence(p.data, p.batch_sizes, dg.tensor([1, 0]))
    np.testing.assert_array_equal(q.unsorted_indices.numpy(), [1, 0])


def test_errors():
    x = dg.zeros(4, 3, 2)
    with pytest.raises(RuntimeError, match=r"pack_padded_sequence: lengths must be sorted in "
                                           r"decreasing order .* got \[2, 4, 1\]"):
        rnn.pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(ValueError, match=r"pack_padded_sequence: got 2 lengths for a batch "
                                         r"of 3"):
        rnn.pack_padded_sequence(x, [2, 1])
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 4\]"):
        rnn.pack_padded_sequence(x, [5, 1, 1])
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 4\]"):
        rnn.pack_padded_sequence(x, [3, 1, 0])
    p = rnn.pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match=r"pad_packed_sequence: total_length=3 is shorter"):
        rnn.pad_packed_sequence(p, total_length=3)
    with pytest.raises(ValueError, match=r"pad_sequence: sequences must agree"):
        rnn.pad_sequence([dg.zeros(2, 3), dg.zeros(2, 4)])
    with pytest.raises(ValueError, match=r"padding_side must be 'right' or 'left'"):
        rnn.pad_sequence([dg.zeros(2, 3)], padding_side="top")

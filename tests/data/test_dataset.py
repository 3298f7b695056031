"""Dataset, TensorDataset, Subset, ConcatDataset and random_split, checked against PyTorch."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data import ConcatDataset, Dataset, Subset, TensorDataset, random_split

torch = pytest.importorskip("torch")
tdata = torch.utils.data


class Squares(Dataset):
    """A dataset computed on demand: sample i is (i, i * i)."""

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i, i * i

    def __len__(self):
        return self.n


def test_tensor_dataset_samples_are_rows():
    x, y = dg.randn(5, 3), dg.arange(5)
    ds = TensorDataset(x, y)
    assert len(ds) == 5
    xi, yi = ds[2]
    np.testing.assert_array_equal(xi.array, x.array[2])
    assert yi.item() == 2 and yi.dtype == dg.int64 and xi.dtype == dg.float32


def test_tensor_dataset_takes_numpy_arrays_without_copying():
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    ds = TensorDataset(a)
    assert ds.tensors[0].array is a
    np.testing.assert_array_equal(ds[3][0].array, a[3])


def test_tensor_dataset_get_batch_is_the_stacked_samples():
    x, y = dg.randn(6, 2, 3), dg.arange(6)
    ds = TensorDataset(x, y)
    idx = np.array([4, 0, 4, 1])
    bx, by = ds.get_batch(idx)
    np.testing.assert_array_equal(bx.array, np.stack([ds[i][0].array for i in idx]))
    np.testing.assert_array_equal(by.array, [4, 0, 4, 1])
    assert bx.dtype == dg.float32 and by.dtype == dg.int64


def test_tensor_dataset_get_batch_keeps_the_graph_of_tensors_that_require_grad():
    w = dg.randn(4, 2, requires_grad=True)
    (batch,) = TensorDataset(w).get_batch(np.array([1, 1, 3]))
    batch.sum().backward()
    np.testing.assert_array_equal(w.grad.array, [[0, 0], [2, 2], [0, 0], [1, 1]])


def test_tensor_dataset_errors():
    with pytest.raises(ValueError, match=r"same size in their first dimension, got sizes \[4, 3\]"):
        TensorDataset(dg.zeros(4, 2), dg.zeros(3))
    with pytest.raises(TypeError, match="argument 1 must be a Tensor or a NumPy array, got list"):
        TensorDataset(dg.zeros(2), [1, 2])
    with pytest.raises(ValueError, match="argument 0 is a 0-d tensor"):
        TensorDataset(dg.tensor(1.0))
    with pytest.raises(IndexError, match="index 7 is out of range for a dataset of 4 samples"):
        TensorDataset(dg.zeros(4)).get_batch(np.array([0, 7]))


def test_dataset_base_and_addition():
    with pytest.raises(NotImplementedError, match="must define __getitem__"):
        Dataset()[0]
    both = Squares(2) + Squares(3)
    assert isinstance(both, ConcatDataset)
    assert [both[i] for i in range(len(both))] == [(0, 0), (1, 1), (0, 0), (1, 1), (2, 4)]


def test_subset_follows_its_indices():
    sub = Subset(Squares(10), [7, 2, 2])
    assert len(sub) == 3
    assert [sub[i] for i in range(3)] == [(7, 49), (2, 4), (2, 4)]
    assert sub[-1] == (2, 4)


def test_concat_dataset_matches_torch():
    sizes = [3, 0, 4, 1]
    ours = ConcatDataset(Squares(n) for n in sizes)
    theirs = tdata.ConcatDataset([Squares(n) for n in sizes])
    assert ours.cumulative_sizes == theirs.cumulative_sizes
    assert len(ours) == len(theirs) == 8
    for i in range(-8, 8):
        assert ours[i] == theirs[i]


def test_concat_dataset_errors():
    with pytest.raises(ValueError, match="should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(IndexError, match="index 5 is out of range for a dataset of 5 samples"):
        ConcatDataset([Squares(2), Squares(3)])[5]
    with pytest.raises(IndexError, match="index -6 is out of range"):
        ConcatDataset([Squares(2), Squares(3)])[-6]


@pytest.mark.parametrize("n, lengths", [
    (10, [3, 7]), (10, [0.3, 0.7]), (11, [0.5, 0.5]), (10, [0.25, 0.25, 0.5]),
    (7, [0.2, 0.2, 0.2, 0.2, 0.2]), (5, [5, 0]),
])
def test_random_split_lengths_match_torch(n, lengths):
    ours = random_split(Squares(n), lengths)
    theirs = tdata.random_split(Squares(n), lengths)
    assert [len(s) for s in ours] == [len(s) for s in theirs]


def test_random_split_is_a_disjoint_cover_from_a_seeded_permutation():
    parts = random_split(Squares(20), [0.5, 0.3, 0.2])
    indices = [i for part in parts for i in part.indices]
    assert sorted(indices) == list(range(20)) and indices != list(range(20))
    assert all(isinstance(part, Subset) for part in parts)
    assert parts[1][0] == Squares(20)[parts[1].indices[0]]
    dg.manual_seed(0)
    again = random_split(Squares(20), [0.5, 0.3, 0.2])
    assert [p.indices for p in again] == [p.indices for p in parts]


def test_random_split_generator():
    a = random_split(Squares(12), [6, 6], generator=np.random.default_rng(3))
    dg.manual_seed(99)
    b = random_split(Squares(12), [6, 6], generator=np.random.default_rng(3))
    assert [p.indices for p in a] == [p.indices for p in b]


def test_random_split_errors():
    with pytest.raises(ValueError, match=r"lengths \[3, 4\] sum to 7, but the dataset has 8"):
        random_split(Squares(8), [3, 4])
    with pytest.raises(ValueError, match="non-negative integers or fractions"):
        random_split(Squares(8), [0.5, 7.5])
    with pytest.raises(ValueError, match="non-negative integers"):
        random_split(Squares(8), [10, -2])
    with pytest.warns(UserWarning, match="length of split 1 is 0"):
        random_split(Squares(2), [0.9, 0.1])

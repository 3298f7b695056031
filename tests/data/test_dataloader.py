"""DataLoader, samplers and default_collate: order, seeding, batching, the fast path, workers."""

from collections import namedtuple

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
)

torch = pytest.importorskip("torch")
tdata = torch.utils.data

Point = namedtuple("Point", "x y")


class Rows(Dataset):
    """The samples of a TensorDataset, served one by one (no get_batch: the slow path)."""

    def __init__(self, *tensors):
        self.inner = TensorDataset(*tensors)

    def __getitem__(self, i):
        return self.inner[i]

    def __len__(self):
        return len(self.inner)


def labels(loader):
    """The label batches of one pass, as lists."""
    return [batch[1].tolist() for batch in loader]


def xy(n=10):
    return TensorDataset(dg.randn(n, 3), dg.arange(n))


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for batch_a, batch_b in zip(a, b):
        assert type(batch_a) is type(batch_b) and len(batch_a) == len(batch_b)
        for ta, tb in zip(batch_a, batch_b):
            assert ta.dtype == tb.dtype
            np.testing.assert_array_equal(ta.array, tb.array)


@pytest.mark.parametrize("n, batch_size, drop_last, sizes", [
    (10, 4, False, [4, 4, 2]), (10, 4, True, [4, 4]), (8, 4, True, [4, 4]),
    (3, 5, False, [3]), (3, 5, True, []), (10, 1, False, [1] * 10),
])
def test_batches_len_and_drop_last(n, batch_size, drop_last, sizes):
    loader = DataLoader(xy(n), batch_size, drop_last=drop_last)
    assert len(loader) == len(sizes) == len(tdata.DataLoader(range(n), batch_size,
                                                             drop_last=drop_last))
    batches = list(loader)
    assert [len(b[1]) for b in batches] == sizes
    assert [b[0].shape[1:] for b in batches] == [(3,)] * len(sizes)
    assert sum(labels(loader), []) == list(range(sum(sizes)))


def test_batches_are_lists_of_tensors_with_the_dataset_dtypes():
    x, y = dg.randn(6, 2, 2), dg.arange(6)
    (bx, by), *_ = DataLoader(TensorDataset(x, y), batch_size=4)
    np.testing.assert_array_equal(bx.array, x.array[:4])
    assert bx.dtype == dg.float32 and by.dtype == dg.int64 and not bx.requires_grad


def test_shuffle_gives_a_new_permutation_each_epoch():
    loader = DataLoader(xy(20), batch_size=6, shuffle=True)
    epochs = [sum(labels(loader), []) for _ in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(20)) and order != list(range(20))
    assert epochs[0] != epochs[1] != epochs[2]


def test_shuffle_is_repeatable_under_manual_seed():
    dg.manual_seed(7)
    first = [labels(DataLoader(xy(20), 6, shuffle=True)) for _ in range(2)]
    dg.manual_seed(7)
    second = [labels(DataLoader(xy(20), 6, shuffle=True)) for _ in range(2)]
    assert first == second
    dg.manual_seed(8)
    assert labels(DataLoader(xy(20), 6, shuffle=True)) != first[0]


def test_generator_makes_the_order_independent_of_the_global_seed():
    a = labels(DataLoader(xy(20), 5, shuffle=True, generator=np.random.default_rng(1)))
    dg.manual_seed(123)
    b = labels(DataLoader(xy(20), 5, shuffle=True, generator=np.random.default_rng(1)))
    assert a == b


def test_fast_path_is_used_and_needs_no_per_sample_indexing(monkeypatch):
    def no_samples(self, index):
        raise AssertionError("the fast path indexed one sample")

    monkeypatch.setattr(TensorDataset, "__getitem__", no_samples)
    assert sum(labels(DataLoader(xy(10), 3, shuffle=True)), []) != list(range(10))


@pytest.mark.parametrize("wrap", [
    lambda ds: ds,
    lambda ds: Subset(ds, [5, 1, 8, 8, 0, 3, 9]),
    lambda ds: Subset(Subset(ds, list(range(9, -1, -1))), np.arange(2, 9)),
    lambda ds: ds + Subset(ds, [4, 2]) + ds,
])
@pytest.mark.parametrize("shuffle, drop_last", [(False, False), (True, False), (True, True)])
def test_fast_path_equals_slow_path(wrap, shuffle, drop_last):
    x, y = dg.randn(10, 2, 3), dg.arange(10)
    fast, slow = wrap(TensorDataset(x, y)), wrap(Rows(x, y))
    kwargs = dict(batch_size=3, shuffle=shuffle, drop_last=drop_last)
    dg.manual_seed(5)
    fast_batches = list(DataLoader(fast, **kwargs))
    dg.manual_seed(5)
    slow_batches = list(DataLoader(slow, **kwargs))
    assert_same_batches(fast_batches, slow_batches)


def test_gradients_flow_through_batches_of_tensors_that_require_grad():
    w = dg.ones(5, 2, requires_grad=True)
    for fast in (True, False):
        w.grad = None
        ds = TensorDataset(w) if fast else Rows(w)
        sum(batch[0].sum() for batch in DataLoader(ds, 2)).backward()
        np.testing.assert_array_equal(w.grad.array, np.ones((5, 2)))


def test_workers_give_the_same_batches_as_the_main_thread():
    ds = xy(23)
    dg.manual_seed(3)
    plain = [list(DataLoader(ds, 4, shuffle=True)) for _ in range(2)]
    for workers, factor in [(1, None), (2, 1), (3, 4)]:
        dg.manual_seed(3)
        loader = DataLoader(ds, 4, shuffle=True, num_workers=workers, prefetch_factor=factor)
        for epoch in plain:
            assert_same_batches(list(loader), epoch)
    dg.manual_seed(3)
    slow = DataLoader(Rows(*ds.tensors), 4, shuffle=True, num_workers=2)
    assert_same_batches(list(slow), plain[0])


def test_workers_stop_early_and_pass_errors_on():
    loader = DataLoader(xy(40), 2, num_workers=2)
    for i, _ in enumerate(loader):
        if i == 2:
            break
    assert sum(labels(loader), []) == list(range(40))

    class Broken(Rows):
        def __getitem__(self, i):
            if i == 5:
                raise RuntimeError("sample 5 is broken")
            return super().__getitem__(i)

    with pytest.raises(RuntimeError, match="sample 5 is broken"):
        list(DataLoader(Broken(dg.zeros(8), dg.zeros(8)), 2, num_workers=2))


def test_collate_fn_sampler_and_batch_sampler():
    firsts = DataLoader(xy(7), 3, collate_fn=lambda samples: samples[0][1].item())
    assert list(firsts) == [0, 3, 6]
    backwards = DataLoader(xy(5), 2, sampler=[4, 3, 2, 1, 0])
    assert labels(backwards) == [[4, 3], [2, 1], [0]]
    custom = DataLoader(xy(6), batch_sampler=[[5], [0, 1, 2], [3, 3]])
    assert labels(custom) == [[5], [0, 1, 2], [3, 3]] and len(custom) == 3
    assert custom.batch_size is None


class Stream(IterableDataset):
    """Samples (i, {"sq": i * i}) for i < n, read as a stream."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return ((i, {"sq": i * i}) for i in range(self.n))


class SizedStream(Stream):
    def __len__(self):
        return self.n


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("drop_last", [False, True])
def test_iterable_dataset_is_batched_in_its_order(workers, drop_last):
    loader = DataLoader(SizedStream(7), 3, drop_last=drop_last, num_workers=workers)
    for _ in range(2):  # restartable
        batches = list(loader)
        assert len(batches) == len(loader) == (2 if drop_last else 3)
        assert [b[0].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]][:len(batches)]
        assert batches[1][1]["sq"].tolist() == [9, 16, 25]


def test_iterable_dataset_errors():
    with pytest.raises(ValueError, match="shuffle, sampler and batch_sampler need a map-style"):
        DataLoader(Stream(3), 2, shuffle=True)
    with pytest.raises(ValueError, match="batch_size should be a positive integer, got 0"):
        DataLoader(Stream(3), 0)
    with pytest.raises(TypeError):
        len(DataLoader(Stream(3), 2))
    with pytest.raises(TypeError, match="iterable datasets have no indices"):
        xy(3) + Stream(3)
    with pytest.raises(NotImplementedError, match="must define __iter__"):
        iter(IterableDataset())


def test_samplers_match_torch():
    data = list(range(10))
    assert list(SequentialSampler(data)) == list(tdata.SequentialSampler(data))
    for size, drop in [(3, False), (3, True), (5, True), (11, False)]:
        ours, theirs = BatchSampler(data, size, drop), tdata.BatchSampler(data, size, drop)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    order = list(RandomSampler(data))
    assert sorted(order) == data and order != data and len(RandomSampler(data)) == 10


def test_random_sampler_num_samples_and_replacement():
    more = list(RandomSampler(range(4), num_samples=10))
    assert len(more) == 10 and sorted(more[:4]) == sorted(more[4:8]) == [0, 1, 2, 3]
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=50))
    assert len(drawn) == 50 and set(drawn) == {0, 1, 2}
    a = list(RandomSampler(range(9), generator=np.random.default_rng(0)))
    assert a == list(RandomSampler(range(9), generator=np.random.default_rng(0)))


def test_loader_errors():
    ds = xy(4)
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match=f"batch_size should be a positive integer, got {bad}"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(ValueError, match="sampler is mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=[0, 1])
    with pytest.raises(ValueError, match="batch_sampler is mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0, 1]])
    with pytest.raises(ValueError, match="num_workers should be a non-negative integer, got -1"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor needs num_workers > 0"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="prefetch_factor should be a positive integer, got 0"):
        DataLoader(ds, num_workers=1, prefetch_factor=0)
    with pytest.raises(TypeError, match="generator should be a numpy.random.Generator"):
        DataLoader(ds, shuffle=True, generator=0)
    with pytest.raises(ValueError, match="num_samples should be a positive integer, got 0"):
        RandomSampler(ds, num_samples=0)


# -- default_collate ------------------------------------------------------------------------------
def to_torch(sample):
    """The same sample with deepgrad tensors turned into torch tensors."""
    if isinstance(sample, dg.Tensor):
        return torch.from_numpy(sample.array.copy())
    if isinstance(sample, dict):
        return {k: to_torch(v) for k, v in sample.items()}
    if isinstance(sample, tuple) and hasattr(sample, "_fields"):
        return type(sample)(*map(to_torch, sample))
    if isinstance(sample, (tuple, list)):
        return type(sample)(map(to_torch, sample))
    return sample


def assert_matches_torch(ours, theirs):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, dg.Tensor) and ours.shape == tuple(theirs.shape)
        assert str(ours.dtype).split(".")[1] == str(theirs.dtype).split(".")[1]
        np.testing.assert_array_equal(ours.array, theirs.numpy())
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs)
        for key in theirs:
            assert_matches_torch(ours[key], theirs[key])
    elif isinstance(theirs, (list, tuple)) and not isinstance(theirs[0], str):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_matches_torch(a, b)
    elif isinstance(theirs, tuple):  # torch keeps the strings of tuple samples in a tuple
        assert ours == list(theirs)
    else:
        assert ours == theirs


SAMPLES = {
    "tensors": lambda i: dg.full((2, 3), i),
    "float64 arrays": lambda i: np.full((2,), i, dtype=np.float64),
    "uint8 arrays": lambda i: np.full((3, 2), i, dtype=np.uint8),
    "numpy scalars": lambda i: np.float64(i) / 2,
    "ints": lambda i: i,
    "bools": lambda i: i % 2 == 0,
    "strings": lambda i: f"s{i}",
    "tuples": lambda i: (dg.full((2,), float(i)), i),
    "lists": lambda i: [i, np.int32(i), "a"],
    "namedtuples": lambda i: Point(dg.full((1,), i), i),
    "dicts": lambda i: {"image": dg.full((1, 2), i), "label": i, "name": str(i)},
    "nested": lambda i: {"pair": (i, {"deep": [dg.tensor([i, i + 1])]}), "id": np.int64(i)},
}


@pytest.mark.parametrize("kind", SAMPLES)
def test_default_collate_matches_torch(kind):
    samples = [SAMPLES[kind](i) for i in range(4)]
    ours = default_collate(samples)
    theirs = tdata.default_collate([to_torch(s) for s in samples])
    assert_matches_torch(ours, theirs)


def test_default_collate_python_floats_are_float32():
    out = default_collate([0.5, 1.0, 2])
    assert out.dtype == dg.float32
    np.testing.assert_array_equal(out.array, [0.5, 1.0, 2.0])
    assert default_collate([(1.5, dg.zeros(2))])[0].dtype == dg.float32
    dg.set_default_dtype(dg.float64)
    assert default_collate([0.5]).dtype == dg.float64


def test_default_collate_errors():
    with pytest.raises(ValueError, match="the batch is empty"):
        default_collate([])
    with pytest.raises(ValueError, match=r"different shapes \[\(2,\), \(3,\)\]"):
        default_collate([dg.zeros(2), dg.zeros(3)])
    with pytest.raises(ValueError, match=r"sequences of different lengths \[2, 3\]"):
        default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(KeyError, match="key 'b' is in the first sample but missing"):
        default_collate([{"a": 1, "b": 2}, {"a": 1}])
    with pytest.raises(TypeError, match="found NoneType"):
        default_collate([None, None])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object()])

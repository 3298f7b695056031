"""``DataLoader``: batches of samples from a dataset, shuffled from a seeded generator, and the
samplers and collate function it is built from (as PyTorch's ``torch.utils.data``).
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from deepgrad import backend
from deepgrad.data.dataset import ConcatDataset, IterableDataset, Subset
from deepgrad.ops import cat, stack
from deepgrad.tensor import Tensor


# -- samplers: which indices, in which order ------------------------------------------------------
class Sampler:
    """An iterable over dataset indices."""

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Indices in a random order, a new one each pass; with ``replacement``, drawn independently.

    Draws from ``generator`` (a NumPy Generator), or deepgrad's seeded generator by default, so
    ``deepgrad.manual_seed`` makes the order repeatable.
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator: np.random.Generator | None = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = _check_generator(generator, "RandomSampler")
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a bool, got {replacement!r}")
        if not _is_positive_int(self.num_samples):
            raise ValueError(f"RandomSampler: num_samples should be a positive integer, got "
                             f"{self.num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        rng = backend.rng() if self.generator is None else self.generator
        n, k = len(self.data_source), self.num_samples
        if self.replacement:
            order = rng.integers(0, n, k)
        else:  # enough whole permutations to cover num_samples
            order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(k / n))])[:k]
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter,
    unless ``drop_last``)."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not _is_positive_int(batch_size):
            raise ValueError(f"BatchSampler: batch_size should be a positive integer, got "
                             f"{batch_size!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a bool, got {drop_last!r}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        return _chunks(iter(self.sampler), self.batch_size, self.drop_last)

    def __len__(self) -> int:
        return _num_batches(len(self.sampler), self.batch_size, self.drop_last)


def _chunks(items: Iterator, size: int, drop_last: bool) -> Iterator[list]:
    """Consecutive lists of ``size`` items (the last one shorter, unless ``drop_last``)."""
    while chunk := list(itertools.islice(items, size)):
        if len(chunk) < size and drop_last:
            return
        yield chunk


def _num_batches(n: int, size: int, drop_last: bool) -> int:
    return n // size if drop_last else math.ceil(n / size)


# -- collate: a list of samples -> one batch ------------------------------------------------------
def default_collate(batch: list):
    """Stack a list of samples into a batch, following the samples' structure.

    Tensors, NumPy arrays and NumPy scalars are stacked into a tensor along a new first dimension
    (keeping their dtype); Python floats become a float32 tensor (the default dtype; PyTorch gives
    float64), ints int64 and bools bool. Tuples and lists are collated position by position (into a
    list), namedtuples field by field, dicts key by key; strings stay a list.
    """
    if not len(batch):
        raise ValueError("default_collate: the batch is empty; there is nothing to stack")
    elem = batch[0]
    if isinstance(elem, Tensor):
        if any(t.requires_grad for t in batch):
            return stack(batch)
        return Tensor._make(_stack([t.array for t in batch]), None)
    if isinstance(elem, (np.ndarray, np.generic)) and elem.dtype.kind in "biuf":
        return Tensor._make(_stack(batch), None)
    if isinstance(elem, (bool, int, float)):
        return Tensor._make(np.array(batch, dtype=_number_dtype(batch)), None)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, Mapping):
        return {key: default_collate(_values(batch, key)) for key in elem}
    if isinstance(elem, Sequence):
        sizes = {len(sample) for sample in batch}
        if len(sizes) > 1:
            raise ValueError(f"default_collate: samples are sequences of different lengths "
                             f"{sorted(sizes)}; every sample needs the same structure")
        columns = [default_collate(list(column)) for column in zip(*batch)]
        return type(elem)(*columns) if hasattr(elem, "_fields") else columns
    raise TypeError(f"default_collate: samples must hold tensors, NumPy arrays, numbers, strings, "
                    f"dicts or sequences of these, found {type(elem).__name__}")


def _stack(arrays: list) -> np.ndarray:
    try:
        out = np.stack(arrays)
    except ValueError:
        shapes = sorted({np.shape(a) for a in arrays})
        raise ValueError(f"default_collate: cannot stack samples of different shapes {shapes}; "
                         f"pad them or pass a collate_fn") from None
    backend.dtype_of(out)  # rejects unsupported dtypes
    return out


def _number_dtype(batch: list):
    if any(isinstance(x, float) for x in batch):
        return backend.get_default_dtype().np
    return np.bool_ if all(isinstance(x, bool) for x in batch) else np.int64


def _values(batch: list, key) -> list:
    try:
        return [sample[key] for sample in batch]
    except KeyError:
        raise KeyError(f"default_collate: key {key!r} is in the first sample but missing from "
                       f"another; every sample needs the same keys") from None


# -- the loader ------------------------------------------------------------------------------------
class DataLoader:
    """Iterate over a dataset in batches: ``for x, y in DataLoader(data, 64, shuffle=True)``.

    With ``shuffle`` each pass (epoch) takes a new random order drawn from ``generator`` (a NumPy
    Generator), or from deepgrad's seeded generator so that ``deepgrad.manual_seed`` makes the
    order repeatable. With the default ``collate_fn``, a dataset that defines ``get_batch`` (such
    as ``TensorDataset``) gives each batch in one fancy index rather than sample by sample.

    An ``IterableDataset`` is batched in the order it yields its samples (no shuffle or sampler).

    ``num_workers > 0`` prepares batches in that many background threads (not processes), keeping
    ``num_workers * prefetch_factor`` batches in flight; the indices are still drawn in the calling
    thread, so the batches come out the same as with ``num_workers=0``. A dataset that draws
    random numbers while fetching shares deepgrad's generator with those threads, so its draws
    are only repeatable with ``num_workers=0``. ``pin_memory`` is accepted for PyTorch scripts
    and has no effect on a CPU.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool | None = None,
                 sampler: Iterable[int] | None = None,
                 batch_sampler: Iterable[list[int]] | None = None, num_workers: int = 0,
                 collate_fn: Callable[[list], object] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, *, generator: np.random.Generator | None = None,
                 prefetch_factor: int | None = None) -> None:
        if isinstance(dataset, IterableDataset):
            if shuffle or sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader: an IterableDataset gives its samples in its own "
                                 "order; shuffle, sampler and batch_sampler need a map-style "
                                 "dataset")
            _batch_size(batch_size)
        elif batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler is mutually exclusive with "
                                 "batch_size, shuffle, sampler and drop_last")
            batch_size, drop_last = None, False
        elif sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler is mutually exclusive with shuffle; the sampler "
                             "decides the order")
        self.generator = _check_generator(generator, "DataLoader")
        if batch_sampler is None and not isinstance(dataset, IterableDataset):
            if sampler is None:
                sampler = (RandomSampler(dataset, generator=self.generator) if shuffle
                           else SequentialSampler(dataset))
            batch_sampler = BatchSampler(sampler, _batch_size(batch_size), drop_last)
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.prefetch_factor = _prefetch_factor(num_workers, prefetch_factor)
        self.collate_fn = default_collate if collate_fn is None else collate_fn
        self.pin_memory = pin_memory

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            return _num_batches(len(self.dataset), self.batch_size, self.drop_last)
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator:
        if isinstance(self.dataset, IterableDataset):  # batches of samples, collated in workers
            batches = _chunks(iter(self.dataset), self.batch_size, self.drop_last)
            fetch = self.collate_fn
        else:
            batches = iter(self.batch_sampler)
            fetch = self._fetcher()
        if self.num_workers == 0:
            return map(fetch, batches)
        return _in_background(fetch, batches, self.num_workers,
                              self.num_workers * self.prefetch_factor)

    def _fetcher(self) -> Callable[[list[int]], object]:
        """Indices -> batch: in one step where the dataset allows it, else sample by sample."""
        get_batch = _batch_getter(self.dataset) if self.collate_fn is default_collate else None
        if get_batch is not None:
            return lambda indices: get_batch(np.asarray(indices, dtype=np.int64))
        dataset, collate = self.dataset, self.collate_fn
        return lambda indices: collate([dataset[i] for i in indices])


def _batch_getter(dataset) -> Callable[[np.ndarray], object] | None:
    """``dataset.get_batch``, seen through Subsets and ConcatDatasets; None if a part lacks it."""
    if isinstance(dataset, Subset):
        inner = _batch_getter(dataset.dataset)
        if inner is None:
            return None
        indices = np.asarray(dataset.indices, dtype=np.int64)
        return lambda idx: inner(indices[idx])
    if isinstance(dataset, ConcatDataset):
        parts = [_batch_getter(d) for d in dataset.datasets]
        if any(p is None for p in parts):
            return None
        return lambda idx: _concat_batch(parts, dataset.cumulative_sizes, idx)
    return getattr(dataset, "get_batch", None)


def _concat_batch(parts: list, ends: list[int], idx: np.ndarray):
    """The batch of a ConcatDataset: each part's batch of its own indices, merged back in order."""
    n = ends[-1]
    if len(idx) and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"ConcatDataset: index {idx[(idx < -n) | (idx >= n)][0]} is out of "
                         f"range for a dataset of {n} samples")
    idx = idx % n
    which = np.searchsorted(ends, idx, side="right")
    starts = np.array([0, *ends[:-1]])
    used = np.unique(which)
    batches = [parts[p](idx[which == p] - starts[p]) for p in used]
    order = np.argsort(np.concatenate([np.flatnonzero(which == p) for p in used]), kind="stable")
    return _merge(batches, order)


def _merge(batches: list, order: np.ndarray):
    """Concatenate collated batches (tensors, or lists or dicts of them), then reorder."""
    first = batches[0]
    if isinstance(first, Tensor):
        return cat(batches)[order]
    if isinstance(first, Mapping):
        return {key: _merge([b[key] for b in batches], order) for key in first}
    if isinstance(first, list) and all(isinstance(x, (Tensor, list, Mapping)) for x in first):
        return [_merge(list(column), order) for column in zip(*batches)]
    raise TypeError(f"DataLoader: cannot merge batches of type {type(first).__name__} from the "
                    f"parts of a ConcatDataset; get_batch should return tensors, or lists or "
                    f"dicts of them")


def _in_background(fetch: Callable, batches: Iterator, workers: int, depth: int) -> Iterator:
    """``map(fetch, batches)``, computed ahead by a pool of threads, up to ``depth`` in flight.

    The indices are drawn here, in the caller's thread, so the order of batches is the same as
    without workers. Stopping early cancels the batches not yet started.
    """
    pool = ThreadPoolExecutor(workers, thread_name_prefix="deepgrad-data")
    pending = collections.deque()
    try:
        for indices in batches:
            pending.append(pool.submit(fetch, indices))
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _prefetch_factor(num_workers, prefetch_factor) -> int | None:
    """Check the worker options; PyTorch's default of 2 batches per worker."""
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"DataLoader: num_workers should be a non-negative integer, got "
                         f"{num_workers!r}")
    if num_workers == 0:
        if prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor needs num_workers > 0 (batches are "
                             "prepared ahead by background workers)")
        return None
    if prefetch_factor is None:
        return 2
    if not _is_positive_int(prefetch_factor):
        raise ValueError(f"DataLoader: prefetch_factor should be a positive integer, got "
                         f"{prefetch_factor!r}")
    return prefetch_factor


def _batch_size(batch_size) -> int:
    if not _is_positive_int(batch_size):
        raise ValueError(f"DataLoader: batch_size should be a positive integer, got "
                         f"{batch_size!r}")
    return batch_size


def _is_positive_int(n) -> bool:
    return isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0


def _check_generator(generator, op: str):
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"{op}: generator should be a numpy.random.Generator (as numpy's "
                        f"default_rng gives), got {type(generator).__name__}")
    return generator

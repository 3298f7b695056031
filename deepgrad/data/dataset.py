"""Datasets: indexable collections of samples, and ways to combine and split them (as PyTorch's)."""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Sequence

import numpy as np

from deepgrad import backend
from deepgrad.tensor import Tensor


class Dataset:
    """A map from indices ``0 .. len - 1`` to samples: subclasses define ``__getitem__`` and
    ``__len__``.

    A dataset held in memory may also define ``get_batch(indices)``, returning for an array of
    indices what ``default_collate`` of those samples would give; ``DataLoader`` then fetches
    each batch in one step instead of sample by sample.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define ``__iter__`` (for data read as it comes, with no
    random access). ``DataLoader`` batches it in the order it yields."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class TensorDataset(Dataset):
    """Samples are the rows of tensors that share their first dimension: ``(x[i], y[i], ...)``.

    NumPy arrays are accepted too and wrapped without copying.
    """

    def __init__(self, *tensors: Tensor | np.ndarray) -> None:
        self.tensors = tuple(_as_tensor(t, i) for i, t in enumerate(tensors))
        sizes = [t.shape[0] for t in self.tensors]
        if len(set(sizes)) > 1:
            raise ValueError(f"TensorDataset: all tensors must have the same size in their first "
                             f"dimension, got sizes {sizes} (shapes "
                             f"{[t.shape for t in self.tensors]})")

    def __getitem__(self, index) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0] if self.tensors else 0

    def get_batch(self, indices: np.ndarray) -> list:
        """The batch ``[x[indices], y[indices], ...]``: one fancy index per tensor."""
        try:
            return [t[indices] if t.requires_grad else Tensor._make(t.array[indices], None)
                    for t in self.tensors]
        except IndexError:
            bad = indices[(indices >= len(self)) | (indices < -len(self))]
            raise IndexError(f"TensorDataset: index {bad[0]} is out of range for a dataset of "
                             f"{len(self)} samples") from None


def _as_tensor(t, position: int) -> Tensor:
    if isinstance(t, np.ndarray):
        backend.dtype_of(t)  # rejects unsupported dtypes
        t = Tensor._make(t, None)
    if not isinstance(t, Tensor):
        raise TypeError(f"TensorDataset: argument {position} must be a Tensor or a NumPy array, "
                        f"got {type(t).__name__}")
    if t.ndim == 0:
        raise ValueError(f"TensorDataset: argument {position} is a 0-d tensor; each tensor needs "
                         f"a first dimension that indexes the samples")
    return t


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several datasets one after the other, as one dataset."""

    def __init__(self, datasets) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        if any(isinstance(d, IterableDataset) for d in self.datasets):
            raise TypeError("ConcatDataset: iterable datasets have no indices to concatenate")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for a dataset of "
                             f"{n} samples")
        index %= n
        part = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[part - 1] if part else 0
        return self.datasets[part][index - start]


def random_split(dataset, lengths: Sequence[int | float],
                 generator: np.random.Generator | None = None) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping subsets of the given lengths.

    ``lengths`` are sample counts that add up to ``len(dataset)``, or fractions that add up to 1
    (the samples left over by rounding down go one each to the first subsets). The permutation
    comes from ``generator``, or deepgrad's seeded generator (``manual_seed``) by default.
    """
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        lengths = _lengths_from_fractions(lengths, n)
    if any(not isinstance(k, (int, np.integer)) or k < 0 for k in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions that "
                         f"sum to 1, got {list(lengths)}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {list(lengths)} sum to {sum(lengths)}, but "
                         f"the dataset has {n} samples")
    order = (backend.rng() if generator is None else generator).permutation(n).tolist()
    ends = np.cumsum(lengths).tolist()
    return [Subset(dataset, order[end - k:end]) for k, end in zip(lengths, ends)]


def _lengths_from_fractions(fractions, n: int) -> list[int]:
    if any(not 0 <= f <= 1 for f in fractions):
        raise ValueError(f"random_split: fractions must lie between 0 and 1, got {list(fractions)}")
    lengths = [math.floor(n * f) for f in fractions]
    for i in range(n - sum(lengths)):
        lengths[i % len(lengths)] += 1
    for i, k in enumerate(lengths):
        if k == 0:
            warnings.warn(f"random_split: length of split {i} is 0", stacklevel=3)
    return lengths

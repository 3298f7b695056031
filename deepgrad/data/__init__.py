"""Data: datasets, ways to combine and split them, and ``DataLoader`` to batch and shuffle them
(PyTorch's ``torch.utils.data``), plus ready-made data sets and transforms."""

from deepgrad.data import datasets, transforms
from deepgrad.data.dataloader import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    Sampler,
    SequentialSampler,
    default_collate,
)
from deepgrad.data.dataset import (
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "DataLoader", "Sampler", "SequentialSampler", "RandomSampler", "BatchSampler",
    "default_collate", "datasets", "transforms",
]

"""MNIST and Fashion-MNIST, read from their original gzip-compressed idx files.

The whole split is held in memory as uint8 arrays (47 MB for 60,000 images), so indexing a sample
is cheap and ``arrays()`` gives the full set as float32 batches for the in-memory fast path.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from deepgrad.data.dataset import Dataset
from deepgrad.data.datasets.files import CorruptFileError, RemoteFile, data_root, fetch
from deepgrad.tensor import Tensor

__all__ = ["MNIST", "FashionMNIST", "read_idx"]

_IDX_UINT8 = 0x08


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The uint8 array stored in a gzip-compressed idx file (images (N, H, W), labels (N,))."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as error:
        raise CorruptFileError(f"{path} is not a readable gzip file ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _IDX_UINT8:
        raise CorruptFileError(f"{path} is not an idx file of unsigned bytes (header {raw[:4]!r})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4)) if ndim else ()
    if len(raw) != header + int(np.prod(shape)):
        raise CorruptFileError(
            f"{path}: the idx header announces shape {shape} ({int(np.prod(shape))} bytes) "
            f"but {len(raw) - header} bytes follow it"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _unit(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1]."""
    images = pixels.astype(np.float32)
    images /= np.float32(255)
    return images


class MNIST(Dataset):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images of 28x28 pixels.

    Files live in ``<root>/mnist/`` (root: the argument, else ``$DEEPGRAD_DATA``, else
    ``~/.cache/deepgrad``). A sample is ``(image, label)``: the image a float32 tensor
    (1, 28, 28) in [0, 1] passed through ``transform``, the label an int passed through
    ``target_transform``. ``data`` (uint8, (N, 28, 28)) and ``targets`` (int64, (N,)) hold the
    whole split, as in torchvision.
    """

    folder = "mnist"
    urls = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
    checksums = {
        "train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }
    classes = [
        "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
        "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
    ]
    mean, std = 0.1307, 0.3081  # of the training images' pixels in [0, 1], for normalising

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        train: bool = True,
        transform=None,
        target_transform=None,
        download: bool = True,
    ) -> None:
        self.root = data_root(root)
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        prefix = "train" if train else "t10k"
        names = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
        files = [RemoteFile(n, self.checksums[n], tuple(u + n for u in self.urls)) for n in names]
        images_path, labels_path = fetch(
            type(self).__name__, files, self.root / self.folder, download
        )
        self._images = read_idx(images_path)
        self._labels = read_idx(labels_path).astype(np.int64)
        if self._images.ndim != 3 or self._labels.shape != self._images.shape[:1]:
            raise CorruptFileError(
                f"{type(self).__name__}: images of shape {self._images.shape} do not match "
                f"labels of shape {self._labels.shape} in {self.root / self.folder}"
            )

    @property
    def data(self) -> Tensor:
        """All images of the split, uint8 (N, 28, 28)."""
        return Tensor._make(self._images, None)

    @property
    def targets(self) -> Tensor:
        """All labels of the split, int64 (N,)."""
        return Tensor._make(self._labels, None)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(
                f"{type(self).__name__}: index {index} is out of range for {len(self)} samples"
            )
        image = Tensor._make(_unit(self._images[index][None]), None)
        target = int(self._labels[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    @property
    def get_batch(self):
        """DataLoader's fast path: a batch ``[images (B, 1, 28, 28), labels (B,)]`` in one fancy
        index. None when transforms are set, as they are written for single samples."""
        if self.transform is None and self.target_transform is None:
            return self._batch
        return None

    def _batch(self, indices: np.ndarray) -> list[Tensor]:
        images = _unit(self._images[indices][:, None])
        return [Tensor._make(images, None), Tensor._make(self._labels[indices], None)]

    def arrays(self, normalize=False) -> tuple[np.ndarray, np.ndarray]:
        """The whole split as float32 images (N, 1, 28, 28) in [0, 1] and int64 labels (N,).

        ``normalize=True`` standardises the pixels with the training set's ``mean`` and ``std``;
        a pair ``(mean, std)`` uses those instead. Transforms are not applied.
        """
        images = _unit(self._images[:, None])
        if normalize is not False:
            mean, std = (self.mean, self.std) if normalize is True else normalize
            images -= np.float32(mean)
            images /= np.float32(std)
        return images, self._labels.copy()

    def tensors(self, normalize=False) -> tuple[Tensor, Tensor]:
        """``arrays(normalize)`` as tensors, for ``TensorDataset(*mnist.tensors())``."""
        images, labels = self.arrays(normalize)
        return Tensor._make(images, None), Tensor._make(labels, None)

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(split={split}, samples={len(self)}, root={self.root})"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 greyscale photos of clothes in 10 classes, MNIST's layout.

    Files live in ``<root>/fashion-mnist/``; everything else is as in ``MNIST``.
    """

    folder = "fashion-mnist"
    urls = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
    checksums = {
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    }
    classes = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
    mean, std = 0.2860, 0.3530

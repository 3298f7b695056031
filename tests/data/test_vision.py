"""MNIST and Fashion-MNIST read from the real idx files in shared/datasets."""

import gzip
import struct

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data.dataloader import DataLoader
from deepgrad.data.datasets import MNIST, CorruptFileError, FashionMNIST, read_idx
from deepgrad.data.transforms import Normalize, OneHot

MNIST_COUNTS = {
    True: [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    False: [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}
FIRST_LABELS = {
    (MNIST, True): [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
    (MNIST, False): [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
    (FashionMNIST, True): [9, 0, 0, 3, 0, 2, 7, 2, 5, 5],
    (FashionMNIST, False): [9, 2, 1, 1, 6, 1, 4, 6, 5, 7],
}
SPLITS = list(FIRST_LABELS)


@pytest.fixture(scope="module")
def loaded(datasets_root):
    """Each split of each data set, read once for the module."""
    return {(cls, train): cls(root=datasets_root, train=train) for cls, train in SPLITS}


@pytest.fixture(scope="module")
def mnist_test(loaded):
    return loaded[MNIST, False]


@pytest.mark.parametrize("cls, train", SPLITS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_shapes_labels_and_histograms(loaded, cls, train):
    ds = loaded[cls, train]
    n = 60000 if train else 10000
    assert len(ds) == n
    assert ds.data.shape == (n, 28, 28) and ds.data.dtype == dg.uint8
    assert ds.targets.shape == (n,) and ds.targets.dtype == dg.int64
    counts = np.bincount(ds.targets.array, minlength=10).tolist()
    if cls is MNIST:
        assert counts == MNIST_COUNTS[train]
    else:
        assert counts == [n // 10] * 10
    assert ds.targets.array[:10].tolist() == FIRST_LABELS[cls, train]
    assert ds.data.array.max() == 255 and ds.data.array.min() == 0
    assert len(ds.classes) == 10


def test_training_pixel_statistics(loaded):
    for cls in (MNIST, FashionMNIST):
        pixels = loaded[cls, True].data.array.reshape(-1)
        mean = pixels.mean(dtype=np.float64) / 255
        scaled = pixels.astype(np.float32) / np.float32(255)
        std = np.sqrt(np.dot(scaled, scaled) / pixels.size - mean**2)
        assert mean == pytest.approx(cls.mean, abs=1e-3) and std == pytest.approx(cls.std, abs=1e-3)


def test_getitem(mnist_test):
    image, label = mnist_test[0]
    assert isinstance(image, dg.Tensor) and image.shape == (1, 28, 28)
    assert image.dtype == dg.float32 and not image.requires_grad
    np.testing.assert_allclose(image.array[0], mnist_test.data.array[0] / 255, rtol=1e-6)
    assert type(label) is int and label == 7
    last, last_label = mnist_test[-1]
    np.testing.assert_array_equal(last.array, mnist_test[9999][0].array)
    assert last_label == mnist_test.targets.array[-1]
    with pytest.raises(IndexError, match="MNIST: index 10000 is out of range for 10000 samples"):
        mnist_test[10000]


def test_transforms_are_applied(datasets_root):
    ds = MNIST(datasets_root, train=False, transform=Normalize(0.5, 0.25),
               target_transform=OneHot(10))
    image, target = ds[1]
    raw = ds.data.array[1] / 255
    np.testing.assert_allclose(image.array[0], (raw - 0.5) / 0.25, rtol=1e-5, atol=1e-6)
    assert image.dtype == dg.float32
    np.testing.assert_array_equal(target.array, np.eye(10, dtype=np.float32)[2])
    assert ds.get_batch is None


def test_arrays_and_tensors(mnist_test):
    images, labels = mnist_test.arrays()
    assert images.shape == (10000, 1, 28, 28) and images.dtype == np.float32
    assert labels.dtype == np.int64 and labels.shape == (10000,)
    np.testing.assert_allclose(images[5, 0], mnist_test.data.array[5] / 255, rtol=1e-6)
    normalized, _ = mnist_test.arrays(normalize=True)
    assert normalized.dtype == np.float32
    expected = (images[:500] - MNIST.mean) / MNIST.std
    np.testing.assert_allclose(normalized[:500], expected, rtol=1e-5, atol=1e-5)
    custom, _ = mnist_test.arrays(normalize=(0.5, 0.5))
    assert custom[:500].min() == -1 and custom[:500].max() == 1
    x, y = mnist_test.tensors(normalize=True)
    assert x.dtype == dg.float32 and y.dtype == dg.int64 and x.shape == (10000, 1, 28, 28)


def test_fast_path_batches_equal_samples(mnist_test):
    indices = np.array([3, 0, 9999, 17])
    images, labels = mnist_test.get_batch(indices)
    for row, i in enumerate(indices):
        image, label = mnist_test[int(i)]
        np.testing.assert_array_equal(images.array[row], image.array)
        assert labels.array[row] == label
    assert images.dtype == dg.float32 and labels.dtype == dg.int64


def test_data_loader_over_mnist(mnist_test):
    x, y = next(iter(DataLoader(mnist_test, batch_size=64)))
    images, labels = mnist_test.arrays()
    assert x.shape == (64, 1, 28, 28) and x.dtype == dg.float32
    np.testing.assert_array_equal(x.array, images[:64])
    np.testing.assert_array_equal(y.array, labels[:64])


def test_classes(loaded):
    fashion = loaded[FashionMNIST, True]
    assert fashion.classes[9] == "Ankle boot" and fashion.class_to_idx["Trouser"] == 1
    assert loaded[MNIST, True].classes[3] == "3 - three"
    assert "FashionMNIST(split=train, samples=60000" in repr(fashion)


def _write_idx(path, magic: bytes, dims, payload: bytes):
    with gzip.open(path, "wb") as f:
        f.write(magic + struct.pack(f">{len(dims)}I", *dims) + payload)


def test_read_idx(tmp_path):
    path = tmp_path / "ok.gz"
    _write_idx(path, b"\x00\x00\x08\x03", (2, 3, 4), bytes(range(24)))
    np.testing.assert_array_equal(read_idx(path), np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


def test_read_idx_rejects_bad_files(tmp_path):
    not_gzip = tmp_path / "plain.gz"
    not_gzip.write_bytes(b"not gzip at all")
    with pytest.raises(CorruptFileError, match="plain.gz is not a readable gzip file"):
        read_idx(not_gzip)
    wrong_type = tmp_path / "float.gz"
    _write_idx(wrong_type, b"\x00\x00\x0d\x01", (2,), bytes(8))
    with pytest.raises(CorruptFileError, match="float.gz is not an idx file of unsigned bytes"):
        read_idx(wrong_type)
    short = tmp_path / "short.gz"
    _write_idx(short, b"\x00\x00\x08\x02", (3, 4), bytes(11))
    with pytest.raises(CorruptFileError, match=r"announces shape \(3, 4\) \(12 bytes\) but 11"):
        read_idx(short)
    truncated = tmp_path / "truncated.gz"
    _write_idx(truncated, b"\x00\x00\x08\x01", (4000,), bytes(range(256)) * 16)
    truncated.write_bytes(truncated.read_bytes()[:-20])
    with pytest.raises(CorruptFileError, match="truncated.gz is not a readable gzip file"):
        read_idx(truncated)

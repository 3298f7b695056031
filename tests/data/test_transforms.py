"""Transforms on single samples and on whole batches, arrays and tensors alike."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.data.transforms import (
    Compose,
    Normalize,
    OneHot,
    RandomCrop,
    RandomHorizontalFlip,
    ToTensor,
    TransformedLoader,
)


def _images(*shape, dtype=np.float32):
    return np.random.default_rng(0).random(shape).astype(dtype)


def test_to_tensor():
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = ToTensor()(pixels)
    assert isinstance(out, dg.Tensor) and out.shape == (1, 3, 4) and out.dtype == dg.float32
    np.testing.assert_allclose(out.array[0], pixels / 255, rtol=1e-6)
    batch = ToTensor()(np.full((2, 3, 4, 4), 255, dtype=np.uint8))
    assert batch.shape == (2, 3, 4, 4) and (batch.array == 1).all()
    assert ToTensor()(np.zeros((1, 2, 2))).dtype == dg.float32  # float64 is not kept
    assert ToTensor()(dg.zeros(1, 2, 2)).shape == (1, 2, 2)
    with pytest.raises(TypeError, match="ToTensor: expected uint8 or floating images, got int32"):
        ToTensor()(np.zeros((2, 2), dtype=np.int32))


def test_normalize_single_and_batch():
    mean, std = [0.1, 0.2, 0.3], [0.5, 1.0, 2.0]
    norm = Normalize(mean, std)
    image = _images(3, 4, 5)
    expected = (image - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    out = norm(image)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    batch = _images(6, 3, 4, 5)
    out = norm(dg.from_numpy(batch))
    assert isinstance(out, dg.Tensor) and out.dtype == dg.float32 and out.shape == (6, 3, 4, 5)
    np.testing.assert_allclose(out.array[2], norm(batch[2]), rtol=1e-6)
    scalar = Normalize(0.5, 0.25)(batch)
    np.testing.assert_allclose(scalar, (batch - 0.5) / 0.25, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(batch, _images(6, 3, 4, 5))  # input untouched


def test_normalize_inplace():
    image = _images(1, 2, 2)
    out = Normalize(0.5, 0.5, inplace=True)(image)
    assert out is image
    np.testing.assert_allclose(image, (_images(1, 2, 2) - 0.5) / 0.5, rtol=1e-6)


def test_normalize_errors():
    with pytest.raises(ValueError, match=r"input of shape \(2, 4, 4\) has 2 channel\(s\) but mean"):
        Normalize([0.1, 0.2, 0.3], 1.0)(_images(2, 4, 4))
    with pytest.raises(ValueError, match=r"Normalize: std must not contain zero, got \[1.0, 0.0\]"):
        Normalize(0.0, [1.0, 0.0])
    with pytest.raises(TypeError, match="expected floating images, got uint8; apply ToTensor"):
        Normalize(0.5, 0.5)(np.zeros((1, 2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"image \(C, H, W\) or a batch .* got shape \(4, 4\)"):
        Normalize(0.5, 0.5)(_images(4, 4))


def test_one_hot():
    out = OneHot(4)(2)
    assert isinstance(out, dg.Tensor) and out.dtype == dg.float32
    np.testing.assert_array_equal(out.array, [0, 0, 1, 0])
    labels = np.array([[0, 3, 1], [2, 2, 0]])
    out = OneHot(4)(labels)
    assert isinstance(out, np.ndarray) and out.shape == (2, 3, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out.argmax(-1), labels)
    assert (out.sum(-1) == 1).all()
    tensor_out = OneHot(4)(dg.tensor([1, 3]))
    assert isinstance(tensor_out, dg.Tensor) and tensor_out.shape == (2, 4)
    with pytest.raises(ValueError, match="OneHot: label 5 is out of range for num_classes=4"):
        OneHot(4)(np.array([1, 5]))
    with pytest.raises(ValueError, match="OneHot: label -1 is out of range"):
        OneHot(4)(-1)
    with pytest.raises(TypeError, match="OneHot: labels must be integers, got float32"):
        OneHot(4)(np.array([1.0], dtype=np.float32))
    with pytest.raises(ValueError, match="OneHot: num_classes must be a positive integer, got 0"):
        OneHot(0)


def _window_offsets(padded: np.ndarray, crop: np.ndarray) -> list[tuple[int, int]]:
    """Every (top, left) at which ``crop`` sits in ``padded`` (C, H, W)."""
    h, w = crop.shape[-2:]
    return [
        (i, j)
        for i in range(padded.shape[-2] - h + 1)
        for j in range(padded.shape[-1] - w + 1)
        if np.array_equal(padded[:, i:i + h, j:j + w], crop)
    ]


def test_random_crop_batch_takes_one_window_per_sample():
    batch = _images(32, 2, 6, 6)
    out = RandomCrop(6, padding=2)(batch)
    assert out.shape == (32, 2, 6, 6) and out.dtype == np.float32
    padded = np.pad(batch, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = set()
    for n in range(32):
        found = _window_offsets(padded[n], out[n])
        assert found, f"sample {n} is not a window of its padded image"
        offsets.add(found[0])
    assert len(offsets) > 5  # each sample draws its own offset


def test_random_crop_single_sample_tensor_and_seed():
    image = dg.from_numpy(_images(3, 8, 8))
    dg.manual_seed(5)
    first = RandomCrop((4, 5))(image)
    assert isinstance(first, dg.Tensor) and first.shape == (3, 4, 5)
    assert _window_offsets(image.array, first.array)
    dg.manual_seed(5)
    np.testing.assert_array_equal(RandomCrop((4, 5))(image).array, first.array)
    same = RandomCrop(8)(image.array)
    np.testing.assert_array_equal(same, image.array)


def test_random_crop_padding_forms_and_modes():
    image = _images(1, 4, 4)
    out = RandomCrop((4, 4), padding=(1, 0, 0, 0), fill=7.0)(np.repeat(image[None], 50, 0))
    left_padded = (out[:, 0, :, 0] == 7).all(axis=1)
    assert left_padded.any() and not left_padded.all()  # shifted by 0 or 1 column
    np.testing.assert_array_equal(out[left_padded][:, 0, :, 1:], np.broadcast_to(
        image[0, :, :3], (left_padded.sum(), 4, 3)))
    for mode in ("edge", "reflect", "symmetric"):
        out = RandomCrop(4, padding=1, padding_mode=mode)(image)
        assert _window_offsets(np.pad(image, ((0, 0), (1, 1), (1, 1)), mode=mode), out)


def test_random_crop_errors():
    with pytest.raises(ValueError, match=r"crop size \(9, 9\) is larger than the padded image "
                                         r"\(6, 6\) of input shape \(1, 4, 4\)"):
        RandomCrop(9, padding=1)(_images(1, 4, 4))
    with pytest.raises(ValueError, match="RandomCrop: padding must be non-negative"):
        RandomCrop(4, padding=(1, 2, 3))
    with pytest.raises(ValueError, match="RandomCrop: unknown padding_mode 'wrap'"):
        RandomCrop(4, padding_mode="wrap")
    with pytest.raises(ValueError, match=r"RandomCrop: expected an image .* got shape \(4, 4\)"):
        RandomCrop(2)(_images(4, 4))


def test_random_horizontal_flip():
    batch = _images(200, 1, 3, 4)
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(batch), batch[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(batch), batch)
    out = RandomHorizontalFlip()(batch)
    flipped = (out == batch[..., ::-1]).all(axis=(1, 2, 3))
    kept = (out == batch).all(axis=(1, 2, 3))
    assert (flipped ^ kept).all() and 60 < flipped.sum() < 140
    image = dg.from_numpy(batch[0])
    out = RandomHorizontalFlip(p=1.0)(image)
    assert isinstance(out, dg.Tensor)
    np.testing.assert_array_equal(out.array, batch[0][..., ::-1])
    with pytest.raises(ValueError, match=r"RandomHorizontalFlip: p must be in \[0, 1\], got 2"):
        RandomHorizontalFlip(p=2)


def test_compose_pipeline_on_a_uint8_batch():
    pipeline = Compose([ToTensor(), RandomCrop(8, padding=2), RandomHorizontalFlip(),
                        Normalize(0.5, 0.5)])
    pixels = np.random.default_rng(0).integers(0, 256, (16, 1, 8, 8), dtype=np.uint8)
    dg.manual_seed(3)
    out = pipeline(pixels)
    assert isinstance(out, dg.Tensor) and out.shape == (16, 1, 8, 8) and out.dtype == dg.float32
    assert out.array.min() >= -1 and out.array.max() <= 1
    dg.manual_seed(3)
    np.testing.assert_array_equal(pipeline(pixels).array, out.array)
    assert "RandomCrop(size=(8, 8), padding=(2, 2, 2, 2))" in repr(pipeline)


def test_transformed_loader_augments_inputs_and_keeps_targets():
    x = np.arange(10 * 16, dtype=np.float32).reshape(10, 1, 4, 4)
    y = np.arange(10)
    loader = TransformedLoader(DataLoader(TensorDataset(x, y), batch_size=4),
                               RandomHorizontalFlip(p=1.0))
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4, 1, 4, 4), (4, 1, 4, 4), (2, 1, 4, 4)]
    np.testing.assert_array_equal(np.concatenate([b[0].array for b in batches]), x[..., ::-1])
    np.testing.assert_array_equal(np.concatenate([b[1].array for b in batches]), y)


def test_transformed_loader_draws_new_augmentations_each_pass_and_repeats_with_seed():
    x = _images(64, 1, 6, 6)
    loader = TransformedLoader(DataLoader(TensorDataset(x, np.zeros(64, dtype=np.int64)),
                                          batch_size=64), RandomCrop(6, padding=2))
    dg.manual_seed(5)
    first, second = (next(iter(loader))[0].array for _ in range(2))
    assert not np.array_equal(first, second)
    dg.manual_seed(5)
    np.testing.assert_array_equal(next(iter(loader))[0].array, first)


def test_transformed_loader_errors():
    with pytest.raises(TypeError, match="TransformedLoader: transform must be callable, got int"):
        TransformedLoader([], 3)
    with pytest.raises(TypeError, match="batches must be .* got Tensor"):
        list(TransformedLoader([dg.zeros(2, 1, 3, 3)], RandomHorizontalFlip()))

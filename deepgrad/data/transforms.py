"""Data transforms: scaling, normalisation, one-hot labels and random augmentations.

Every transform takes one sample (an image (C, H, W)) or a whole batch (N, C, H, W) at once,
vectorised, and gives back the kind it got: a NumPy array stays an array, a tensor stays a tensor.
Random transforms draw from deepgrad's generator, so ``deepgrad.manual_seed`` makes them
repeatable; on a batch each sample gets its own draw.
"""

from __future__ import annotations

import numpy as np

from deepgrad.backend import rng
from deepgrad.tensor import Tensor

__all__ = ["Compose", "Normalize", "OneHot", "RandomCrop", "RandomHorizontalFlip", "ToTensor",
           "TransformedLoader"]


def _apply(x, fn):
    """Run an array function on an array or a tensor, returning the same kind."""
    if isinstance(x, Tensor):
        return Tensor._make(fn(x.array), None)
    return fn(np.asarray(x))


def _image(name: str, x: np.ndarray) -> np.ndarray:
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{name}: expected an image (C, H, W) or a batch (N, C, H, W), got shape {x.shape}"
        )
    return x


class Compose:
    """Apply transforms one after another: ``Compose([ToTensor(), Normalize(0.5, 0.5)])``."""

    def __init__(self, transforms) -> None:
        self.transforms = list(transforms)

    def __call__(self, x):
        for transform in self.transforms:
            x = transform(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class ToTensor:
    """Images as float32 tensors: uint8 pixels are scaled from [0, 255] to [0, 1].

    An image (H, W) gets a channel axis, (1, H, W); (C, H, W) and batches (N, C, H, W) keep their
    layout (unlike torchvision's, which moves channels first from (H, W, C): deepgrad's images are
    channels-first throughout).
    """

    def __call__(self, x) -> Tensor:
        x = x.array if isinstance(x, Tensor) else np.asarray(x)
        if x.ndim == 2:
            x = x[None]
        if x.dtype == np.uint8:
            return Tensor._make(x.astype(np.float32) / np.float32(255), None)
        if x.dtype.kind != "f":
            raise TypeError(f"ToTensor: expected uint8 or floating images, got {x.dtype}")
        return Tensor._make(x.astype(np.float32, copy=False), None)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """``(x - mean) / std`` per channel; ``mean`` and ``std``: a number or one per channel."""

    def __init__(self, mean, std, inplace: bool = False) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError("Normalize: mean and std must be numbers or sequences of numbers")
        if (self.std == 0).any():
            raise ValueError(f"Normalize: std must not contain zero, got {self.std.tolist()}")
        self.inplace = inplace

    def __call__(self, x):
        return _apply(x, self._normalize)

    def _normalize(self, x: np.ndarray) -> np.ndarray:
        x = _image("Normalize", x)
        if x.dtype.kind != "f":
            raise TypeError(f"Normalize: expected floating images, got {x.dtype}; apply ToTensor")
        channels = x.shape[-3]
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, channels):
                raise ValueError(
                    f"Normalize: input of shape {x.shape} has {channels} channel(s) "
                    f"but {name} has {len(values)} values"
                )
        mean = self.mean.astype(x.dtype)[:, None, None]
        std = self.std.astype(x.dtype)[:, None, None]
        out = x if self.inplace else None
        out = np.subtract(x, mean, out=out)
        return np.divide(out, std, out=out)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class OneHot:
    """Class labels (an int, or integers of any shape) as float32 one-hot rows (..., num_classes).

    An int gives a tensor; arrays and tensors give their own kind.
    """

    def __init__(self, num_classes: int) -> None:
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"OneHot: num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = int(num_classes)

    def __call__(self, labels):
        if isinstance(labels, (int, np.integer)):
            return Tensor._make(self._encode(np.asarray(labels)), None)
        return _apply(labels, self._encode)

    def _encode(self, labels: np.ndarray) -> np.ndarray:
        if labels.dtype.kind not in "iu":
            raise TypeError(f"OneHot: labels must be integers, got {labels.dtype}")
        bad = (labels < 0) | (labels >= self.num_classes)
        if bad.any():
            raise ValueError(
                f"OneHot: label {labels[bad].flat[0]} is out of range for "
                f"num_classes={self.num_classes}"
            )
        return np.eye(self.num_classes, dtype=np.float32)[labels]

    def __repr__(self) -> str:
        return f"OneHot(num_classes={self.num_classes})"


class RandomCrop:
    """Crop a random ``size`` window, after padding each side by ``padding`` pixels.

    ``size`` is an int (square) or (height, width); ``padding`` an int, (left/right, top/bottom)
    or (left, top, right, bottom), as in torchvision. ``padding_mode`` is one of NumPy's pad modes
    "constant" (with ``fill``), "edge", "reflect" or "symmetric".
    """

    def __init__(self, size, padding=None, fill: float = 0, padding_mode: str = "constant"):
        self.size = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
        if len(self.size) != 2 or min(self.size) < 1:
            raise ValueError(f"RandomCrop: size must be positive, int or (h, w), got {size!r}")
        self.padding = _padding(padding)
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(f"RandomCrop: unknown padding_mode {padding_mode!r}")
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, x):
        return _apply(x, self._crop)

    def _crop(self, x: np.ndarray) -> np.ndarray:
        x = _image("RandomCrop", x)
        batch = x if x.ndim == 4 else x[None]
        left, top, right, bottom = self.padding
        if any(self.padding):
            pad = ((0, 0), (0, 0), (top, bottom), (left, right))
            extra = {"constant_values": self.fill} if self.padding_mode == "constant" else {}
            batch = np.pad(batch, pad, mode=self.padding_mode, **extra)
        h, w = self.size
        n, _, height, width = batch.shape
        if h > height or w > width:
            raise ValueError(
                f"RandomCrop: crop size {self.size} is larger than the padded image "
                f"({height}, {width}) of input shape {x.shape}"
            )
        gen = rng()
        i = gen.integers(0, height - h + 1, n)
        j = gen.integers(0, width - w + 1, n)
        windows = np.lib.stride_tricks.sliding_window_view(batch, (h, w), axis=(2, 3))
        out = windows[np.arange(n), :, i, j]  # (n, C, h, w): each sample its own window
        return out if x.ndim == 4 else out[0]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


def _padding(padding) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) from torchvision's forms of ``padding``."""
    if padding is None:
        return (0, 0, 0, 0)
    values = (padding,) if isinstance(padding, (int, np.integer)) else tuple(padding)
    if len(values) not in (1, 2, 4) or min(values) < 0:
        raise ValueError(
            f"RandomCrop: padding must be non-negative, an int or a sequence of 2 or 4, "
            f"got {padding!r}"
        )
    if len(values) == 1:
        return values * 4
    if len(values) == 2:
        return values * 2
    return values


class RandomHorizontalFlip:
    """Mirror images left-right with probability ``p`` (each sample of a batch on its own)."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, x):
        return _apply(x, self._flip)

    def _flip(self, x: np.ndarray) -> np.ndarray:
        x = _image("RandomHorizontalFlip", x)
        if x.ndim == 3:
            return x[..., ::-1].copy() if rng().random() < self.p else x
        flip = rng().random(x.shape[0]) < self.p
        return np.where(flip[:, None, None, None], x[..., ::-1], x)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class TransformedLoader:
    """Batches of ``loader`` with ``transform`` applied to their inputs (the first item), one
    vectorised call per batch: augmentation at the cost of a few array operations per batch
    instead of a Python call per image. ``len`` and iteration follow the wrapped loader.

    ``TransformedLoader(DataLoader(train, 128, shuffle=True), Compose([RandomCrop(28, 2),
    RandomHorizontalFlip()]))``
    """

    def __init__(self, loader, transform) -> None:
        if not callable(transform):
            raise TypeError(f"TransformedLoader: transform must be callable, got "
                            f"{type(transform).__name__}")
        self.loader, self.transform = loader, transform

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            if not isinstance(batch, (tuple, list)) or not batch:
                raise TypeError(f"TransformedLoader: batches must be (inputs, ...) tuples or "
                                f"lists, got {type(batch).__name__}")
            yield [self.transform(batch[0]), *batch[1:]]

    def __repr__(self) -> str:
        return f"TransformedLoader({self.loader!r}, {self.transform!r})"

"""Generated 2-D data sets, as in the TensorFlow Playground: no files, so they always work offline.

Each function returns a pair ``(features, labels)``: float32 features of shape (n_samples, 2) and
int64 labels of shape (n_samples,), ready for ``TensorDataset(*pair)``. Classes are as balanced as
``n_samples`` allows and the samples come shuffled. ``noise`` is the standard deviation of
Gaussian noise added to every point. ``seed`` makes a set reproducible on its own; without it the
points are drawn from deepgrad's generator (``deepgrad.manual_seed``).
"""

from __future__ import annotations

import math

import numpy as np

from deepgrad.backend import generator
from deepgrad.tensor import Tensor

__all__ = ["blobs", "circles", "moons", "spirals", "xor"]


def circles(
    n_samples: int = 200, noise: float = 0.0, factor: float = 0.5, seed: int | None = None
) -> tuple[Tensor, Tensor]:
    """Two concentric circles: radius 1 (class 0) and radius ``factor`` (class 1)."""
    if not 0 < factor < 1:
        raise ValueError(f"circles: factor must be in (0, 1), got {factor}")
    gen, labels = _start("circles", n_samples, noise, 2, seed)
    angle = gen.uniform(0, 2 * math.pi, n_samples)
    radius = np.where(labels == 0, 1.0, factor)
    points = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return _finish(points, labels, noise, gen)


def moons(
    n_samples: int = 200, noise: float = 0.0, seed: int | None = None
) -> tuple[Tensor, Tensor]:
    """Two interleaving half circles: the upper (class 0) and the lower, shifted one (class 1)."""
    gen, labels = _start("moons", n_samples, noise, 2, seed)
    angle = gen.uniform(0, math.pi, n_samples)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    points = np.where((labels == 0)[:, None], upper, lower)
    return _finish(points, labels, noise, gen)


def spirals(
    n_samples: int = 200,
    noise: float = 0.0,
    n_classes: int = 2,
    turns: float = 1.0,
    seed: int | None = None,
) -> tuple[Tensor, Tensor]:
    """``n_classes`` interleaved spiral arms around the origin, each winding ``turns`` times."""
    if turns <= 0:
        raise ValueError(f"spirals: turns must be positive, got {turns}")
    gen, labels = _start("spirals", n_samples, noise, n_classes, seed)
    t = gen.uniform(0, 1, n_samples)  # position along the arm: radius grows from 0 to 1
    angle = 2 * math.pi * (turns * t + labels / n_classes)
    points = t[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return _finish(points, labels, noise, gen)


def xor(n_samples: int = 200, noise: float = 0.0, seed: int | None = None) -> tuple[Tensor, Tensor]:
    """Points in the square [-1, 1]^2; class 1 where x and y have different signs."""
    gen, labels = _start("xor", n_samples, noise, 2, seed)
    magnitude = gen.uniform(0.05, 1, (n_samples, 2))  # a margin keeps points off the axes
    sign_x = gen.choice([-1.0, 1.0], n_samples)
    sign_y = np.where(labels == 1, -sign_x, sign_x)
    points = magnitude * np.stack([sign_x, sign_y], axis=1)
    return _finish(points, labels, noise, gen)


def blobs(
    n_samples: int = 200,
    noise: float = 1.0,
    centers=3,
    center_box: tuple[float, float] = (-10.0, 10.0),
    seed: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Gaussian blobs of standard deviation ``noise``, class k around ``centers[k]``.

    ``centers`` is a number of blobs (centres drawn uniformly in ``center_box``) or a list of
    (x, y) centres.
    """
    k = centers if _is_int(centers) else len(centers)
    gen, labels = _start("blobs", n_samples, noise, k, seed)
    if _is_int(centers):
        centers = gen.uniform(*center_box, (k, 2))
    centers = np.asarray(centers, dtype=np.float64)
    if centers.shape != (k, 2):
        raise ValueError(f"blobs: centers must have shape (n_classes, 2), got {centers.shape}")
    return _finish(centers[labels], labels, noise, gen)


def _start(name: str, n_samples: int, noise: float, n_classes: int, seed: int | None):
    """Check the common arguments; the generator and the balanced, shuffled labels."""
    if not _is_int(n_samples) or n_samples < 1:
        raise ValueError(f"{name}: n_samples must be a positive integer, got {n_samples!r}")
    if noise < 0:
        raise ValueError(f"{name}: noise must be >= 0, got {noise}")
    if not _is_int(n_classes) or n_classes < 1:
        raise ValueError(f"{name}: the number of classes must be positive, got {n_classes!r}")
    gen = generator(seed)
    labels = gen.permutation(np.arange(n_samples) % n_classes)
    return gen, labels.astype(np.int64)


def _finish(points, labels, noise: float, gen) -> tuple[Tensor, Tensor]:
    if noise:
        points = points + gen.normal(0.0, noise, points.shape)
    return Tensor._make(points.astype(np.float32), None), Tensor._make(labels, None)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

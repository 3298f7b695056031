"""Generated 2-D data sets: shapes, dtypes, balance, geometry, reproducibility, errors."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data.dataset import TensorDataset
from deepgrad.data.datasets import blobs, circles, moons, spirals, xor

ALL = [circles, moons, spirals, xor, blobs]


@pytest.mark.parametrize("make", ALL, ids=lambda f: f.__name__)
def test_shapes_dtypes_and_balance(make):
    x, y = make(101, noise=0.1, seed=3)
    assert x.shape == (101, 2) and x.dtype == dg.float32
    assert y.shape == (101,) and y.dtype == dg.int64
    counts = np.bincount(y.array)
    assert counts.max() - counts.min() <= 1
    assert np.isfinite(x.array).all()
    assert not x.requires_grad
    assert len(TensorDataset(x, y)) == 101


@pytest.mark.parametrize("make", ALL, ids=lambda f: f.__name__)
def test_seed_reproduces_and_rng_follows_manual_seed(make):
    a, b = make(50, noise=0.2, seed=7), make(50, noise=0.2, seed=7)
    np.testing.assert_array_equal(a[0].array, b[0].array)
    np.testing.assert_array_equal(a[1].array, b[1].array)
    other = make(50, noise=0.2, seed=8)
    assert not np.array_equal(a[0].array, other[0].array)
    dg.manual_seed(1)
    first, second = make(50, noise=0.2), make(50, noise=0.2)
    assert not np.array_equal(first[0].array, second[0].array)  # draws advance deepgrad's rng
    dg.manual_seed(1)
    np.testing.assert_array_equal(make(50, noise=0.2)[0].array, first[0].array)


@pytest.mark.parametrize("make", ALL, ids=lambda f: f.__name__)
def test_samples_are_shuffled(make):
    _, y = make(200, seed=0)
    k = y.array.max() + 1
    assert not np.array_equal(y.array, np.arange(200) % k)
    assert not np.array_equal(y.array, np.sort(y.array))


def test_circles_radii():
    x, y = circles(300, factor=0.3, seed=0)
    radius = np.linalg.norm(x.array, axis=1)
    np.testing.assert_allclose(radius[y.array == 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(radius[y.array == 1], 0.3, rtol=1e-6)


def test_moons_geometry():
    x, y = moons(300, seed=0)
    upper, lower = x.array[y.array == 0], x.array[y.array == 1]
    np.testing.assert_allclose(np.linalg.norm(upper, axis=1), 1.0, rtol=1e-6)
    assert (upper[:, 1] >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(lower - [1.0, 0.5], axis=1), 1.0, rtol=1e-6)
    assert (lower[:, 1] <= 0.5 + 1e-6).all()


def test_spirals_arms():
    x, y = spirals(300, n_classes=3, turns=1.0, seed=0)
    assert set(np.unique(y.array)) == {0, 1, 2}
    radius = np.linalg.norm(x.array, axis=1)
    assert radius.max() <= 1 + 1e-6
    # on arm k the angle is 2*pi*(r + k/3): recover k from the point
    angle = np.arctan2(x.array[:, 1], x.array[:, 0])
    arm = np.round(((angle / (2 * np.pi) - radius) * 3) % 3) % 3
    np.testing.assert_array_equal(arm[radius > 1e-3], y.array[radius > 1e-3])


def test_xor_quadrants():
    x, y = xor(400, seed=0)
    product = x.array[:, 0] * x.array[:, 1]
    np.testing.assert_array_equal(product < 0, y.array == 1)
    assert np.abs(x.array).min() >= 0.05 and np.abs(x.array).max() <= 1


def test_blobs_centres_and_spread():
    centers = [(-4.0, 0.0), (4.0, 0.0), (0.0, 6.0)]
    x, y = blobs(3000, noise=0.5, centers=centers, seed=0)
    for k, c in enumerate(centers):
        points = x.array[y.array == k]
        np.testing.assert_allclose(points.mean(axis=0), c, atol=0.06)
        np.testing.assert_allclose(points.std(axis=0), 0.5, atol=0.05)
    x, y = blobs(40, centers=4, seed=0)
    assert set(np.unique(y.array)) == {0, 1, 2, 3}


def test_noise_moves_points():
    clean, _ = circles(100, seed=0)
    noisy, _ = circles(100, noise=0.1, seed=0)
    spread = np.linalg.norm(noisy.array, axis=1) - np.linalg.norm(clean.array, axis=1)
    assert 0.02 < np.abs(spread).mean() < 0.2


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: circles(0), "circles: n_samples must be a positive integer, got 0"),
        (lambda: moons(10.5), "moons: n_samples must be a positive integer"),
        (lambda: xor(10, noise=-1), "xor: noise must be >= 0, got -1"),
        (lambda: circles(10, factor=1.5), r"circles: factor must be in \(0, 1\)"),
        (lambda: spirals(10, n_classes=0), "spirals: the number of classes must be positive"),
        (lambda: spirals(10, turns=0), "spirals: turns must be positive"),
        (lambda: blobs(10, centers=[(0, 0, 0)]), r"blobs: centers must have shape"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()

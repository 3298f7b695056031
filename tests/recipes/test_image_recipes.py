"""The convolutional image recipes (mnist-cnn, fashion-resnet) on the real files: what they
build, how they augment, and the plots they draw."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data.datasets import MNIST, FashionMNIST
from deepgrad.data.transforms import TransformedLoader
from deepgrad.recipes import get, resolve


def build(name, datasets_root, **overrides):
    recipe = get(name)
    config = resolve(recipe, {"data_dir": str(datasets_root), **overrides})
    dg.manual_seed(0)
    return recipe, config, recipe.build(config)


def background(dataset):
    return np.float32(-dataset.mean / dataset.std)


def test_fashion_resnet_builds_resnet20_sgd_one_cycle_and_augmented_batches(datasets_root):
    _, config, setup = build("fashion-resnet", datasets_root, epochs=3)
    # one input channel: 288 conv1 weights fewer than the RGB model's 269,722
    assert sum(p.numel() for p in setup.model.parameters()) == 269_434
    assert isinstance(setup.train, TransformedLoader) and len(setup.train) == 430  # 55,000/128
    assert len(setup.val.dataset) == 5000 and len(setup.test.dataset) == 10000
    group = setup.optimizer.param_groups[0]
    assert group["nesterov"] and group["weight_decay"] == 5e-4
    schedule = setup.callbacks[0].scheduler
    assert setup.callbacks[0].per == "batch" and schedule.total_steps == 3 * 430
    assert group["lr"] == pytest.approx(config["lr"] / 25)  # one-cycle starts low
    x, y = next(iter(setup.train))
    assert x.shape == (128, 1, 28, 28) and y.shape == (128,)
    # shifted images bring in background (a black pixel, normalised) at their borders
    border = np.concatenate([x.array[:, 0, :2].ravel(), x.array[:, 0, -2:].ravel()])
    assert np.isclose(border, background(FashionMNIST)).mean() > 0.5
    assert x.array.min() >= background(FashionMNIST) - 1e-6


def test_mnist_cnn_shifts_its_training_digits_only(datasets_root):
    _, _, setup = build("mnist-cnn", datasets_root)
    assert isinstance(setup.train, TransformedLoader)
    x, _ = next(iter(setup.train))
    assert np.isclose(x.array.min(), background(MNIST))
    raw = setup.train.loader.dataset.tensors[0].array[:64]
    out = setup.train.transform(raw)
    padded = np.pad(raw, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=background(MNIST))
    shifts = []
    for image, moved in zip(padded, out):  # each output is its digit moved by <= 2 pixels
        found = [(i, j) for i in range(5) for j in range(5)
                 if np.array_equal(image[:, i:i + 28, j:j + 28], moved)]
        assert found
        shifts.append(found[0])
    assert len(set(shifts)) > 10  # a separate random shift per image
    xv, _ = next(iter(setup.val))
    np.testing.assert_array_equal(xv.array, setup.val.dataset.tensors[0].array[:500])
    _, _, plain = build("mnist-cnn", datasets_root, shift=0)
    assert not isinstance(plain.train, TransformedLoader)


@pytest.mark.parametrize("name, layers", [
    ("mnist-cnn", ["conv1", "conv2"]),
    ("fashion-resnet", ["conv1", "layer1", "layer2", "layer3"]),
])
def test_recipe_plots_filters_feature_maps_and_mistakes(name, layers, datasets_root, tmp_path):
    pytest.importorskip("matplotlib")
    recipe, config, setup = build(name, datasets_root)
    x, y = next(iter(setup.test))
    setup.test = [(x[:40], y[:40])]  # an untrained model gets most of them wrong
    paths = recipe.plots(setup, config, tmp_path)
    names = {p.name for p in paths}
    assert {"confusion_matrix.png", "misclassified.png", "filters.png",
            "feature_maps.png"} <= names
    for path in paths:
        assert path.read_bytes().startswith(b"\x89PNG")


def test_predict_input_normalises_with_the_datasets_statistics():
    pixels = np.zeros((2, 28, 28), dtype=np.uint8)
    for name, dataset in (("mnist-cnn", MNIST), ("fashion-resnet", FashionMNIST)):
        x = get(name).predict_input(pixels)
        assert x.shape == (2, 1, 28, 28)
        np.testing.assert_allclose(x.array, background(dataset), rtol=1e-6)

"""mnist-cnn: the classic two-convolution MNIST network, on the official 10,000 test images.

Conv(1, 32, 3)-ReLU-Conv(32, 64, 3)-ReLU-MaxPool(2)-Dropout-Linear(9216, 128)-ReLU-Dropout-
Linear(128, 10), trained with Adam and a cosine schedule on digits shifted at random by up to
``shift`` pixels (a fresh shift for every image in every epoch); the training set's last 5,000
images are held out for choosing the best checkpoint. Needs the original MNIST files.
"""

from __future__ import annotations

from deepgrad.models import MnistCNN
from deepgrad.recipes.base import Recipe, Setup
from deepgrad.recipes.images import mnist_input, mnist_setup
from deepgrad.recipes.images import plots as mnist_plots

DEFAULTS = dict(epochs=10, lr=1e-3, batch_size=128, seed=0, n_val=5000, shift=2,
                label_smoothing=0.0, data_dir=None)
INPUT_SHAPE = (1, 28, 28)


def build_model(config: dict):
    return MnistCNN()


def build(config: dict) -> Setup:
    return mnist_setup(config, build_model(config), INPUT_SHAPE)


def plots(setup: Setup, config: dict, out) -> list:
    """The MNIST plots, the first layer's filters and the feature maps of one test digit."""
    return mnist_plots(setup, config, out) + conv_plots(setup, out, ["conv1", "conv2"])


def conv_plots(setup: Setup, out, layers: list) -> list:
    """Filters of the model's conv1 and the feature maps of the first test image at layers."""
    from deepgrad.viz.features import plot_feature_maps, plot_filters

    paths = [out / "filters.png", out / "feature_maps.png"]
    plot_filters(setup.model.conv1, path=paths[0])
    image = next(iter(setup.test))[0][0]
    plot_feature_maps(setup.model, image, layers, path=paths[1])
    return paths


recipe = Recipe(name="mnist-cnn", description=__doc__.strip().splitlines()[0], defaults=DEFAULTS,
                model=build_model, build=build, plots=plots,
                predict_input=lambda images: mnist_input(images, INPUT_SHAPE))

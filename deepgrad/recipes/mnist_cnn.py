"""mnist-cnn: the classic two-convolution MNIST network, on the official 10,000 test images.

Conv(1, 32, 3)-ReLU-Conv(32, 64, 3)-ReLU-MaxPool(2)-Dropout-Linear(9216, 128)-ReLU-Dropout-
Linear(128, 10), trained with Adam and a cosine schedule; the training set's last 5,000 images
are held out for choosing the best checkpoint. Needs the original MNIST files.
"""

from __future__ import annotations

from deepgrad.models import MnistCNN
from deepgrad.recipes.base import Recipe, Setup
from deepgrad.recipes.mnist_mlp import mnist_input, mnist_setup, plots

DEFAULTS = dict(epochs=10, lr=1e-3, batch_size=128, seed=0, n_val=5000, data_dir=None)
INPUT_SHAPE = (1, 28, 28)


def build_model(config: dict):
    return MnistCNN()


def build(config: dict) -> Setup:
    return mnist_setup(config, build_model(config), INPUT_SHAPE)


recipe = Recipe(name="mnist-cnn", description=__doc__.strip().splitlines()[0], defaults=DEFAULTS,
                model=build_model, build=build, plots=plots,
                predict_input=lambda images: mnist_input(images, INPUT_SHAPE))

"""mnist-cnn: the classic two-convolution MNIST network, on the official 10,000 test images.

Conv(1, 32, 3)-ReLU-Conv(32, 64, 3)-ReLU-MaxPool(2)-Dropout-Linear(9216, 128)-ReLU-Dropout-
Linear(128, 10), trained with Adam and a cosine schedule; the training set's last 5,000 images
are held out for choosing the best checkpoint. Needs the original MNIST files.
"""

from __future__ import annotations

import deepgrad as dg
from deepgrad import nn
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.data.datasets import MNIST
from deepgrad.models import MnistCNN
from deepgrad.recipes.base import Recipe, Setup
from deepgrad.recipes.mnist_mlp import plots
from deepgrad.train.callbacks import LRSchedulerCallback

DEFAULTS = dict(epochs=10, lr=1e-3, batch_size=128, seed=0, n_val=5000, data_dir=None)


def build_model(config: dict):
    return MnistCNN()


def build(config: dict) -> Setup:
    x, y = MNIST(root=config.get("data_dir"), train=True).tensors(normalize=True)
    x_test, y_test = MNIST(root=config.get("data_dir"), train=False).tensors(normalize=True)
    cut = len(x) - config["n_val"]
    model = build_model(config)
    optimizer = dg.optim.Adam(model.parameters(), lr=config["lr"])
    schedule = dg.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    return Setup(
        model=model, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
        train=DataLoader(TensorDataset(x[:cut], y[:cut]), batch_size=config["batch_size"],
                         shuffle=True),
        val=DataLoader(TensorDataset(x[cut:], y[cut:]), batch_size=500),
        test=DataLoader(TensorDataset(x_test, y_test), batch_size=500),
        callbacks=[LRSchedulerCallback(schedule)],
    )


def predict_input(images):
    """Images (N, 28, 28) or (N, 1, 28, 28), pixels in [0, 255] or [0, 1], as the model's input."""
    x = dg.tensor(images, dtype=dg.float32).reshape(-1, 1, 28, 28)
    if x.max().item() > 1:
        x = x / 255
    return (x - MNIST.mean) / MNIST.std


recipe = Recipe(name="mnist-cnn", description=__doc__.strip().splitlines()[0], defaults=DEFAULTS,
                model=build_model, build=build, plots=plots, predict_input=predict_input)

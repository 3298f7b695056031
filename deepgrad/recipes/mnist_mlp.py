"""mnist-mlp: a 784-512-256-10 ReLU network on the MNIST digits (the official 10,000 test images).

The training set's last 5,000 images are held out for validation: the checkpoint kept is the one
with the best validation accuracy, and the test set is scored once, at the end. Needs the
original MNIST files (downloaded, or found in --data-dir / $DEEPGRAD_DATA).
"""

from __future__ import annotations

import deepgrad as dg
from deepgrad import nn
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.data.datasets import MNIST
from deepgrad.recipes.base import Recipe, Setup
from deepgrad.train.callbacks import LRSchedulerCallback

DEFAULTS = dict(epochs=20, lr=1e-3, batch_size=128, seed=0, dropout=0.2, n_val=5000,
                data_dir=None)


INPUT_SHAPE = (784,)  # the model's view of one image


def build_model(config: dict):
    p = config["dropout"]
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Dropout(p), nn.Linear(512, 256),
                         nn.ReLU(), nn.Dropout(p), nn.Linear(256, 10))


def build(config: dict) -> Setup:
    return mnist_setup(config, build_model(config), INPUT_SHAPE)


def mnist_setup(config: dict, model, input_shape: tuple) -> Setup:
    """MNIST (normalised, each image shaped input_shape) with the training set's last n_val
    images held out, and Adam with a cosine schedule: what the MNIST recipes share."""
    x, y = MNIST(root=config.get("data_dir"), train=True).tensors(normalize=True)
    x_test, y_test = MNIST(root=config.get("data_dir"), train=False).tensors(normalize=True)
    x, x_test = x.reshape(-1, *input_shape), x_test.reshape(-1, *input_shape)
    cut = len(x) - config["n_val"]
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


def mnist_input(images, input_shape: tuple = INPUT_SHAPE):
    """Images (N, 28, 28), pixels in [0, 255] or [0, 1], normalised and shaped for the model."""
    x = dg.tensor(images, dtype=dg.float32).reshape(-1, *input_shape)
    if x.max().item() > 1:
        x = x / 255
    return (x - MNIST.mean) / MNIST.std


def plots(setup: Setup, config: dict, out) -> list:
    """Confusion matrix and misclassified test images (predicted batch by batch)."""
    from deepgrad import viz
    from deepgrad.train import confusion_matrix

    setup.model.eval()
    images, targets, preds = [], [], []
    with dg.no_grad():
        for x, y in setup.test:
            images.append(x)
            targets.append(y)
            preds.append(setup.model(x).argmax(1))
    x, y, pred = dg.cat(images), dg.cat(targets), dg.cat(preds)
    paths = [out / "confusion_matrix.png", out / "misclassified.png"]
    viz.plot_confusion_matrix(confusion_matrix(pred, y, 10), path=paths[0])
    wrong = (pred != y).nonzero(as_tuple=True)[0]
    viz.plot_misclassified(x[wrong].reshape(-1, 28, 28), pred[wrong], y[wrong], path=paths[1])
    return paths


recipe = Recipe(name="mnist-mlp", description=__doc__.strip().splitlines()[0], defaults=DEFAULTS,
                model=build_model, build=build, plots=plots, predict_input=mnist_input)

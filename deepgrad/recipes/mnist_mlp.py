"""mnist-mlp: a 784-512-256-10 ReLU network on the MNIST digits (the official 10,000 test images).

The training set's last 5,000 images are held out for validation: the checkpoint kept is the one
with the best validation accuracy, and the test set is scored once, at the end. Needs the
original MNIST files (downloaded, or found in --data-dir / $DEEPGRAD_DATA).
"""

from __future__ import annotations

from deepgrad import nn
from deepgrad.recipes.base import Recipe, Setup
from deepgrad.recipes.images import INPUT_SHAPE, mnist_input, mnist_setup, plots

DEFAULTS = dict(epochs=20, lr=1e-3, batch_size=128, seed=0, dropout=0.2, n_val=5000,
                data_dir=None)


def build_model(config: dict):
    p = config["dropout"]
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Dropout(p), nn.Linear(512, 256),
                         nn.ReLU(), nn.Dropout(p), nn.Linear(256, 10))


def build(config: dict) -> Setup:
    return mnist_setup(config, build_model(config), INPUT_SHAPE)


recipe = Recipe(name="mnist-mlp", description=__doc__.strip().splitlines()[0], defaults=DEFAULTS,
                model=build_model, build=build, plots=plots, predict_input=mnist_input)

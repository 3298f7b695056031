"""circles: two rings of points that no straight line separates, learned by a small MLP.

The seeds' story of representation: in the input's Cartesian coordinates no line separates the
inner ring from the outer one; the hidden layer learns coordinates in which one does. The plots
show the decision boundary in the input space and the last hidden layer's activations, where the
two classes have become linearly separable.
"""

from __future__ import annotations

import deepgrad as dg
from deepgrad import nn
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.data.datasets import circles
from deepgrad.recipes.base import Recipe, Setup

DEFAULTS = dict(epochs=60, lr=0.01, batch_size=32, seed=0, hidden=16, noise=0.08,
                n_train=1000, n_val=500, n_test=2000)


def build_model(config: dict):
    hidden = config["hidden"]
    return nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                         nn.Linear(hidden, 2))


def build(config: dict) -> Setup:
    n = config["n_train"] + config["n_val"] + config["n_test"]
    x, y = circles(n, noise=config["noise"], seed=config["seed"])
    a, b = config["n_train"], config["n_train"] + config["n_val"]
    splits = [TensorDataset(x[i:j], y[i:j]) for i, j in ((0, a), (a, b), (b, n))]
    model = build_model(config)
    return Setup(
        model=model, loss_fn=nn.CrossEntropyLoss(),
        optimizer=dg.optim.Adam(model.parameters(), lr=config["lr"]),
        train=DataLoader(splits[0], batch_size=config["batch_size"], shuffle=True),
        val=DataLoader(splits[1], batch_size=1000), test=DataLoader(splits[2], batch_size=1000),
    )


def plots(setup: Setup, config: dict, out) -> list:
    from deepgrad import viz

    x, y = setup.test.dataset.tensors
    paths = [out / "decision_boundary.png", out / "hidden_representation.png"]
    viz.plot_decision_boundary(setup.model, x, y, path=paths[0])
    viz.plot_hidden_representation(setup.model, x, y, path=paths[1])
    return paths


recipe = Recipe(name="circles", description=__doc__.strip().splitlines()[0], defaults=DEFAULTS,
                model=build_model, build=build, plots=plots,
                predict_input=lambda points: dg.tensor(points, dtype=dg.float32))

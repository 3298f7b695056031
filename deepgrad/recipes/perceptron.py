"""perceptron: Rosenblatt's perceptron learns separable blobs, fails on XOR; a 2-layer MLP fits XOR.

No backpropagation for the perceptron: its learning rule moves the weights towards each
misclassified example and stops when an epoch makes no mistake, which happens only when a line
separates the classes. XOR has no such line; a hidden layer trained by backpropagation finds a
representation in which it does.
"""

from __future__ import annotations

from pathlib import Path

import deepgrad as dg
from deepgrad import nn
from deepgrad.data.datasets import blobs, xor
from deepgrad.models import Perceptron
from deepgrad.recipes.base import Recipe

DEFAULTS = dict(epochs=100, lr=0.05, seed=0, hidden=8, mlp_steps=2000, n_samples=200,
                noise=0.15)


def run(config: dict, out: Path) -> dict:
    n, noise = config["n_samples"], config["noise"]
    x_sep, y_sep = blobs(n, centers=[(-1.5, -1.0), (1.5, 1.0)], noise=0.6, seed=config["seed"])
    x_xor, y_xor = xor(n, noise=noise, seed=config["seed"])
    separable = Perceptron(2, max_epochs=config["epochs"])
    history_sep = separable.fit(x_sep, y_sep)
    on_xor = Perceptron(2, max_epochs=config["epochs"])
    history_xor = on_xor.fit(x_xor, y_xor)
    mlp = _fit_mlp(x_xor, y_xor, config)
    results = {
        "perceptron_blobs_converged": history_sep.converged,
        "perceptron_blobs_epochs": history_sep.epochs,
        "perceptron_blobs_accuracy": _accuracy(separable.predict(x_sep), y_sep),
        "perceptron_xor_converged": history_xor.converged,
        "perceptron_xor_accuracy": _accuracy(on_xor.predict(x_xor), y_xor),
        "mlp_xor_accuracy": _accuracy((mlp(x_xor).squeeze(1) > 0).float(), y_xor),
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    results["plots"] = _plots(out, [(separable, x_sep, y_sep, "perceptron, blobs"),
                                    (on_xor, x_xor, y_xor, "perceptron, XOR"),
                                    (mlp, x_xor, y_xor, "MLP + backprop, XOR")])
    return results


def _fit_mlp(x, y, config: dict):
    model = nn.Sequential(nn.Linear(2, config["hidden"]), nn.Tanh(), nn.Linear(config["hidden"], 1))
    optimizer = dg.optim.Adam(model.parameters(), lr=config["lr"])
    loss_fn = nn.BCEWithLogitsLoss()
    target = y.float().unsqueeze(1)
    for _ in range(config["mlp_steps"]):
        optimizer.zero_grad()
        loss_fn(model(x), target).backward()
        optimizer.step()
    model.eval()
    return model


def _accuracy(pred, y) -> float:
    return round(float((pred.float() == y.float()).float().mean().item()), 4)


def _plots(out: Path, panels: list) -> list:
    try:
        from deepgrad import viz
    except ImportError:
        return []
    paths = []
    for model, x, y, title in panels:
        path = out / (title.replace(", ", "_").replace(" + ", "_").replace(" ", "_") + ".png")
        try:
            viz.plot_decision_boundary(model, x, y, path=path)
        except ImportError as e:
            print(f"no plots: {e}")
            return paths
        paths.append(path)
    return paths


recipe = Recipe(name="perceptron", description=__doc__.strip().splitlines()[0], defaults=DEFAULTS,
                run=run)

"""The perceptron and XOR: what one step unit learns, and what takes a hidden layer.

Rosenblatt's perceptron (1958) draws one straight line, w . x + b = 0, and its learning rule finds
such a line whenever one separates the two classes. XOR has none (Minsky & Papert, 1969): the
perceptron keeps making mistakes however long it trains. A network with one hidden layer of tanh
units, trained by backpropagation, bends the boundary and fits XOR exactly.

Run: python examples/perceptron_xor.py [--out perceptron_xor.png]
(the decision-boundary plot needs matplotlib; without it the results are only printed)
"""

from __future__ import annotations

import argparse

import numpy as np

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.models import Perceptron


def blobs(n: int) -> tuple[dg.Tensor, dg.Tensor]:
    """n points in each of two Gaussian clusters, labelled 0 and 1, in random order."""
    labels = dg.tensor([0.0] * n + [1.0] * n)
    centers = dg.stack([labels * 2.4 - 1.2, labels * 1.6 - 0.8], dim=1)
    order = dg.randperm(2 * n)
    return (centers + 0.5 * dg.randn(2 * n, 2))[order], labels[order]


def xor(n: int, noise: float = 0.12) -> tuple[dg.Tensor, dg.Tensor]:
    """n points around each corner of the unit square, in random order; label = x1 XOR x2."""
    corners = dg.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]).repeat(n, 1)
    labels = dg.tensor([0.0, 1.0, 1.0, 0.0]).repeat(n)
    order = dg.randperm(4 * n)
    return (corners + noise * dg.randn(4 * n, 2))[order], labels[order]


def train_mlp(X: dg.Tensor, y: dg.Tensor, steps: int = 300) -> tuple[nn.Module, float]:
    """A 2-8-1 tanh network trained by backpropagation (full batch, Adam, BCE on logits)."""
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(X).squeeze(1), y)
        loss.backward()
        optimizer.step()
    return model, loss.item()


def accuracy(predicted: dg.Tensor, y: dg.Tensor) -> float:
    return (predicted == y).float().mean().item()


def mlp_classes(model: nn.Module, X: dg.Tensor) -> dg.Tensor:
    with dg.no_grad():
        return (model(X).squeeze(1) > 0).float()


def plot(panels: list, path: str) -> bool:
    """One decision-boundary panel per (title, X, y, classify); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.6))
    for ax, (title, X, y, classify) in zip(axes, panels):
        x, labels = X.numpy(), y.numpy()
        lo, hi = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
        g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300))
        grid = dg.tensor(np.stack([g0.ravel(), g1.ravel()], axis=1).astype(np.float32))
        region = classify(grid).numpy().reshape(g0.shape)
        ax.contourf(g0, g1, region, levels=[-0.5, 0.5, 1.5], colors=["#9ecae1", "#fdae6b"],
                    alpha=0.6)
        ax.contour(g0, g1, region, levels=[0.5], colors="k", linewidths=1)
        ax.scatter(x[:, 0], x[:, 1], c=labels, cmap="coolwarm", edgecolors="k", s=18)
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(out: str = "perceptron_xor.png") -> dict:
    dg.manual_seed(0)
    X_sep, y_sep = blobs(100)
    X_xor, y_xor = xor(50)

    linear = Perceptron(2, max_epochs=100)
    history = linear.fit(X_sep, y_sep)
    sep_acc = accuracy(linear.predict(X_sep), y_sep)
    print(f"Perceptron on separable blobs: converged={history.converged} after "
          f"{history.epochs} epochs (mistakes per epoch: {history.mistakes}); training "
          f"accuracy {sep_acc:.1%}")

    stuck = Perceptron(2, max_epochs=100)
    xor_history = stuck.fit(X_xor, y_xor)
    xor_acc = accuracy(stuck.predict(X_xor), y_xor)
    print(f"Perceptron on XOR: converged={xor_history.converged} after {xor_history.epochs} "
          f"epochs; fewest mistakes in an epoch {min(xor_history.mistakes)} of {len(y_xor)}; "
          f"final accuracy {xor_acc:.1%} (the best line gets 75%)")
    print("  why: a perceptron's boundary is a straight line. (0,1) and (1,0) must be on the "
          "positive side, (0,0) and (1,1) on the other: w2 + b > 0 and w1 + b > 0 add up to "
          "w1 + w2 + 2b > 0, while b <= 0 and w1 + w2 + b <= 0 add up to w1 + w2 + 2b <= 0. "
          "No line does both, so every epoch makes a mistake (at best 3 of the 4 corners are "
          "right).")

    mlp, loss = train_mlp(X_xor, y_xor)
    mlp_acc = accuracy(mlp_classes(mlp, X_xor), y_xor)
    print(f"MLP 2-8-1 (tanh) trained by backprop on XOR: accuracy {mlp_acc:.1%}, final "
          f"loss {loss:.4f}")

    panels = [
        (f"perceptron, blobs: converged in {history.epochs} epochs", X_sep, y_sep,
         linear.predict),
        (f"perceptron, XOR: {xor_acc:.0%} after {xor_history.epochs} epochs", X_xor, y_xor,
         stuck.predict),
        (f"MLP 2-8-1 + backprop, XOR: {mlp_acc:.0%}", X_xor, y_xor,
         lambda grid: mlp_classes(mlp, grid)),
    ]
    if plot(panels, out):
        print(f"Decision boundaries saved to {out}")
    else:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
    return {"separable": history.converged, "xor_perceptron": xor_history.converged,
            "xor_mlp_accuracy": mlp_acc}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="perceptron_xor.png", help="where to save the plot")
    main(parser.parse_args().out)

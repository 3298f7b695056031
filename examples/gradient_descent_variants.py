"""Gradient descent and its refinements, side by side on the same network and data.

Full-batch gradient descent takes one exact step per pass over the data; one-sample SGD takes a
noisy step per example; minibatch SGD sits between the two, momentum smooths its steps, and Adam
scales each parameter's step by running estimates of its gradient's moments. Each variant trains
the same 2-16-16-1 tanh network (same initial weights) on the same two rings of points for the same
number of epochs; the full training loss is recorded against update steps and against wall time.

    python examples/gradient_descent_variants.py [--epochs 30] [--out docs/images]
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from pathlib import Path

import deepgrad as dg
from deepgrad import nn

VARIANTS = {  # name: (batch size, optimizer factory); None means the whole training set
    "full-batch GD": (None, lambda p: dg.optim.SGD(p, lr=0.5)),
    "one-sample SGD": (1, lambda p: dg.optim.SGD(p, lr=0.02)),
    "minibatch SGD (32)": (32, lambda p: dg.optim.SGD(p, lr=0.2)),
    "minibatch SGD + momentum 0.9": (32, lambda p: dg.optim.SGD(p, lr=0.05, momentum=0.9)),
    "minibatch Adam": (32, lambda p: dg.optim.Adam(p, lr=0.01)),
}


def circles(n: int, noise: float = 0.08):
    """n points on an inner ring (label 1) and an outer ring (label 0)."""
    angle = dg.rand(n) * 2 * math.pi
    label = (dg.rand(n) < 0.5).float()
    radius = 1.0 - 0.5 * label + noise * dg.randn(n)
    return dg.stack([radius * angle.cos(), radius * angle.sin()], dim=1), label.unsqueeze(1)


def train(model, x, y, batch, make_optimizer, epochs: int, points: int = 60):
    """Train; return (steps, seconds, losses) sampled about `points` times."""
    loss_fn = nn.BCEWithLogitsLoss()
    optimizer = make_optimizer(model.parameters())
    n = x.shape[0]
    batch = batch or n
    total = epochs * math.ceil(n / batch)
    every = max(total // points, 1)
    steps, seconds, losses = [], [], []
    elapsed, step = 0.0, 0
    for _ in range(epochs):
        order = dg.randperm(n)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            began = time.perf_counter()
            optimizer.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            optimizer.step()
            elapsed += time.perf_counter() - began
            step += 1
            if step % every == 0 or step == total:
                with dg.no_grad():
                    losses.append(loss_fn(model(x), y).item())
                steps.append(step)
                seconds.append(elapsed)
    return steps, seconds, losses


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, (steps, seconds, losses) in curves.items():
        by_step.plot(steps, losses, label=name)
        by_time.plot(seconds, losses, label=name)
    by_step.set(xscale="log", xlabel="update steps (log scale)", ylabel="training loss (BCE)",
                title="Loss against steps")
    by_time.set(xlabel="wall time of the updates (s)", ylabel="training loss (BCE)",
                title="Loss against wall time")
    by_step.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(epochs: int = 30, out: str | None = "docs/images") -> dict:
    dg.manual_seed(0)
    x, y = circles(512)
    initial = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                            nn.Linear(16, 1))
    curves = {}
    for name, (batch, make_optimizer) in VARIANTS.items():
        dg.manual_seed(1)  # the same shuffling for every variant
        curves[name] = train(copy.deepcopy(initial), x, y, batch, make_optimizer, epochs)
        steps, seconds, losses = curves[name]
        print(f"{name:30s} {steps[-1]:6d} steps  {seconds[-1]:6.2f} s  final loss {losses[-1]:.4f}")
    if out:
        try:
            path = Path(out) / "gradient_descent_variants.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            plot(curves, path)
            print(f"plot: {path}")
        except ImportError:
            print("matplotlib is not installed: pip install matplotlib for the plot")
    return curves


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default="docs/images", help="folder for the plot")
    args = parser.parse_args()
    main(args.epochs, args.out)

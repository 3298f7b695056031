"""The mnist-mlp recipe's training, timed in deepgrad and in PyTorch with the same model and
settings, in one run: 784-512-256-10 ReLU with dropout 0.2, Adam (lr 1e-3) with a cosine schedule,
batch 128, shuffled each epoch, 55,000 training images; then the 10,000 test images are scored.

    DEEPGRAD_DATA=../shared/datasets python benchmarks/mnist_mlp.py [--epochs 2]

Each framework runs the whole training in one go (after one warm-up batch); the ratio is of wall
times. Data loading is in memory for both (the same NumPy arrays).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from harness import report, try_import_torch


def load(n_val: int = 5000):
    from deepgrad.data.datasets import MNIST

    x, y = MNIST(train=True, download=False).arrays(normalize=True)
    xt, yt = MNIST(train=False, download=False).arrays(normalize=True)
    x, xt = x.reshape(len(x), -1), xt.reshape(len(xt), -1)
    return x[:-n_val], y[:-n_val], xt, yt


def train(lib, data, epochs: int, seed: int = 0) -> tuple[float, float]:
    """Wall seconds of training, and test accuracy, in lib (deepgrad or torch)."""
    nn = lib.nn
    lib.manual_seed(seed)
    x, y, xt, yt = (lib.from_numpy(a) for a in data)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 256),
                          nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 10))
    optimizer = lib.optim.Adam(model.parameters(), lr=1e-3)
    schedule = lib.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loss_fn = nn.CrossEntropyLoss()
    order = np.random.default_rng(seed)
    model(x[:128]).sum().backward()  # warm-up: first-call costs are not training
    optimizer.zero_grad()
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = lib.from_numpy(order.permutation(len(x)))
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            optimizer.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            optimizer.step()
        schedule.step()
    seconds = time.perf_counter() - start
    model.eval()
    with lib.no_grad():
        accuracy = (model(xt).argmax(1) == yt).float().mean().item()
    return seconds, accuracy


def main(epochs: int = 2) -> dict:
    import deepgrad as dg

    data = load()
    torch = try_import_torch()
    dg_s, dg_acc = train(dg, data, epochs)
    torch_s, torch_acc = train(torch, data, epochs) if torch else (None, None)
    result = report(f"mnist-mlp training, {epochs} epochs of 55,000 images", dg_s, torch_s,
                    unit="training run")
    print(f"  test accuracy: deepgrad {dg_acc:.4f}"
          + (f", torch {torch_acc:.4f}" if torch else ""))
    return dict(result, epochs=epochs, deepgrad_accuracy=dg_acc, torch_accuracy=torch_acc)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    main(parser.parse_args().epochs)

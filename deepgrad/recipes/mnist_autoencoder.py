"""mnist-autoencoder: a 32-d code autoencoder (dense or convolutional, maybe denoising) on MNIST.

Trains on the 60,000 training images with pixel intensities in [0, 1] and a cross-entropy loss
against them (``loss="mse"``: squared error), then scores the 10,000 test images once, after the
last epoch (no model selection): the reconstruction MSE per pixel, beside two references fitted
on the training set, the mean training image and PCA with as many components as the code.
``denoising=True`` trains a denoising autoencoder (Gaussian noise of std ``noise_std``, masking
with probability ``mask_prob``) and also reports the PSNR of the corrupted test images and of
their reconstructions against the clean ones. ``dataset="fashion"`` runs on Fashion-MNIST
instead (the ``fashion-autoencoder`` recipe).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import deepgrad as dg
from deepgrad.autograd import no_grad
from deepgrad.data.datasets import MNIST, FashionMNIST
from deepgrad.models import ConvAutoencoder, DenoisingAutoencoder, DenseAutoencoder
from deepgrad.nn import functional as F
from deepgrad.ops.creation import from_numpy
from deepgrad.recipes.base import EpochLog, Recipe

DEFAULTS = dict(epochs=10, lr=1e-3, batch_size=128, seed=0, model="dense", hidden=[512, 256],
                code_size=32, loss="bce", denoising=False, noise_std=0.5, mask_prob=0.0,
                dataset="mnist", n_train=None, n_test=None, data_dir=None)

DATASETS = {"mnist": MNIST, "fashion": FashionMNIST}
# cross-entropy against the grey levels, as Hinton & Salakhutdinov trained their logistic outputs
# (steeper gradients through the sigmoid than squared error), or squared error itself
LOSSES = {"bce": F.binary_cross_entropy, "mse": F.mse_loss}


def build_model(config: dict):
    if config["model"] == "dense":
        model = DenseAutoencoder(784, config["hidden"], config["code_size"])
    elif config["model"] == "conv":
        model = ConvAutoencoder(config["code_size"])
    else:
        raise ValueError(f"{config['recipe']}: model must be 'dense' or 'conv', got "
                         f"{config['model']!r}")
    if config["denoising"]:
        model = DenoisingAutoencoder(model, config["noise_std"], config["mask_prob"])
    return model


def run(config: dict, out: Path) -> dict:
    model, loss_fn = build_model(config), _loss_fn(config)  # bad settings fail before loading
    x, _, x_test, _ = load_images(config)
    # the corrupted test set is drawn once, first, so that every epoch scores the same images
    noisy = model.corrupt(from_numpy(x_test)).array if config["denoising"] else None
    optimizer = dg.optim.Adam(model.parameters(), lr=config["lr"])

    def evaluate() -> dict:
        scores = {"test_mse": reconstruction_mse(model, x_test)}
        if noisy is not None:
            scores["test_mse_denoised"] = reconstruction_mse(model, noisy, x_test)
        return scores

    history = fit(model, optimizer, x, lambda batch: loss_fn(model(batch), batch), config,
                  evaluate, out)
    results = {"dataset": config["dataset"], "train_images": len(x), "test_images": len(x_test),
               "epochs_run": config["epochs"], "test_mse_per_pixel": history["test_mse"][-1],
               "mean_image_mse_per_pixel": _mse(x.mean(axis=0, keepdims=True), x_test),
               f"pca{config['code_size']}_mse_per_pixel": pca_mse(x, x_test, config["code_size"])}
    if noisy is not None:
        results.update(test_mse_denoised_per_pixel=history["test_mse_denoised"][-1],
                       psnr_noisy_db=psnr(_mse(noisy, x_test)),
                       psnr_denoised_db=psnr(history["test_mse_denoised"][-1]))
    for key, value in results.items():
        print(f"{key}: {value}")
    dg.save({"model": model.state_dict()}, out / "model.safetensors")
    results["plots"] = _plots(model, x_test, noisy, history, config, out)
    return results


def _loss_fn(config: dict):
    if config["loss"] not in LOSSES:
        raise ValueError(f"{config['recipe']}: loss must be one of {sorted(LOSSES)}, got "
                         f"{config['loss']!r}")
    return LOSSES[config["loss"]]


# -- shared by the generative recipes ------------------------------------------------------------
def load_images(config: dict):
    """(train images, train labels, test images, test labels): float32 (N, 1, 28, 28) in [0, 1],
    the first n_train / n_test of each split when those are set."""
    name = config["dataset"]
    if name not in DATASETS:
        raise ValueError(f"{config['recipe']}: dataset must be one of {sorted(DATASETS)}, got "
                         f"{name!r}")
    cls = DATASETS[name]
    x, y = cls(root=config.get("data_dir"), train=True).arrays()
    x_test, y_test = cls(root=config.get("data_dir"), train=False).arrays()
    n, n_test = config.get("n_train") or len(x), config.get("n_test") or len(x_test)
    return x[:n], y[:n], x_test[:n_test], y_test[:n_test]


def fit(model, optimizer, x: np.ndarray, loss_of, config: dict, evaluate, out: Path) -> dict:
    """Train on shuffled minibatches of x for config['epochs'] epochs; after each epoch log the
    mean training loss per batch and evaluate()'s scores to log.csv. Returns the history."""
    epochs, batch = EpochLog(out / "log.csv"), config["batch_size"]
    for epoch in range(1, config["epochs"] + 1):
        model.train()
        order = dg.backend.rng().permutation(len(x))
        total = 0.0
        for start in range(0, len(x), batch):
            rows = order[start:start + batch]
            optimizer.zero_grad()
            loss = loss_of(from_numpy(x[rows]))
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        model.eval()
        scores = {"train_loss": total / len(x), **evaluate()}
        epochs.write(epoch, **scores)
        print(f"epoch {epoch}: " + ", ".join(f"{k} {v:.5g}" for k, v in scores.items()),
              flush=True)
    return epochs.history


def reconstruction_mse(model, inputs: np.ndarray, targets: np.ndarray | None = None,
                       batch: int = 1000) -> float:
    """Mean squared error per pixel of model(inputs) against targets (default: the inputs)."""
    targets = inputs if targets is None else targets
    return _mse(predict(model, inputs, batch), targets)


def predict(model, inputs: np.ndarray, batch: int = 1000) -> np.ndarray:
    """model(inputs) in eval mode, batch by batch, as one array."""
    model.eval()
    with no_grad():
        return np.concatenate([model(from_numpy(inputs[i:i + batch])).array
                               for i in range(0, len(inputs), batch)])


def pca_mse(x: np.ndarray, x_test: np.ndarray, k: int) -> float:
    """Test MSE per pixel of the best rank-k linear reconstruction fitted on x (PCA)."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    mean = flat.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(flat - mean, rowvar=False))
    top = vectors[:, -k:]
    centred = x_test.reshape(len(x_test), -1) - mean
    return _mse(centred @ top @ top.T + mean, x_test.reshape(len(x_test), -1))


def psnr(mse: float) -> float:
    """Peak signal-to-noise ratio in dB of an MSE between images with pixels in [0, 1]."""
    return 10 * math.log10(1.0 / mse) if mse > 0 else float("inf")


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared difference of two broadcastable arrays, accumulated in float64."""
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def _plots(model, x_test: np.ndarray, noisy, history: dict, config: dict, out: Path) -> list:
    try:
        from deepgrad import viz

        paths = [out / "learning_curves.png", out / "reconstructions.png"]
        viz.plot_learning_curves(history, path=paths[0])
        n = min(16, len(x_test))
        shown = x_test[:n]
        rows = [shown, predict(model, shown).reshape(shown.shape)]
        title = f"{config['dataset']} test images (top) and their reconstructions (bottom)"
        if noisy is not None:
            rows = [shown, noisy[:n], predict(model, noisy[:n]).reshape(shown.shape)]
            title = f"{config['dataset']} test images, corrupted, and denoised"
            paths[1] = out / "denoising.png"
        viz.save_image_grid(np.concatenate(rows), paths[1], nrow=n, value_range=(0, 1),
                            title=title, scale=0.9)
        return paths
    except ImportError as e:  # matplotlib is optional
        print(f"no plots: {e}")
        return []


recipe = Recipe(name="mnist-autoencoder", description=__doc__.strip().splitlines()[0],
                defaults=DEFAULTS, run=run)

"""mnist-vae: Kingma & Welling's variational autoencoder (784-400-20 MLP, Adam) on MNIST.

The pixel intensities in [0, 1] (not binarised) are the targets of the Bernoulli decoder's
cross-entropy. Trains on the 60,000 training images and reports, after the last epoch, the
test set's negative ELBO per image in nats (one reparameterised sample per image: the estimate
the paper plots), split into its reconstruction and KL terms. Draws prior samples,
reconstructions and latent interpolations; ``latent_dim=2`` also plots the test set's latent
means by digit and the decoded latent grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import deepgrad as dg
from deepgrad.autograd import no_grad
from deepgrad.models import VAE, vae_loss
from deepgrad.ops.creation import from_numpy
from deepgrad.recipes.base import Recipe
from deepgrad.recipes.mnist_autoencoder import fit, load_images

DEFAULTS = dict(epochs=20, lr=1e-3, batch_size=100, seed=0, hidden=400, latent_dim=20,
                dataset="mnist", n_train=None, n_test=None, data_dir=None)


def build_model(config: dict):
    return VAE(784, config["hidden"], config["latent_dim"])


def run(config: dict, out: Path) -> dict:
    x, _, x_test, y_test = load_images(config)
    model = build_model(config)
    optimizer = dg.optim.Adam(model.parameters(), lr=config["lr"])
    history = fit(model, optimizer, x, lambda batch: _loss(model, batch), config,
                  lambda: evaluate(model, x_test), out)
    results = {"dataset": config["dataset"], "train_images": len(x), "test_images": len(x_test),
               "latent_dim": config["latent_dim"], "epochs_run": config["epochs"],
               "train_neg_elbo": history["train_loss"][-1],
               **{key: history[key][-1] for key in ("test_neg_elbo", "test_bce", "test_kl")}}
    for key, value in results.items():
        print(f"{key}: {value}")
    dg.save({"model": model.state_dict()}, out / "model.safetensors")
    results["plots"] = _plots(model, x_test, y_test, history, config, out)
    return results


def _loss(model, batch):
    logits, mu, logvar = model(batch)
    return vae_loss(logits, batch, mu, logvar)[0]


def evaluate(model, images: np.ndarray, batch: int = 1000) -> dict:
    """Negative ELBO, BCE and KL per image (nats) over images, one z sample each."""
    model.eval()
    totals = np.zeros(3)
    with no_grad():
        for i in range(0, len(images), batch):
            x = from_numpy(images[i:i + batch])
            logits, mu, logvar = model(x)
            totals += [t.item() * len(x) for t in vae_loss(logits, x, mu, logvar)]
    return dict(zip(("test_neg_elbo", "test_bce", "test_kl"), (totals / len(images)).tolist()))


def interpolations(model, a: np.ndarray, b: np.ndarray, steps: int = 10) -> np.ndarray:
    """Decoded images along the straight line between the latent means of a[i] and b[i]:
    (len(a) * steps, 784), row by row."""
    with no_grad():
        mu_a, mu_b = model.encode(from_numpy(a))[0].array, model.encode(from_numpy(b))[0].array
        t = np.linspace(0, 1, steps, dtype=mu_a.dtype)[None, :, None]
        z = (1 - t) * mu_a[:, None] + t * mu_b[:, None]
        return model.decode(from_numpy(z.reshape(-1, mu_a.shape[1]))).sigmoid().array


def _plots(model, x_test, y_test, history: dict, config: dict, out: Path) -> list:
    try:
        from deepgrad import viz
        from deepgrad.viz.latent import plot_latent_2d
    except ImportError as e:  # matplotlib is optional
        print(f"no plots: {e}")
        return []
    model.eval()
    name, shape = config["dataset"], (-1, 28, 28)
    paths = [out / "learning_curves.png", out / "vae_samples.png",
             out / "vae_reconstructions.png", out / "vae_interpolation.png"]
    viz.plot_learning_curves(history, path=paths[0])
    viz.save_image_grid(model.sample(64).array.reshape(shape), paths[1], nrow=8,
                        value_range=(0, 1), title=f"VAE samples, latent_dim "
                        f"{config['latent_dim']} ({name})", scale=0.9)
    n = min(16, len(x_test))
    with no_grad():
        recon = model.decode(model.encode(from_numpy(x_test[:n]))[0]).sigmoid().array
    viz.save_image_grid(np.concatenate([x_test[:n].reshape(shape), recon.reshape(shape)]),
                        paths[2], nrow=n, value_range=(0, 1), scale=0.9,
                        title="test images (top), decoded from their latent means (bottom)")
    a, b = _pairs(y_test, 8)
    viz.save_image_grid(interpolations(model, x_test[a], x_test[b]).reshape(shape), paths[3],
                        nrow=10, value_range=(0, 1), scale=0.9,
                        title="decoded along straight lines between two test images' codes")
    if config["latent_dim"] == 2:
        paths.append(out / "vae_latent2d.png")
        with no_grad():
            mu = np.concatenate([model.encode(from_numpy(x_test[i:i + 1000]))[0].array
                                 for i in range(0, len(x_test), 1000)])
        plot_latent_2d(mu, y_test, lambda z: model.decode(z).sigmoid(), path=paths[-1])
    return paths


def _pairs(y: np.ndarray, n: int) -> tuple[list, list]:
    """Indices of up to n test images and of a later image of another class for each."""
    a, b = [], []
    for i in range(len(y)):
        later = np.flatnonzero(y[i + 1:] != y[i])
        if len(later):
            a.append(i)
            b.append(i + 1 + int(later[0]))
        if len(a) == n:
            break
    return a, b


recipe = Recipe(name="mnist-vae", description=__doc__.strip().splitlines()[0], defaults=DEFAULTS,
                run=run)

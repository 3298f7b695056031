"""mnist-gan: a DCGAN learns to draw MNIST digits, judged by Inception Score and Fréchet distance.

A generator (noise -> 28x28 image) and a discriminator (image -> real/fake logit) train against
each other (Goodfellow et al. 2014) with DCGAN's architecture and settings (Radford et al. 2015;
pixels scaled to [-1, 1]). Samples come from an exponential moving average of the generator's
weights (Yazici et al. 2019; ``ema_decay``, null for the last iterate). The classic MNIST CNN,
trained first on the same pixels, scores them: Inception Score from its softmax, Fréchet
distance from its penultimate-layer (fc1, 128) features against the 10,000 test images. Scores
are given for the test images themselves (the top of the scale), the untrained generator (the
bottom) and the trained one. Writes a sample grid per epoch from fixed noise, a latent
interpolation, loss/accuracy curves and the scores.

Settings beyond the usual: ``levels`` (2 leaves out both nets' 3x3 stage), ``g_extra_layers`` /
``d_extra_layers`` (3x3 convolutions added at 14x14 to either net), ``d_norm`` ("batch", or
"spectral" for spectral normalization of the discriminator's weights), ``real_label`` (the
discriminator's target for real images; 0.9 is one-sided label smoothing), ``lr_decay_from`` (an
epoch after which both learning rates fall linearly, epoch by epoch, toward 0 at the last
epoch), ``classifier`` (a cached classifier.safetensors to reuse), ``resume`` (a run's
gan.safetensors to go on from, up to ``epochs`` in all), ``n_train`` / ``n_test`` /
``max_steps`` (subsets and short epochs, for quick checks).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

import deepgrad as dg
from deepgrad import nn
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.data.datasets import MNIST
from deepgrad.models import DCGANDiscriminator, DCGANGenerator, MnistCNN, dcgan_init
from deepgrad.recipes.base import EpochLog, Recipe
from deepgrad.train.gan import GANTrainer
from deepgrad.train.gan_scores import classifier_outputs, gan_scores, inception_score

DEFAULTS = dict(epochs=20, batch_size=64, lr=2e-4, beta1=0.5, latent_dim=100, ngf=64, ndf=32,
                levels=3, g_extra_layers=2, d_extra_layers=0, d_norm="batch", ema_decay=0.999,
                lr_decay_from=12, real_label=1.0, seed=0, n_score=10000, n_score_epoch=2000,
                classifier_epochs=3, classifier=None, resume=None,
                n_train=None, n_test=None, max_steps=None, data_dir=None)
FEATURE_LAYER = "fc1"  # the MNIST CNN's penultimate layer (128 features)


# settings a run saved before they existed: the value those runs used (not today's default)
_BEFORE = dict(levels=2, g_extra_layers=0, d_extra_layers=0, d_norm="batch")


def build_model(config: dict):
    """The generator alone (what a finished run samples from)."""
    config = {**_BEFORE, **config}
    return DCGANGenerator(config["latent_dim"], config["ngf"],
                          extra_layers=config["g_extra_layers"], levels=config["levels"])


def build_discriminator(config: dict):
    config = {**_BEFORE, **config}
    return DCGANDiscriminator(config["ndf"], extra_layers=config["d_extra_layers"],
                              norm=config["d_norm"], levels=config["levels"])


def load_pixels(config: dict, train: bool, limit: int | None = None):
    """The first ``limit`` (default all) MNIST images (N, 1, 28, 28) scaled to [-1, 1] (the
    generator's Tanh range), and their labels."""
    ds = MNIST(root=config.get("data_dir"), train=train)
    pixels = ds.data.numpy()[:limit]
    x = pixels[:, None].astype(np.float32) / np.float32(127.5) - np.float32(1)
    return _wrap(x), _wrap(ds.targets.numpy()[:limit])


def _wrap(array: np.ndarray) -> dg.Tensor:
    """A tensor over the array, without a copy."""
    return dg.Tensor._make(np.ascontiguousarray(array), None)


def train_classifier(config: dict, out: Path, x, y, x_test, y_test, log=print):
    """The MNIST CNN on the [-1, 1] pixels (Adam 1e-3 with a cosine schedule over the epochs,
    batch 128), cached as classifier.safetensors.

    ``config['classifier']`` names a cached file to reuse (e.g. another run's)."""
    model = MnistCNN()
    cached = out / "classifier.safetensors"
    if config.get("classifier"):
        cached = Path(config["classifier"])
    if cached.exists():
        model.load_state_dict(dg.load(cached))
        log(f"classifier: loaded {cached}", flush=True)
    else:
        optimizer = dg.optim.Adam(model.parameters(), lr=1e-3)
        schedule = dg.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, max(1, config["classifier_epochs"]))
        loss_fn = nn.CrossEntropyLoss()
        loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True)
        for epoch in range(config["classifier_epochs"]):
            model.train()
            for xb, yb in loader:
                optimizer.zero_grad()
                loss_fn(model(xb), yb).backward()
                optimizer.step()
            schedule.step()
            accuracy = _accuracy(model, x_test, y_test)
            log(f"classifier epoch {epoch + 1}: test accuracy {accuracy:.4f}", flush=True)
        dg.save(model.state_dict(), out / "classifier.safetensors")
    return model, _accuracy(model, x_test, y_test)


def _accuracy(model, x, y) -> float:
    probs, _ = classifier_outputs(model, x, FEATURE_LAYER)
    return float((probs.argmax(1) == y.numpy()).mean())


def generate(generator, n: int, latent_dim: int, batch_stats: bool, batch_size: int = 100):
    """n samples in batches; batch_stats=True normalises with each batch's statistics (training
    mode) and leaves the generator's running statistics as they were."""
    saved = {k: v.clone() for k, v in generator.state_dict().items()}
    generator.train(batch_stats)
    images = []
    with dg.no_grad():
        for start in range(0, n, batch_size):
            images.append(generator(dg.randn(min(batch_size, n - start), latent_dim)))
    generator.load_state_dict(saved)
    generator.train()
    return dg.cat(images)


def run(config: dict, out: Path) -> dict:
    x, y = load_pixels(config, True, config["n_train"])  # n_train: a subset, quick checks
    x_test, y_test = load_pixels(config, False, config["n_test"])
    classifier, accuracy = train_classifier(config, out, x, y, x_test, y_test)
    print(f"classifier test accuracy: {accuracy:.4f}")
    _, ref = classifier_outputs(classifier, x_test, FEATURE_LAYER)
    results = {"classifier_test_accuracy": accuracy}
    results["real_test"] = _score_real(classifier, x, x_test, ref, config)

    generator = build_model(config)
    discriminator = build_discriminator(config)
    generator.apply(dcgan_init)
    discriminator.apply(dcgan_init)
    results["params"] = {"generator": _count(generator), "discriminator": _count(discriminator)}
    score = lambda net, n, batch_stats, splits=10: _round(gan_scores(  # noqa: E731
        classifier, generate(net, n, config["latent_dim"], batch_stats), ref,
        FEATURE_LAYER, splits))
    results["untrained_generator"] = score(generator, config["n_score"], True)
    print(f"untrained generator: {results['untrained_generator']}")

    loader = DataLoader(TensorDataset(x), batch_size=config["batch_size"], shuffle=True,
                        drop_last=True)
    trainer = GANTrainer(generator, discriminator, lr=config["lr"],
                         betas=(config["beta1"], 0.999), fixed_noise=64,
                         ema_decay=config["ema_decay"], real_label=config["real_label"])
    earlier = None
    if config.get("resume"):  # go on from a run's gan.safetensors up to `epochs` in all
        trainer.load(config["resume"])
        _decay_lr(trainer, trainer.epoch, config)  # the rate of the next epoch
        earlier = _read_csv(Path(config["resume"]).parent / "log.csv")
    epochs = EpochLog(out / "log.csv", earlier)

    def on_epoch_end(trainer, epoch, stats):
        from deepgrad import viz

        viz.save_image_grid(trainer.sample(trainer.fixed_noise),
                            out / f"samples_epoch_{epoch:03d}.png", nrow=8, value_range=(-1, 1),
                            title=f"epoch {epoch}")
        s = score(trainer.sampler, config["n_score_epoch"], False, 1)
        epochs.write(epoch, **stats, inception_score=s["inception_score"],
                     frechet_distance=s["frechet_distance"],
                     lr=trainer.g_optimizer.param_groups[0]["lr"])
        _decay_lr(trainer, epoch, config)
        print(f"epoch {epoch}: IS {s['inception_score']:.3f}, FD {s['frechet_distance']:.3f} "
              f"({config['n_score_epoch']} samples)", flush=True)

    trainer.fit(loader, max(config["epochs"] - trainer.epoch, 0), on_epoch_end=on_epoch_end,
                checkpoint=out / "gan.safetensors", max_steps=config["max_steps"],
                log=lambda line: print(line, flush=True), log_every=100)
    _write_csv(out / "steps.csv", [dict(zip(trainer.steps, values))
                                   for values in zip(*trainer.steps.values())])
    results["trained_generator"] = score(trainer.sampler, config["n_score"], False)
    results["trained_generator_batch_stats"] = score(trainer.sampler, config["n_score"], True)
    print(f"trained generator: {results['trained_generator']}")
    results["epochs"] = epochs.rows
    results["plots"] = _plots(trainer, epochs.rows, config, out)
    return results


def _decay_lr(trainer: GANTrainer, epoch: int, config: dict) -> None:
    """From epoch lr_decay_from on, the next epoch's rate is lr * (epochs - epoch) /
    (epochs - lr_decay_from + 1): a linear fall toward 0 over the last epochs."""
    start, last = config["lr_decay_from"], config["epochs"]
    if start is None or epoch < start:
        return
    lr = config["lr"] * max(last - epoch, 0) / (last - start + 1)
    for optimizer in (trainer.g_optimizer, trainer.d_optimizer):
        for group in optimizer.param_groups:
            group["lr"] = lr


def _score_real(classifier, x, x_test, ref, config: dict) -> dict:
    """Scores of real images: IS of the test set, FD of training images to the test set."""
    probs, _ = classifier_outputs(classifier, x_test, FEATURE_LAYER)
    mean, std = inception_score(probs, 10)
    train_part = gan_scores(classifier, x[:config["n_score"]], ref, FEATURE_LAYER)
    return _round({"inception_score": mean, "inception_score_std": std,
                   "train_inception_score": train_part["inception_score"],
                   "train_vs_test_frechet_distance": train_part["frechet_distance"]})


def _round(scores: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()}


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _read_csv(path: Path) -> list:
    with open(path, newline="") as f:
        return [{k: float(v) if k != "epoch" else int(v) for k, v in row.items()}
                for row in csv.DictReader(f)]


def _write_csv(path: Path, rows: list) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _plots(trainer: GANTrainer, epoch_rows: list, config: dict, out: Path) -> list:
    from deepgrad import viz
    from deepgrad.viz._common import finish, new_figure

    paths = [out / "samples.png", out / "interpolation.png", out / "gan_curves.png"]
    viz.save_image_grid(trainer.sample(trainer.fixed_noise), paths[0], nrow=8,
                        value_range=(-1, 1))
    viz.save_image_grid(trainer.sample(_interpolation(trainer, rows=6, steps=10)), paths[1],
                        nrow=10, value_range=(-1, 1))
    fig, axes = new_figure(1, 3, figsize=(15, 4))
    steps = trainer.steps
    it = np.arange(1, len(steps["loss_d"]) + 1)
    for key, label in (("loss_d", "discriminator"), ("loss_g", "generator (-log D(G(z)))")):
        axes[0, 0].plot(it, _smooth(steps[key]), label=label)
    axes[0, 0].set(title="losses (moving average of 50 iterations)", xlabel="iteration")
    for key, label in (("d_real_acc", "D accuracy on real"), ("d_fake_acc", "D accuracy on fake")):
        axes[0, 1].plot(it, _smooth(steps[key]), label=label)
    axes[0, 1].axhline(0.5, color="gray", lw=0.8, ls="--")
    axes[0, 1].set(title="discriminator accuracy", xlabel="iteration", ylim=(0, 1.02))
    epochs = [r["epoch"] for r in epoch_rows]
    axes[0, 2].plot(epochs, [r["inception_score"] for r in epoch_rows], "o-",
                    label="Inception Score")
    axes[0, 2].set(title=f"scores ({config['n_score_epoch']} samples per epoch)", xlabel="epoch")
    twin = axes[0, 2].twinx()
    twin.plot(epochs, [r["frechet_distance"] for r in epoch_rows], "s--", color="C1",
              label="Fréchet distance")
    twin.set_ylabel("Fréchet distance")
    axes[0, 2].set_ylabel("Inception Score")
    for ax in (axes[0, 0], axes[0, 1], axes[0, 2], twin):
        ax.legend(loc="best", fontsize=8)
    finish(fig, paths[2])
    return paths


def _interpolation(trainer: GANTrainer, rows: int, steps: int) -> dg.Tensor:
    """rows straight lines in latent space, each from one random z to another in `steps` points."""
    a, b = trainer.noise(rows).numpy(), trainer.noise(rows).numpy()
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    z = (1 - t) * a[:, None] + t * b[:, None]
    return _wrap(z.reshape(rows * steps, -1).astype(np.float32))


def _smooth(values: list, window: int = 50) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if len(v) < window:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    head = c[1:window] / np.arange(1, window)
    return np.concatenate([head, (c[window:] - c[:-window]) / window])


recipe = Recipe(name="mnist-gan", description=__doc__.strip().splitlines()[0], defaults=DEFAULTS,
                model=build_model, run=run)

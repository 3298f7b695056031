"""Adversarial training of a generator against a discriminator (Goodfellow et al. 2014), with the
practical choices of DCGAN (Radford et al. 2015).

Each iteration draws noise z, makes a fake batch G(z) once and uses it twice:

1. Discriminator step: BCE-with-logits of D on real images with label 1 and on the fake batch
   with label 0. The fake batch is detached, so this step computes no gradient for G.
2. Generator step: the non-saturating loss -log D(G(z)), i.e. BCE of D on the same fakes with
   label 1 (the minimax loss log(1 - D(G(z))) has vanishing gradients while D wins easily,
   which it does early on). D's parameters are frozen for this step: the backward pass computes
   gradients for G only and the step changes nothing in D's weights.

Both nets train with Adam(lr 2e-4, betas (0.5, 0.999)), DCGAN's setting. Per epoch the trainer
logs both losses, D's accuracy on real and on fake images (a balanced game keeps both away from
1: D is fooled a good part of the time), and the mean D(x) and D(G(z)).

With ``ema_decay`` the trainer also keeps an exponential moving average of the generator's
weights (``optim.swa_utils.AveragedModel``), updated after every generator step; samples come
from it, as the averaged generator draws cleaner images than the last iterate (Yazici et al.
2019, "The Unusual Effectiveness of Averaging in GAN Training"). Averaged weights do not match
averaged batch-norm statistics, so after each epoch the average's statistics are measured anew
on its own outputs (``update_bn`` over noise batches; BigGAN's "standing statistics").
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

import deepgrad as dg
from deepgrad import nn
from deepgrad.autograd import no_grad
from deepgrad.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn
from deepgrad.serialization import load, save
from deepgrad.train.checkpoint import get_rng_state, set_rng_state

__all__ = ["GANTrainer"]

_KIND = "deepgrad.gan_checkpoint"
STATS = ("loss_d", "loss_g", "d_real_acc", "d_fake_acc", "d_x", "d_g_z")


class GANTrainer:
    """Alternating discriminator and generator steps on real image batches.

    ``generator`` maps noise (N, latent_dim) to images, ``discriminator`` images to logits (N,).
    Optimizers default to DCGAN's Adam(lr, betas). ``fixed_noise`` (a count or a tensor) is a
    noise batch kept for the whole run, so that progress images of different epochs show the
    same latent points. ``ema_decay`` (say 0.999) keeps ``generator_ema``, the moving average
    of the generator that ``sample`` then draws from. ``real_label`` below 1 (say 0.9) is
    one-sided label smoothing (Salimans et al. 2016): the discriminator's target for real
    images, which keeps it from growing overconfident; the generator's target stays 1.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module,
                 latent_dim: int | None = None, lr: float = 2e-4, betas: tuple = (0.5, 0.999),
                 g_optimizer=None, d_optimizer=None, fixed_noise=64,
                 ema_decay: float | None = None, real_label: float = 1.0) -> None:
        self.generator, self.discriminator = generator, discriminator
        self.generator_ema = None if ema_decay is None else AveragedModel(
            generator, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
        self.latent_dim = latent_dim if latent_dim is not None else getattr(generator, "latent_dim",
                                                                            None)
        if not isinstance(self.latent_dim, int) or self.latent_dim < 1:
            raise ValueError(f"GANTrainer: latent_dim must be a positive int (or the generator's "
                             f".latent_dim), got {self.latent_dim!r}")
        self.g_optimizer = g_optimizer or dg.optim.Adam(generator.parameters(), lr=lr, betas=betas)
        self.d_optimizer = d_optimizer or dg.optim.Adam(discriminator.parameters(), lr=lr,
                                                        betas=betas)
        self.loss_fn = nn.BCEWithLogitsLoss()
        if not 0.0 < real_label <= 1.0:
            raise ValueError(f"GANTrainer: real_label must be in (0, 1], got {real_label!r}")
        self.real_label = real_label
        self.fixed_noise = (self.noise(fixed_noise) if isinstance(fixed_noise, int)
                            else dg.tensor(fixed_noise, dtype=dg.float32))
        self.epoch = 0
        self.history: dict[str, list] = {k: [] for k in ("epoch", *STATS, "time_s")}
        self.steps: dict[str, list] = {k: [] for k in STATS}  # per iteration

    def noise(self, n: int) -> dg.Tensor:
        """n latent vectors z ~ N(0, I), shape (n, latent_dim)."""
        return dg.randn(n, self.latent_dim)

    # -- one iteration ---------------------------------------------------------------------------
    def d_step(self, real: dg.Tensor, fake: dg.Tensor) -> dict:
        """One discriminator update on a real batch and a fake batch (detached here)."""
        d = self.discriminator
        self.d_optimizer.zero_grad()
        logits_real = d(real)
        logits_fake = d(fake.detach())
        loss_real = self.loss_fn(logits_real, dg.full((real.shape[0],), self.real_label))
        loss_fake = self.loss_fn(logits_fake, dg.zeros(fake.shape[0]))
        loss = loss_real + loss_fake
        loss.backward()
        self.d_optimizer.step()
        real_np, fake_np = logits_real.detach().numpy(), logits_fake.detach().numpy()
        return {"loss_d": float(loss.item()),
                "d_real_acc": float((real_np > 0).mean()),
                "d_fake_acc": float((fake_np < 0).mean()),
                "d_x": float(_sigmoid(real_np).mean())}

    def g_step(self, fake: dg.Tensor) -> dict:
        """One generator update: the non-saturating loss BCE(D(G(z)), 1) = -log D(G(z)).

        D's parameters stop requiring grad for the backward pass, so D is left untouched and
        no gradient is spent on its weights.
        """
        d = self.discriminator
        flags = [p.requires_grad for p in d.parameters()]
        d.requires_grad_(False)
        try:
            self.g_optimizer.zero_grad()
            logits = d(fake)
            loss = self.loss_fn(logits, dg.ones(fake.shape[0]))
            loss.backward()
            self.g_optimizer.step()
        finally:
            for p, flag in zip(d.parameters(), flags):
                p.requires_grad_(flag)
        if self.generator_ema is not None:
            self.generator_ema.update_parameters(self.generator)
        return {"loss_g": float(loss.item()),
                "d_g_z": float(_sigmoid(logits.detach().numpy()).mean())}

    def train_step(self, real: dg.Tensor) -> dict:
        """One iteration: draw z, make G(z) once, update D on it (detached), then G."""
        self.generator.train()
        self.discriminator.train()
        fake = self.generator(self.noise(real.shape[0]))
        stats = self.d_step(real, fake)
        stats.update(self.g_step(fake))
        return stats

    # -- epochs ----------------------------------------------------------------------------------
    def fit(self, loader, epochs: int, on_epoch_end: Callable | None = None,
            checkpoint: str | os.PathLike | None = None, max_steps: int | None = None,
            log: Callable | None = print, log_every: int | None = None) -> dict:
        """Train for ``epochs`` passes over ``loader`` (batches of images, or (images, labels)).

        After each epoch: the means of the step statistics go into ``history``, ``log`` prints
        them, ``on_epoch_end(trainer, epoch, stats)`` runs (progress images) and both nets and
        optimizers are saved to ``checkpoint``. ``max_steps`` caps the iterations per epoch;
        ``log_every`` also logs the running means every that many iterations.
        """
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"GANTrainer.fit: epochs must be a non-negative int, got {epochs!r}")
        for _ in range(epochs):
            started = time.perf_counter()
            sums, steps = dict.fromkeys(STATS, 0.0), 0
            for batch in loader:
                real = batch[0] if isinstance(batch, (tuple, list)) else batch
                for key, value in self.train_step(real).items():
                    sums[key] += value
                    self.steps[key].append(value)
                steps += 1
                if log is not None and log_every and steps % log_every == 0:
                    log(f"  epoch {self.epoch + 1} step {steps}: " + ", ".join(
                        f"{k} {v / steps:.4f}" for k, v in sums.items())
                        + f" ({time.perf_counter() - started:.0f} s)")
                if max_steps is not None and steps >= max_steps:
                    break
            if steps == 0:
                raise ValueError("GANTrainer.fit: the loader gave no batches")
            self.epoch += 1
            self.refresh_average_statistics(real.shape[0])
            stats = {k: v / steps for k, v in sums.items()}
            stats["time_s"] = time.perf_counter() - started
            self._record(stats)
            if log is not None:
                log(f"epoch {self.epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in stats.items())
                    + f" ({steps} steps)")
            if on_epoch_end is not None:
                on_epoch_end(self, self.epoch, stats)
            if checkpoint is not None:
                self.save(checkpoint)
        return self.history

    def refresh_average_statistics(self, batch_size: int = 64, batches: int = 20) -> None:
        """Measure the batch-norm statistics of the generator average on its own samples
        (nothing to do without an average)."""
        if self.generator_ema is not None:
            update_bn((self.noise(batch_size) for _ in range(batches)), self.generator_ema.module)

    def _record(self, stats: dict) -> None:
        self.history["epoch"].append(self.epoch)
        for key in (*STATS, "time_s"):
            self.history[key].append(stats[key])

    @property
    def sampler(self) -> nn.Module:
        """The generator that samples are drawn from: the moving average if kept, else G."""
        return self.generator if self.generator_ema is None else self.generator_ema.module

    @no_grad()
    def sample(self, z: dg.Tensor | None = None, n: int = 64) -> dg.Tensor:
        """Images from noise z (default: n fresh draws) by ``sampler``, in eval mode
        (batch-norm running statistics); its mode is put back afterwards."""
        z = self.noise(n) if z is None else z
        net = self.sampler
        was_training = net.training
        net.eval()
        try:
            return net(z)
        finally:
            net.train(was_training)

    # -- checkpoints -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write both nets, both optimizers, the fixed noise, the epoch and iteration statistics
        and the RNG state to ``path`` atomically (``deepgrad.save``)."""
        save({"kind": _KIND, "epoch": self.epoch,
              "generator": self.generator.state_dict(),
              "discriminator": self.discriminator.state_dict(),
              "g_optimizer": self.g_optimizer.state_dict(),
              "d_optimizer": self.d_optimizer.state_dict(),
              "fixed_noise": self.fixed_noise, "history": self.history,
              "steps": {k: np.asarray(v, dtype=np.float64) for k, v in self.steps.items()},
              "rng": get_rng_state(),
              **({} if self.generator_ema is None
                 else {"generator_ema": self.generator_ema.state_dict()})}, path)

    def load(self, path: str | os.PathLike) -> dict:
        """Restore what ``save`` wrote; training then goes on from its epoch."""
        ckpt = load(path)
        if not isinstance(ckpt, dict) or ckpt.get("kind") != _KIND:
            raise ValueError(f"GANTrainer.load: {os.fspath(path)!r} is not a GAN checkpoint")
        self.generator.load_state_dict(ckpt["generator"])
        self.discriminator.load_state_dict(ckpt["discriminator"])
        self.g_optimizer.load_state_dict(ckpt["g_optimizer"])
        self.d_optimizer.load_state_dict(ckpt["d_optimizer"])
        if self.generator_ema is not None:
            if "generator_ema" in ckpt:
                self.generator_ema.load_state_dict(ckpt["generator_ema"])
            else:  # a checkpoint from a run without averaging: the average starts here
                self.generator_ema.n_averaged.array[...] = 0
        self.fixed_noise = ckpt["fixed_noise"]
        self.history = {k: list(v) for k, v in ckpt["history"].items()}
        if "steps" in ckpt:  # checkpoints before per-iteration statistics were kept lack them
            self.steps = {k: v.tolist() for k, v in ckpt["steps"].items()}  # saved as arrays
        self.epoch = int(ckpt["epoch"])
        set_rng_state(ckpt["rng"])
        return ckpt


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))

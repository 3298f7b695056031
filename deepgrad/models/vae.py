"""The variational autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes", 2013).

An encoder maps x to a diagonal Gaussian q(z|x) = N(mu, exp(logvar)); a decoder maps a code z to
Bernoulli logits of p(x|z). Training maximises the evidence lower bound (ELBO)

    log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || N(0, I)),

estimated with one reparameterised sample z = mu + exp(logvar / 2) * eps, eps ~ N(0, I), so that
the gradient reaches mu and logvar through z. ``vae_loss`` is the negative ELBO per example.
"""

from __future__ import annotations

import math

from deepgrad import nn
from deepgrad.autograd import no_grad
from deepgrad.nn import functional as F
from deepgrad.ops.creation import randn, randn_like
from deepgrad.tensor import Tensor

__all__ = ["VAE", "vae_loss"]


class VAE(nn.Module):
    """Kingma & Welling's MLP VAE: input_dim -> hidden -> (mu, logvar) of latent_dim, and
    latent_dim -> hidden -> input_dim Bernoulli logits (ReLU hidden layers).

    ``forward(x)`` returns (logits, mu, logvar) with one sample of z drawn from deepgrad's
    seeded generator, in training and eval mode alike (the ELBO needs the sample either way).
    Images (N, 1, 28, 28) are flattened; the logits are (N, input_dim).
    """

    def __init__(self, input_dim: int = 784, hidden: int = 400, latent_dim: int = 20) -> None:
        super().__init__()
        for name, value in (("input_dim", input_dim), ("hidden", hidden),
                            ("latent_dim", latent_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"VAE: {name} must be a positive int, got {value!r}")
        self.input_dim, self.latent_dim = input_dim, latent_dim
        self.encoder = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, input_dim))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar) of q(z|x), each (N, latent_dim)."""
        if x.ndim < 2 or math.prod(x.shape[1:]) != self.input_dim:
            raise ValueError(f"VAE.encode: input has shape {tuple(x.shape)}, expected "
                             f"(N, {self.input_dim}) or (N, ...) with {self.input_dim} values "
                             f"per example")
        h = self.encoder(x.reshape(x.shape[0], self.input_dim))
        return self.mu(h), self.logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        """Bernoulli logits (N, input_dim) of p(x|z); ``.sigmoid()`` gives pixel means."""
        return self.decoder(z)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(x)
        return self.decode(reparameterize(mu, logvar)), mu, logvar

    def sample(self, n: int) -> Tensor:
        """n images (n, input_dim) in [0, 1]: decoded draws from the prior N(0, I)."""
        with no_grad():
            z = randn(n, self.latent_dim, dtype=self.mu.weight.dtype)
            return self.decode(z).sigmoid()


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """z = mu + exp(logvar / 2) * eps with eps ~ N(0, I): a sample of N(mu, exp(logvar)) that
    is differentiable in mu and logvar."""
    return mu + (0.5 * logvar).exp() * randn_like(mu)


def vae_loss(logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor
             ) -> tuple[Tensor, Tensor, Tensor]:
    """(negative ELBO, reconstruction BCE, KL) per example, averaged over the batch.

    The BCE (with logits) is summed over each example's values, against targets x in [0, 1]
    (binary or grey levels); the KL of N(mu, exp(logvar)) from N(0, I) is the closed form
    -1/2 * sum(1 + logvar - mu^2 - exp(logvar)). In nats.
    """
    if logits.ndim != 2 or x.shape[0] != logits.shape[0] or x.numel() != logits.numel():
        raise ValueError(f"vae_loss: logits {tuple(logits.shape)} and x {tuple(x.shape)} do "
                         f"not match; expected logits (N, D) and x with N * D values")
    if mu.shape != logvar.shape or mu.ndim != 2 or mu.shape[0] != logits.shape[0]:
        raise ValueError(f"vae_loss: mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must "
                         f"both be (N, latent_dim) with N = {logits.shape[0]}")
    n = logits.shape[0]
    bce = F.binary_cross_entropy_with_logits(logits, x.reshape(logits.shape).to(logits.dtype),
                                             reduction="sum") / n
    kl = -0.5 * (1 + logvar - mu * mu - logvar.exp()).sum() / n
    return bce + kl, bce, kl

"""Autoencoders and the VAE: the loss against a hand computation, gradients through the
reparameterisation, shapes, seeding, and short trainings on real MNIST images."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data.datasets import MNIST
from deepgrad.models import (
    VAE,
    ConvAutoencoder,
    DenoisingAutoencoder,
    DenseAutoencoder,
    vae_loss,
)
from deepgrad.models.vae import reparameterize
from deepgrad.nn import functional as F
from deepgrad.ops.creation import from_numpy


# -- the VAE loss --------------------------------------------------------------------------------
def _numpy_vae_loss(logits, x, mu, logvar):
    """Summed Bernoulli cross-entropy and the closed-form Gaussian KL, per example."""
    n = len(logits)
    bce = np.sum(np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits)))) / n
    kl = -0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar)) / n
    return bce + kl, bce, kl


def test_vae_loss_matches_a_numpy_computation():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (5, 12))
    x = rng.random((5, 12))  # grey levels, not only 0 and 1
    mu, logvar = rng.normal(size=(5, 3)), rng.normal(0, 0.5, (5, 3))
    got = vae_loss(*(dg.tensor(a, dtype=dg.float64) for a in (logits, x, mu, logvar)))
    want = _numpy_vae_loss(logits, x, mu, logvar)
    for g, w in zip(got, want):
        assert g.item() == pytest.approx(w, rel=1e-12)


def test_vae_loss_kl_is_zero_for_the_prior_and_positive_elsewhere():
    logits, x = dg.zeros(4, 6), dg.ones(4, 6)
    _, bce, kl = vae_loss(logits, x, dg.zeros(4, 2), dg.zeros(4, 2))
    assert kl.item() == 0.0
    assert bce.item() == pytest.approx(6 * np.log(2), rel=1e-6)  # each logit 0 costs log 2
    _, _, kl = vae_loss(logits, x, dg.full((4, 2), 0.3), dg.full((4, 2), -0.2))
    assert kl.item() > 0


def test_vae_loss_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    arrays = [rng.normal(size=(3, 8)), rng.random((3, 8)), rng.normal(size=(3, 2)),
              rng.normal(size=(3, 2))]
    ours = [dg.tensor(a, dtype=dg.float64, requires_grad=i != 1) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=i != 1) for i, a in enumerate(arrays)]
    vae_loss(*ours)[0].backward()
    logits, x, mu, logvar = theirs
    loss = (torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            - 0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())) / 3
    loss.backward()
    for i in (0, 2, 3):
        np.testing.assert_allclose(ours[i].grad.array, theirs[i].grad.numpy(), rtol=1e-10)


def test_vae_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"vae_loss: logits \(2, 4\) and x \(2, 5\)"):
        vae_loss(dg.zeros(2, 4), dg.zeros(2, 5), dg.zeros(2, 3), dg.zeros(2, 3))
    with pytest.raises(ValueError, match=r"vae_loss: mu \(2, 3\) and logvar \(2, 2\)"):
        vae_loss(dg.zeros(2, 4), dg.zeros(2, 4), dg.zeros(2, 3), dg.zeros(2, 2))


# -- the reparameterisation ----------------------------------------------------------------------
def test_reparameterisation_gradient_reaches_mu_and_logvar():
    mu = dg.tensor([[0.5, -1.0, 2.0]], dtype=dg.float64, requires_grad=True)
    logvar = dg.tensor([[0.0, 1.0, -2.0]], dtype=dg.float64, requires_grad=True)
    z = reparameterize(mu, logvar)
    eps = (z.array - mu.array) / np.exp(logvar.array / 2)  # the noise that was drawn
    (z * z).sum().backward()
    # d(z^2)/dmu = 2z; d(z^2)/dlogvar = 2z * eps * exp(logvar / 2) / 2
    np.testing.assert_allclose(mu.grad.array, 2 * z.array)
    np.testing.assert_allclose(logvar.grad.array, z.array * eps * np.exp(logvar.array / 2))


def test_reparameterised_samples_have_the_requested_mean_and_variance():
    mu, logvar = dg.full((20000, 2), 1.5), dg.full((20000, 2), np.log(0.25))
    z = reparameterize(mu, logvar).array
    assert z.mean() == pytest.approx(1.5, abs=0.02)
    assert z.std() == pytest.approx(0.5, abs=0.02)


def test_vae_gradient_flows_to_both_encoder_heads():
    model = VAE(16, 8, 3)
    x = dg.rand(4, 16)
    logits, mu, logvar = model(x)
    vae_loss(logits, x, mu, logvar)[0].backward()
    for param in (model.mu.weight, model.logvar.weight, model.encoder[0].weight):
        assert param.grad is not None and np.abs(param.grad.array).sum() > 0


# -- shapes and seeding --------------------------------------------------------------------------
def test_vae_shapes_and_sampling():
    model = VAE(latent_dim=5)
    logits, mu, logvar = model(dg.rand(3, 1, 28, 28))
    assert logits.shape == (3, 784) and mu.shape == (3, 5) and logvar.shape == (3, 5)
    samples = model.sample(7)
    assert samples.shape == (7, 784)
    assert samples.array.min() >= 0 and samples.array.max() <= 1
    assert model.decode(dg.zeros(2, 5)).shape == (2, 784)
    with pytest.raises(ValueError, match=r"VAE.encode: input has shape \(3, 100\)"):
        model(dg.rand(3, 100))
    with pytest.raises(ValueError, match="VAE: latent_dim must be a positive int"):
        VAE(latent_dim=0)


def test_vae_is_repeatable_under_a_seed():
    def run(seed):
        dg.manual_seed(seed)
        model = VAE(20, 10, 2)
        return model(dg.rand(2, 20))[0].array

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


@pytest.mark.parametrize("make", [lambda: DenseAutoencoder(784, (64,), 8),
                                  lambda: ConvAutoencoder(8, channels=(4, 8)),
                                  lambda: DenoisingAutoencoder(DenseAutoencoder(784, (64,), 8))])
@pytest.mark.parametrize("shape", [(3, 784), (3, 1, 28, 28)])
def test_autoencoders_keep_the_input_shape(make, shape):
    model = make()
    x = dg.rand(*shape)
    out = model(x)
    assert out.shape == shape
    assert 0 <= out.array.min() and out.array.max() <= 1  # a sigmoid output
    assert model.encode(x).shape == (3, 8)
    F.mse_loss(out, x).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_autoencoders_reject_wrong_inputs():
    with pytest.raises(ValueError, match=r"DenseAutoencoder.encode: input has shape \(2, 10\)"):
        DenseAutoencoder(784, (8,), 4)(dg.rand(2, 10))
    with pytest.raises(ValueError, match=r"ConvAutoencoder.encode: input has shape \(2, 3, 28"):
        ConvAutoencoder(4)(dg.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"hidden\[1\] must be a positive int"):
        DenseAutoencoder(784, (8, 0), 4)
    with pytest.raises(ValueError, match="mask_prob must be in"):
        DenoisingAutoencoder(DenseAutoencoder(), mask_prob=1.0)
    with pytest.raises(TypeError, match="must have encode and decode"):
        DenoisingAutoencoder(dg.nn.Linear(2, 2))


def test_denoising_corrupts_only_in_training():
    inner = DenseAutoencoder(16, (8,), 4)
    model = DenoisingAutoencoder(inner, noise_std=0.3)
    x = dg.rand(5, 16)
    model.eval()
    np.testing.assert_array_equal(model(x).array, inner(x).array)
    model.train()
    assert not np.allclose(model(x).array, inner(x).array)


def test_corruption_statistics():
    x = dg.full((200, 500), 0.5)
    noisy = DenoisingAutoencoder(DenseAutoencoder(), noise_std=0.1).corrupt(x).array
    assert noisy.std() == pytest.approx(0.1, rel=0.02) and noisy.mean() == pytest.approx(0.5,
                                                                                        abs=1e-3)
    masked = DenoisingAutoencoder(DenseAutoencoder(), noise_std=0.0, mask_prob=0.25).corrupt(x)
    assert np.mean(masked.array == 0) == pytest.approx(0.25, abs=0.01)
    assert set(np.unique(masked.array)) == {0.0, 0.5}
    clipped = DenoisingAutoencoder(DenseAutoencoder(), noise_std=2.0).corrupt(x).array
    assert clipped.min() == 0.0 and clipped.max() == 1.0


# -- real data -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist(datasets_root):
    x, _ = MNIST(root=datasets_root, train=True, download=False).arrays()
    x_test, _ = MNIST(root=datasets_root, train=False, download=False).arrays()
    return x[:2000].reshape(2000, 784), x_test[:1000].reshape(1000, 784)


def _train(model, loss_of, x, epochs, batch_size, lr):
    optimizer = dg.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = dg.backend.rng().permutation(len(x))
        for i in range(0, len(x), batch_size):
            batch = from_numpy(x[order[i:i + batch_size]])
            optimizer.zero_grad()
            loss_of(batch).backward()
            optimizer.step()
    model.eval()


def test_dense_autoencoder_beats_the_mean_image_on_mnist(mnist):
    x, x_test = mnist
    model = DenseAutoencoder(784, (256,), 32)
    _train(model, lambda b: F.binary_cross_entropy(model(b), b), x, epochs=2, batch_size=32,
           lr=3e-3)
    with dg.no_grad():
        mse = np.mean((model(from_numpy(x_test)).array - x_test) ** 2)
    mean_image_mse = np.mean((x.mean(axis=0) - x_test) ** 2)  # about 0.066
    # 126 steps on 2,000 images: measured 0.036-0.037, about 0.56 of the mean image's error
    assert mse < 0.7 * mean_image_mse


def test_vae_learns_mnist(mnist):
    x, x_test = mnist

    def loss_of(batch):
        logits, mu, logvar = model(batch)
        return vae_loss(logits, batch, mu, logvar)[0]

    model = VAE(784, 400, 20)
    with dg.no_grad():
        start = loss_of(from_numpy(x_test)).item()  # about 784 log 2 = 543 nats
    _train(model, loss_of, x, epochs=2, batch_size=50, lr=3e-3)
    with dg.no_grad():
        logits, mu, logvar = model(from_numpy(x_test))
        loss, bce, kl = (t.item() for t in vae_loss(logits, from_numpy(x_test), mu, logvar))
    # a model that ignores z can do no better than the mean image's 202.5 nats on these images;
    # 80 steps on 2,000 images: measured 166 nats (KL 11)
    assert start > 500 and loss < 180
    assert kl > 1  # the code carries information

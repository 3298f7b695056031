"""Adversarial training (GANTrainer) and the GAN scores (Inception Score, Fréchet distance)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.models import DCGANDiscriminator, DCGANGenerator, dcgan_init
from deepgrad.train.gan import GANTrainer
from deepgrad.train.gan_scores import (
    classifier_outputs,
    frechet_distance,
    gan_scores,
    inception_score,
)


def small_gan(latent_dim=8, ngf=4, ndf=4, levels=3):
    g, d = DCGANGenerator(latent_dim, ngf, levels=levels), DCGANDiscriminator(ndf, levels=levels)
    g.apply(dcgan_init)
    d.apply(dcgan_init)
    return g, d


def snapshot(model) -> dict:
    return {k: v.detach().numpy().copy() for k, v in model.named_parameters()}


def changed(before: dict, model) -> set:
    return {k for k, v in model.named_parameters()
            if not np.array_equal(before[k], v.detach().numpy())}


def _load_test_module(relative: str):
    """A sibling test module (the torch twin of DCGAN lives beside the model tests)."""
    path = Path(__file__).resolve().parents[1] / relative
    spec = importlib.util.spec_from_file_location(path.stem + "_for_gan", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def softplus(x):
    return np.logaddexp(0.0, x)


# -- the two steps -------------------------------------------------------------------------------
def test_discriminator_step_leaves_generator_alone():
    g, d = small_gan()
    trainer = GANTrainer(g, d)
    real = dg.rand(8, 1, 28, 28) * 2 - 1
    fake = g(trainer.noise(8))
    g_before, d_before = snapshot(g), snapshot(d)
    logits_real, logits_fake = d(real).detach().numpy(), d(fake).detach().numpy()
    stats = trainer.d_step(real, fake)
    assert changed(g_before, g) == set()
    assert all(p.grad is None for p in g.parameters())  # detached: no gradient reached G
    assert changed(d_before, d) == set(d_before)  # every D parameter moved
    # BCE with label 1 on real and 0 on fake: softplus(-l) and softplus(l), batch means
    expected = softplus(-logits_real).mean() + softplus(logits_fake).mean()
    assert stats["loss_d"] == pytest.approx(expected, rel=1e-5)
    assert stats["d_real_acc"] == pytest.approx((logits_real > 0).mean())
    assert stats["d_fake_acc"] == pytest.approx((logits_fake < 0).mean())


def test_one_sided_label_smoothing_targets_real_images_only():
    g, d = small_gan()
    trainer = GANTrainer(g, d, real_label=0.9)
    real = dg.rand(8, 1, 28, 28) * 2 - 1
    fake = g(trainer.noise(8))
    logits_real, logits_fake = d(real).detach().numpy(), d(fake).detach().numpy()
    stats = trainer.d_step(real, fake)
    # BCE against 0.9: 0.9 * softplus(-l) + 0.1 * softplus(l); fakes keep target 0
    expected = (0.9 * softplus(-logits_real) + 0.1 * softplus(logits_real)).mean() \
        + softplus(logits_fake).mean()
    assert stats["loss_d"] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="real_label"):
        GANTrainer(g, d, real_label=0.0)


def test_generator_step_leaves_discriminator_alone():
    g, d = small_gan()
    trainer = GANTrainer(g, d)
    fake = g(trainer.noise(8))
    g_before, d_before = snapshot(g), snapshot(d)
    logits = d(fake).detach().numpy()
    stats = trainer.g_step(fake)
    assert changed(d_before, d) == set()
    assert all(p.grad is None for p in d.parameters())  # D frozen for G's backward pass
    assert all(p.requires_grad for p in d.parameters())  # and unfrozen afterwards
    assert changed(g_before, g) == set(g_before)
    # the non-saturating loss -log D(G(z)) = BCE(logit, 1) = softplus(-logit)
    assert stats["loss_g"] == pytest.approx(softplus(-logits).mean(), rel=1e-5)


def test_train_step_matches_torch():
    """One iteration (D step, then G step on the same fakes) against a torch loop."""
    torch = pytest.importorskip("torch")
    twin = _load_test_module("models/test_dcgan.py")
    torch_dcgan, copy_into_torch = twin.torch_dcgan, twin.copy_into_torch
    g, d = small_gan(latent_dim=10, ngf=6, ndf=5)
    tg, td = torch_dcgan(torch, 10, 6, 5)
    copy_into_torch(torch, g, tg)
    copy_into_torch(torch, d, td)
    rng = np.random.default_rng(1)
    real = rng.uniform(-1, 1, (8, 1, 28, 28)).astype(np.float32)
    z = rng.standard_normal((8, 10)).astype(np.float32)
    trainer = GANTrainer(g, d)
    trainer.noise = lambda n: dg.tensor(z)
    trainer.train_step(dg.tensor(real))
    for _ in range(2):  # a second iteration exercises Adam's moments
        trainer.train_step(dg.tensor(real))

    opt_g = torch.optim.Adam(tg.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(td.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    for _ in range(3):
        fake = tg(torch.from_numpy(z))
        opt_d.zero_grad()
        loss_d = bce(td(torch.from_numpy(real)), torch.ones(8)) + bce(td(fake.detach()),
                                                                       torch.zeros(8))
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        bce(td(fake), torch.ones(8)).backward()
        opt_g.step()
    for ours, theirs in ((g, tg), (d, td)):
        t_state = theirs.state_dict()
        for k, v in ours.state_dict().items():
            np.testing.assert_allclose(v.detach().numpy(), t_state[k].numpy(), atol=2e-5,
                                       rtol=1e-4, err_msg=k)


def test_fit_history_checkpoint_and_resume(tmp_path):
    g, d = small_gan()
    trainer = GANTrainer(g, d, fixed_noise=16)
    data = [dg.rand(8, 1, 28, 28) * 2 - 1 for _ in range(3)]
    seen = []
    history = trainer.fit(data, 2, on_epoch_end=lambda t, e, s: seen.append((e, s["loss_g"])),
                          checkpoint=tmp_path / "gan.safetensors", log=None)
    assert history["epoch"] == [1, 2] and [e for e, _ in seen] == [1, 2]
    assert len(trainer.steps["loss_d"]) == 6
    for key in ("loss_d", "loss_g", "d_real_acc", "d_fake_acc", "d_x", "d_g_z"):
        assert len(history[key]) == 2 and np.isfinite(history[key]).all()
    assert trainer.sample(trainer.fixed_noise).shape == (16, 1, 28, 28)
    g2, d2 = small_gan()
    resumed = GANTrainer(g2, d2)
    resumed.load(tmp_path / "gan.safetensors")
    assert resumed.epoch == 2 and resumed.history["loss_d"] == pytest.approx(history["loss_d"])
    np.testing.assert_array_equal(resumed.fixed_noise.numpy(), trainer.fixed_noise.numpy())
    for a, b in zip(g.state_dict().values(), g2.state_dict().values()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    for key, values in trainer.steps.items():  # every iteration's statistics
        assert resumed.steps[key] == pytest.approx(values), key
    lines = []
    resumed.fit(data, 1, log=lines.append, log_every=2)
    assert len(resumed.steps["loss_g"]) == 9
    assert len(lines) == 2 and "epoch 3 step 2:" in lines[0] and lines[1].startswith("epoch 3:")
    with pytest.raises(ValueError, match="GANTrainer.fit: epochs"):
        trainer.fit(data, -1)
    with pytest.raises(ValueError, match="GANTrainer: latent_dim"):
        GANTrainer(nn.Linear(2, 2), d)


def test_generator_average_follows_the_generator_and_is_saved(tmp_path):
    g, d = small_gan()
    trainer = GANTrainer(g, d, fixed_noise=4, ema_decay=0.5)
    ema = trainer.generator_ema
    assert trainer.sampler is ema.module and trainer.sampler is not g
    data = [dg.rand(8, 1, 28, 28) * 2 - 1 for _ in range(3)]
    before = snapshot(g)
    trainer.train_step(data[0])  # the first update copies G
    for name, p in ema.module.named_parameters():
        np.testing.assert_array_equal(p.detach().numpy(), dict(g.named_parameters())[name]
                                      .detach().numpy())
    previous = snapshot(ema.module)
    trainer.train_step(data[1])  # later ones: average = 0.5 * average + 0.5 * G
    for name, p in ema.module.named_parameters():
        expected = 0.5 * previous[name] + 0.5 * dict(g.named_parameters())[name].detach().numpy()
        np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-6, atol=1e-7)
    assert changed(before, g)  # G trained; the average is not a parameter of any optimizer
    assert not any(p.requires_grad for p in ema.parameters())
    # samples come from the average, in eval mode, and the checkpoint keeps it
    with dg.no_grad():
        ema.module.eval()
        expected = ema.module(trainer.fixed_noise).numpy()
    np.testing.assert_allclose(trainer.sample(trainer.fixed_noise).numpy(), expected, rtol=1e-6)
    trainer.save(tmp_path / "gan.safetensors")
    again = GANTrainer(*small_gan(), ema_decay=0.5)
    again.load(tmp_path / "gan.safetensors")
    assert int(again.generator_ema.n_averaged.item()) == 2
    for a, b in zip(ema.state_dict().values(), again.generator_ema.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # after an epoch the average's batch-norm statistics are its own: measured on 20 batches
    trainer.fit(data, 1, log=None)
    norm = ema.module.net[0]
    assert int(norm.num_batches_tracked.item()) == 20
    with dg.no_grad():
        z = dg.randn(256, 8)
        features = ema.module.project(z).reshape(256, -1, 3, 3).numpy()  # the 3x3 map
    np.testing.assert_allclose(norm.running_mean.numpy(), features.mean(axis=(0, 2, 3)),
                               atol=0.05 * features.std())


# -- scores --------------------------------------------------------------------------------------
def test_inception_score_extremes():
    one_hot = np.eye(10)[np.arange(1000) % 10]
    assert inception_score(one_hot, splits=10) == pytest.approx((10.0, 0.0), abs=1e-6)
    assert inception_score(np.eye(10)[np.zeros(100, int)], 2)[0] == pytest.approx(1.0)
    assert inception_score(np.full((50, 4), 0.25), 1)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="inception_score: probs must be non-negative rows"):
        inception_score(np.ones((4, 3)))
    with pytest.raises(ValueError, match="inception_score: splits"):
        inception_score(one_hot[:5], splits=10)


def test_inception_score_by_hand():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=12)
    parts = [p[:6], p[6:]]
    by_hand = [np.exp(np.mean([sum(r[c] * np.log(r[c] / q.mean(0)[c]) for c in range(5))
                               for r in q])) for q in parts]
    mean, std = inception_score(dg.tensor(p), splits=2)
    assert mean == pytest.approx(np.mean(by_hand)) and std == pytest.approx(np.std(by_hand))


def test_frechet_distance_exact_cases():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # b = c a + shift: S_b = c^2 S_a, so tr((S_a S_b)^(1/2)) = c tr(S_a) exactly
    c, shift = 1.7, rng.standard_normal(6)
    b = c * a + shift
    mean_gap = ((b.mean(0) - a.mean(0)) ** 2).sum()
    expected = mean_gap + (1 - c) ** 2 * np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    # 1-d: (m_a - m_b)^2 + (s_a - s_b)^2 with sample standard deviations
    x, y = rng.standard_normal((300, 1)), 3 + 2 * rng.standard_normal((200, 1))
    expected_1d = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
    assert frechet_distance(x, y) == pytest.approx(expected_1d, rel=1e-10)
    with pytest.raises(ValueError, match="frechet_distance: feature sets"):
        frechet_distance(a, a[:, :3])


def test_frechet_distance_of_two_gaussians_against_closed_form():
    """N(0, diag(1, 4)) vs N(1, diag(9, 1)): |mu|^2 = 2, (1-3)^2 + (2-1)^2 = 5; total 7."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((200_000, 2)) * [1, 2]
    b = 1 + rng.standard_normal((200_000, 2)) * [3, 1]
    assert frechet_distance(a, b) == pytest.approx(7.0, abs=0.1)


def test_frechet_distance_against_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(2)
    a = rng.standard_normal((400, 5)) @ rng.standard_normal((5, 5))
    b = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 5)) + 0.5
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = (((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s_a) + np.trace(s_b)
                - 2 * np.trace(linalg.sqrtm(s_a @ s_b)).real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-7)


def test_classifier_outputs_and_gan_scores():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 7), nn.ReLU(), nn.Linear(7, 3))
    images = dg.randn(30, 1, 28, 28)
    probs, feats = classifier_outputs(model, images, "2", batch_size=8)
    assert probs.shape == (30, 3) and feats.shape == (30, 7)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    with dg.no_grad():
        hidden = model[2](model[1](model[0](images)))
    # batches of 8 and of 30 may round differently in the GEMM (MKL picks kernels by size)
    np.testing.assert_allclose(feats, hidden.numpy(), rtol=1e-5, atol=1e-6)
    assert model.training  # put back in training mode
    scores = gan_scores(model, images, feats, "2", splits=3)
    assert scores["frechet_distance"] == pytest.approx(0.0, abs=1e-6)
    assert sum(scores["class_counts"]) == 30
    with pytest.raises(ValueError, match="classifier_outputs: the classifier has no submodule"):
        classifier_outputs(model, images, "fc9")


# -- real data -----------------------------------------------------------------------------------
def test_short_mnist_training_moves_generator_toward_data(datasets_root):
    """60 D/G iterations (batch 16, tiny nets, lr 3e-3) on 4,800 MNIST digits, a few seconds.
    Threshold: the generator starts at ~0 grey everywhere (tanh of small outputs) and must learn
    MNIST's mostly-black background: its mean pixel moves from ~0 below -0.4 (data: about -0.74)
    and over 30% of its pixels fall below -0.8 (data: ~80%); D's accuracy on real images leaves
    the trivial 0.5."""
    from deepgrad.data import DataLoader, TensorDataset
    from deepgrad.data.datasets import MNIST

    x, _ = MNIST(root=datasets_root, train=True).arrays()
    x = dg.tensor(x[:4800] * 2 - 1)
    # without the 3x3 stage: 4-channel nets with it learn the background more slowly in 60 steps
    g, d = small_gan(latent_dim=16, ngf=4, ndf=4, levels=2)
    trainer = GANTrainer(g, d, lr=3e-3, fixed_noise=256)
    start = trainer.sample(trainer.fixed_noise).numpy()
    assert abs(start.mean()) < 0.1 and (start < -0.8).mean() == 0
    loader = DataLoader(TensorDataset(x), batch_size=16, shuffle=True, drop_last=True)
    trainer.fit(loader, 1, max_steps=60, log=None)
    after = trainer.sample(trainer.fixed_noise).numpy()
    assert after.mean() < -0.4, after.mean()
    assert (after < -0.8).mean() > 0.3, (after < -0.8).mean()
    assert np.mean(trainer.steps["d_real_acc"][-20:]) > 0.7

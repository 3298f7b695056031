"""DCGAN generator and discriminator: shapes, input checks, DCGAN's initialisation, and the same
architecture in torch.nn (parameter counts, state dict layout, forward pass with shared weights)."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.models import DCGANDiscriminator, DCGANGenerator, dcgan_init


def test_generator_shapes_and_range():
    g = DCGANGenerator(latent_dim=16, ngf=8)
    out = g(dg.randn(5, 16))
    assert out.shape == (5, 1, 28, 28)
    assert out.min().item() >= -1 and out.max().item() <= 1
    assert g(dg.randn(3, 16, 1, 1)).shape == (3, 1, 28, 28)  # the paper's (N, z, 1, 1) noise
    assert DCGANGenerator(8, 4, channels=3)(dg.randn(2, 8)).shape == (2, 3, 28, 28)


def test_discriminator_shapes():
    d = DCGANDiscriminator(ndf=8)
    assert d(dg.randn(6, 1, 28, 28)).shape == (6,)
    assert DCGANDiscriminator(4, channels=3)(dg.randn(2, 3, 28, 28)).shape == (2,)
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in d.modules())


def test_bad_inputs_name_the_model_and_shapes():
    with pytest.raises(ValueError, match=r"DCGANGenerator: z must have shape \(N, 16\).*\(4, 10\)"):
        DCGANGenerator(16, 8)(dg.randn(4, 10))
    with pytest.raises(ValueError, match=r"DCGANDiscriminator: images.*\(2, 1, 32, 32\)"):
        DCGANDiscriminator(8)(dg.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="DCGANGenerator: ngf must be a positive int"):
        DCGANGenerator(16, 0)
    with pytest.raises(ValueError, match="DCGANDiscriminator: ndf must be a positive int"):
        DCGANDiscriminator(2.5)
    with pytest.raises(ValueError, match="DCGANGenerator: extra_layers must be a non-negative"):
        DCGANGenerator(16, 8, extra_layers=-1)
    with pytest.raises(ValueError, match="DCGANDiscriminator: levels must be 2 .* or 3 .*, got 4"):
        DCGANDiscriminator(8, levels=4)
    with pytest.raises(ValueError, match="DCGANDiscriminator: extra_layers.*'2'"):
        DCGANDiscriminator(8, extra_layers="2")


def test_dcgan_init_statistics():
    g, d = DCGANGenerator(100, 32), DCGANDiscriminator(32)
    g.apply(dcgan_init)
    d.apply(dcgan_init)
    for model in (g, d):
        for name, p in model.named_parameters():
            a = p.detach().numpy()
            bn = isinstance(dict(model.named_modules())[name.rsplit(".", 1)[0]], nn.BatchNorm2d)
            if name.endswith("bias"):
                assert np.all(a == 0), name
            elif bn:
                assert abs(a.mean() - 1) < 0.02 and 0.005 < a.std() < 0.04, name
            else:
                assert abs(a.mean()) < 0.005 and abs(a.std() - 0.02) < 0.003, name


# -- the same networks in torch.nn --------------------------------------------------------------
def torch_dcgan(torch, latent_dim, ngf, ndf, channels=1, extra=0, levels=3):
    """DCGAN's generator and discriminator written in torch.nn with deepgrad's module names."""
    tnn = torch.nn

    def extra_layers(width, activation):
        return [m for _ in range(extra) for m in (
            tnn.Conv2d(width, width, 3, 1, 1, bias=False), tnn.BatchNorm2d(width), activation())]

    class G(tnn.Module):
        def __init__(self):
            super().__init__()
            self.top = (ngf * 4, 3) if levels == 3 else (ngf * 2, 7)
            self.project = tnn.Linear(latent_dim, self.top[0] * self.top[1] ** 2, bias=False)
            coarse = [tnn.BatchNorm2d(ngf * 4), tnn.ReLU(),
                      tnn.ConvTranspose2d(ngf * 4, ngf * 2, 3, 2, 0, bias=False)]
            self.net = tnn.Sequential(
                *(coarse if levels == 3 else []), tnn.BatchNorm2d(ngf * 2), tnn.ReLU(),
                tnn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), tnn.BatchNorm2d(ngf),
                tnn.ReLU(), *extra_layers(ngf, tnn.ReLU),
                tnn.ConvTranspose2d(ngf, channels, 4, 2, 1), tnn.Tanh())

        def forward(self, z):
            c, size = self.top
            return self.net(self.project(z).reshape(z.shape[0], c, size, size))

    class D(tnn.Module):
        def __init__(self):
            super().__init__()
            self.net = tnn.Sequential(
                tnn.Conv2d(channels, ndf, 4, 2, 1), tnn.LeakyReLU(0.2),
                *extra_layers(ndf, lambda: tnn.LeakyReLU(0.2)),
                tnn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), tnn.BatchNorm2d(ndf * 2),
                tnn.LeakyReLU(0.2),
                *([tnn.Conv2d(ndf * 2, ndf * 4, 3, 2, 0, bias=False), tnn.BatchNorm2d(ndf * 4),
                   tnn.LeakyReLU(0.2), tnn.Conv2d(ndf * 4, 1, 3)] if levels == 3
                  else [tnn.Conv2d(ndf * 2, 1, 7)]))

        def forward(self, x):
            return self.net(x).reshape(x.shape[0])

    return G(), D()


def copy_into_torch(torch, model, twin):
    state = {k: torch.from_numpy(np.array(v.detach().numpy()))
             for k, v in model.state_dict().items()}
    twin.load_state_dict(state)


@pytest.mark.parametrize("ngf,ndf,extra,levels", [(64, 64, 0, 2), (32, 16, 0, 2), (16, 8, 2, 2),
                                                  (16, 8, 1, 3)])
def test_matches_torch_architecture(ngf, ndf, extra, levels):
    torch = pytest.importorskip("torch")
    g = DCGANGenerator(100, ngf, extra_layers=extra, levels=levels)
    d = DCGANDiscriminator(ndf, extra_layers=extra, levels=levels)
    tg, td = torch_dcgan(torch, 100, ngf, ndf, extra=extra, levels=levels)
    for ours, theirs in ((g, tg), (d, td)):
        assert sum(p.numel() for p in ours.parameters()) == sum(
            p.numel() for p in theirs.parameters())
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
            k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    # DCGAN-64 for MNIST: G = 100*6272 + BN(256) + 128*64*16 + BN(128) + 64*16 + 1
    if (ngf, ndf) == (64, 64):
        assert sum(p.numel() for p in g.parameters()) == 627200 + 256 + 131072 + 128 + 1025


@pytest.mark.parametrize("extra,levels", [(0, 2), (1, 2), (1, 3)])
def test_forward_matches_torch_with_shared_weights(extra, levels):
    torch = pytest.importorskip("torch")
    g = DCGANGenerator(20, 8, extra_layers=extra, levels=levels)
    d = DCGANDiscriminator(8, extra_layers=extra, levels=levels)
    g.apply(dcgan_init)
    d.apply(dcgan_init)
    tg, td = torch_dcgan(torch, 20, 8, 8, extra=extra, levels=levels)
    copy_into_torch(torch, g, tg)
    copy_into_torch(torch, d, td)
    z = np.random.default_rng(0).standard_normal((6, 20)).astype(np.float32)
    fake = g(dg.tensor(z))
    t_fake = tg(torch.from_numpy(z))
    np.testing.assert_allclose(fake.detach().numpy(), t_fake.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(d(fake).detach().numpy(), td(t_fake).detach().numpy(), atol=1e-4)


def test_spectral_norm_discriminator_matches_torch():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    d = DCGANDiscriminator(8, extra_layers=1, norm="spectral", levels=2)
    d.apply(dcgan_init)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    sn = tnn.utils.spectral_norm
    twin = tnn.Sequential(sn(tnn.Conv2d(1, 8, 4, 2, 1)), tnn.LeakyReLU(0.2),
                          sn(tnn.Conv2d(8, 8, 3, 1, 1)), tnn.LeakyReLU(0.2),
                          sn(tnn.Conv2d(8, 16, 4, 2, 1)), tnn.LeakyReLU(0.2),
                          sn(tnn.Conv2d(16, 1, 7)))
    twin.load_state_dict({k.removeprefix("net."): torch.from_numpy(v.numpy().copy())
                          for k, v in d.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((4, 1, 28, 28)).astype(np.float32)
    for _ in range(2):  # training mode: each call takes a power-iteration step in both
        np.testing.assert_allclose(d(dg.tensor(x)).detach().numpy(),
                                   twin(torch.from_numpy(x)).detach().numpy().reshape(4),
                                   rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="DCGANDiscriminator: norm must be 'batch' or"):
        DCGANDiscriminator(8, norm="layer")

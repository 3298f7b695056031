"""One DCGAN training iteration in deepgrad and PyTorch eager, in one run.

The iteration is the one GANTrainer runs: draw z, G(z) once; discriminator step (BCE with logits
on a real batch labelled 1 and the detached fakes labelled 0, Adam); generator step (the
non-saturating BCE of D on the fakes labelled 1, D frozen, Adam). Batch 64 of 28x28 images,
the same architecture (DCGANGenerator / DCGANDiscriminator, torch twin written out below; by
default mnist-gan's: widths 64 and 32, two extra generator layers, the 3x3 stage) and the same
starting weights in both frameworks.

    python benchmarks/dcgan_step.py [--ngf 64] [--ndf 32] [--g-extra-layers 2] [--levels 3]
                                    [--threads 1] [--cpu-time]
"""

from __future__ import annotations

import argparse

import numpy as np
from cnn_bench import compare_cpu, set_threads
from harness import compare, report, try_import_torch

BATCH, LATENT, STEPS = 64, 100, 3


def torch_twin(torch, ngf: int, ndf: int, g_extra: int = 2, levels: int = 3):
    tnn = torch.nn
    extra = [m for _ in range(g_extra) for m in (
        tnn.Conv2d(ngf, ngf, 3, 1, 1, bias=False), tnn.BatchNorm2d(ngf), tnn.ReLU())]
    top = (ngf * 4, 3) if levels == 3 else (ngf * 2, 7)
    g_coarse = [tnn.BatchNorm2d(ngf * 4), tnn.ReLU(),
                tnn.ConvTranspose2d(ngf * 4, ngf * 2, 3, 2, 0, bias=False)][:3 * (levels - 2)]
    d_head = ([tnn.Conv2d(ndf * 2, ndf * 4, 3, 2, 0, bias=False), tnn.BatchNorm2d(ndf * 4),
               tnn.LeakyReLU(0.2), tnn.Conv2d(ndf * 4, 1, 3)] if levels == 3
              else [tnn.Conv2d(ndf * 2, 1, 7)])

    class G(tnn.Module):
        def __init__(self):
            super().__init__()
            self.project = tnn.Linear(LATENT, top[0] * top[1] ** 2, bias=False)
            self.net = tnn.Sequential(
                *g_coarse, tnn.BatchNorm2d(ngf * 2), tnn.ReLU(),
                tnn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), tnn.BatchNorm2d(ngf),
                tnn.ReLU(), *extra, tnn.ConvTranspose2d(ngf, 1, 4, 2, 1), tnn.Tanh())

        def forward(self, z):
            return self.net(self.project(z).reshape(z.shape[0], top[0], top[1], top[1]))

    class D(tnn.Module):
        def __init__(self):
            super().__init__()
            self.net = tnn.Sequential(
                tnn.Conv2d(1, ndf, 4, 2, 1), tnn.LeakyReLU(0.2),
                tnn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), tnn.BatchNorm2d(ndf * 2),
                tnn.LeakyReLU(0.2), *d_head)

        def forward(self, x):
            return self.net(x).reshape(x.shape[0])

    return G(), D()


def models(ngf: int, ndf: int, g_extra: int = 2, levels: int = 3, torch=None):
    """deepgrad's nets with DCGAN's init, and (given torch) a torch twin holding equal weights."""
    import deepgrad as dg
    from deepgrad.models import DCGANDiscriminator, DCGANGenerator, dcgan_init

    dg.manual_seed(0)
    g = DCGANGenerator(LATENT, ngf, extra_layers=g_extra, levels=levels)
    d = DCGANDiscriminator(ndf, levels=levels)
    g.apply(dcgan_init)
    d.apply(dcgan_init)
    if torch is None:
        return (g, d), None
    tg, td = torch_twin(torch, ngf, ndf, g_extra, levels)
    for ours, twin in ((g, tg), (d, td)):
        twin.load_state_dict({k: torch.from_numpy(np.array(v.detach().numpy()))
                              for k, v in ours.state_dict().items()})
    return (g, d), (tg, td)


def data():
    rng = np.random.default_rng(0)
    real = np.tanh(rng.standard_normal((BATCH, 1, 28, 28))).astype(np.float32)
    z = rng.standard_normal((STEPS, BATCH, LATENT)).astype(np.float32)
    return real, z


def stepper(lib, g, d):
    """A function running STEPS DCGAN iterations in lib (deepgrad or torch)."""
    opt_g = lib.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = lib.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = lib.nn.BCEWithLogitsLoss()
    real0, z0 = data()
    real, zs = lib.from_numpy(real0), [lib.from_numpy(z) for z in z0]
    ones, zeros = lib.ones(BATCH), lib.zeros(BATCH)

    def run():
        for z in zs:
            fake = g(z)
            opt_d.zero_grad()
            loss_d = bce(d(real), ones) + bce(d(fake.detach()), zeros)
            loss_d.backward()
            opt_d.step()
            d.requires_grad_(False)
            opt_g.zero_grad()
            bce(d(fake), ones).backward()
            opt_g.step()
            d.requires_grad_(True)

    return run


def main(argv=None) -> dict:
    import deepgrad as dg

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=32)
    parser.add_argument("--g-extra-layers", type=int, default=2)
    parser.add_argument("--levels", type=int, default=3, choices=(2, 3))
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--threads", type=int, help="threads for both frameworks (1 is the "
                        "fair choice on a machine busy with other jobs)")
    parser.add_argument("--cpu-time", action="store_true", help="time by process CPU time")
    args = parser.parse_args(argv)
    torch = try_import_torch()
    set_threads(args.threads, torch)
    (g, d), twin = models(args.ngf, args.ndf, args.g_extra_layers, args.levels, torch)
    dg_run = stepper(dg, g, d)
    torch_run = stepper(torch, *twin) if torch else None
    if args.cpu_time:
        dg_s, torch_s = compare_cpu(dg_run, torch_run, blocks=args.blocks)
    else:
        dg_s, torch_s = compare(dg_run, torch_run, blocks=args.blocks, per_block=2)
    dg_s, torch_s = dg_s / STEPS, (torch_s / STEPS if torch else None)
    title = (f"DCGAN iteration (D step + G step), ngf {args.ngf}, ndf {args.ndf}, generator "
             f"extra layers {args.g_extra_layers}, levels {args.levels}, batch {BATCH}, 28x28")
    result = report(title, dg_s, torch_s, unit="iteration")
    print(f"  iterations/s: deepgrad {1 / dg_s:.2f}" +
          (f", torch {1 / torch_s:.2f}" if torch else ""))
    return result


if __name__ == "__main__":
    main()

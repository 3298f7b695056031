"""Training step of the classic MNIST CNN in deepgrad and PyTorch eager, in one run:

Conv2d(1, 32, 3) - ReLU - Conv2d(32, 64, 3) - ReLU - MaxPool2d(2) - Flatten - Linear(9216, 128)
- ReLU - Linear(128, 10), cross-entropy, Adam (lr 1e-3), batch 64 of 1x28x28 inputs.

Both start from the same weights (deepgrad's, copied into torch). A step is zero_grad, forward,
loss, backward, optimizer step; the two are timed in alternating blocks (harness.compare).
Peak memory: see cnn_bench.peak_memory_mb. ``--profile`` adds a per-component breakdown of
deepgrad's step.

    python benchmarks/mnist_cnn_step.py [--profile] [--threads N] [--cpu-time]
"""

from __future__ import annotations

import cnn_bench

BATCH, STEPS = 64, 5


def network(nn):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10))


def build(framework: str, steps: int = STEPS):
    """A function running ``steps`` training steps in deepgrad or torch (same initial weights)."""
    import deepgrad as dg

    dg.manual_seed(0)
    model = network(dg.nn)
    if framework == "torch":
        import torch

        dg_model, model = model, network(torch.nn)
        cnn_bench.copy_weights(dg_model, model)
        lib = torch
    else:
        lib = dg
    optimizer = lib.optim.Adam(model.parameters(), lr=1e-3)
    x, y = cnn_bench.data(BATCH, (1, 28, 28))
    return cnn_bench.stepper(lib, model, optimizer, x, y, steps)


def main(argv=None) -> dict:
    title = f"MNIST CNN (conv32-conv64-maxpool-fc128), Adam, batch {BATCH}"
    return cnn_bench.main(argv, __doc__.splitlines()[0], title, "mnist_cnn_step", build, STEPS)


if __name__ == "__main__":
    main()

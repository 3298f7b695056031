"""Training step of the CIFAR ResNet-20 (He et al. 2015, section 4.2; option A shortcuts) on
1x28x28 inputs in deepgrad and PyTorch eager, in one run: cross-entropy, SGD (lr 0.1,
momentum 0.9), batch 128.

deepgrad's model is ``deepgrad.models.resnet20(num_classes=10, in_channels=1)``; the torch
model is the same architecture written here with the same module names, so deepgrad's initial
weights load into it. A step is zero_grad, forward, loss, backward, optimizer step; the two are
timed in alternating blocks (harness.compare). Peak memory: see cnn_bench.peak_memory_mb.
``--profile`` adds a per-component breakdown of deepgrad's step.

    python benchmarks/resnet_step.py [--profile] [--threads N] [--cpu-time]
"""

from __future__ import annotations

import cnn_bench

BATCH, STEPS = 128, 2


def torch_resnet20(in_channels: int = 1, num_classes: int = 10):
    """ResNet-20 in torch, laid out like deepgrad.models.CifarResNet (option A shortcuts)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class PadShortcut(nn.Module):
        def __init__(self, inplanes, planes, stride):
            super().__init__()
            self.extra, self.stride = planes - inplanes, stride

        def forward(self, x):
            x = x[:, :, ::self.stride, ::self.stride]
            return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))

    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(out + identity)

    class ResNet20(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.relu = nn.ReLU()
            self.layer1 = self._stage(16, 16, 1)
            self.layer2 = self._stage(16, 32, 2)
            self.layer3 = self._stage(32, 64, 2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(64, num_classes)

        @staticmethod
        def _stage(inplanes, planes, stride, blocks=3):
            down = PadShortcut(inplanes, planes, stride) if stride != 1 else None
            return nn.Sequential(BasicBlock(inplanes, planes, stride, down),
                                 *[BasicBlock(planes, planes) for _ in range(1, blocks)])

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer3(self.layer2(self.layer1(x)))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet20()


def build(framework: str, steps: int = STEPS):
    """A function running ``steps`` training steps in deepgrad or torch (same initial weights)."""
    import deepgrad as dg

    dg.manual_seed(0)
    model = dg.models.resnet20(num_classes=10, in_channels=1)
    lib = dg
    if framework == "torch":
        import torch

        dg_model, model, lib = model, torch_resnet20(), torch
        cnn_bench.copy_weights(dg_model, model)
    optimizer = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = cnn_bench.data(BATCH, (1, 28, 28))
    return cnn_bench.stepper(lib, model, optimizer, x, y, steps)


def main(argv=None) -> dict:
    title = f"ResNet-20 (option A) on 1x28x28, SGD momentum, batch {BATCH}"
    return cnn_bench.main(argv, __doc__.splitlines()[0], title, "resnet_step", build, STEPS)


if __name__ == "__main__":
    main()

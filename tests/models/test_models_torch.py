"""The zoo against the same networks built in torch.nn (torchvision's layout, written out here
since torchvision is not a dependency): parameter counts, state dict keys and shapes, and the
forward pass, gradients and BatchNorm statistics with deepgrad's weights loaded into torch."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

import deepgrad as dg  # noqa: E402
from deepgrad.models import (  # noqa: E402
    BasicBlock,
    Bottleneck,
    LeNet5,
    MnistCNN,
    SmallVGG,
    resnet18,
    resnet20,
    resnet50,
)
from deepgrad.models.resnet import conv1x1  # noqa: E402


class TorchMnistCNN(tnn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = tnn.Conv2d(1, 32, 3, 1), tnn.Conv2d(32, 64, 3, 1)
        self.dropout1, self.dropout2 = tnn.Dropout(0.25), tnn.Dropout(0.5)
        self.fc1, self.fc2 = tnn.Linear(9216, 128), tnn.Linear(128, 10)

    def forward(self, x):
        x = TF.relu(self.conv2(TF.relu(self.conv1(x))))
        x = self.dropout1(TF.max_pool2d(x, 2)).flatten(1)
        return self.fc2(self.dropout2(TF.relu(self.fc1(x))))


class TorchLeNet5(tnn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.s2 = tnn.Conv2d(1, 6, 5, padding=2), tnn.MaxPool2d(2)
        self.c3, self.s4 = tnn.Conv2d(6, 16, 5), tnn.MaxPool2d(2)
        self.c5, self.f6 = tnn.Conv2d(16, 120, 5), tnn.Linear(120, 84)
        self.output = tnn.Linear(84, 10)
        self.act = tnn.Tanh()

    def forward(self, x):
        x = self.s4(self.act(self.c3(self.s2(self.act(self.c1(x))))))
        return self.output(self.act(self.f6(self.act(self.c5(x)).flatten(1))))


def torch_vgg_bn():
    """SmallVGG(cfg=(8, "M", 16, "M"), batch_norm=True, hidden_features=32) in torch."""
    model = tnn.Module()
    model.features = tnn.Sequential(
        tnn.Conv2d(1, 8, 3, padding=1, bias=False), tnn.BatchNorm2d(8), tnn.ReLU(),
        tnn.MaxPool2d(2, 2), tnn.Conv2d(8, 16, 3, padding=1, bias=False), tnn.BatchNorm2d(16),
        tnn.ReLU(), tnn.MaxPool2d(2, 2))
    model.avgpool = tnn.AdaptiveAvgPool2d((7, 7))
    model.classifier = tnn.Sequential(tnn.Linear(16 * 49, 32), tnn.ReLU(), tnn.Dropout(0.5),
                                      tnn.Linear(32, 10))
    model.forward = lambda x: model.classifier(model.avgpool(model.features(x)).flatten(1))
    return model


class TorchBlock(tnn.Module):
    """torchvision's BasicBlock (expansion 1) or Bottleneck (expansion 4), by ``bottleneck``."""

    def __init__(self, inplanes, planes, stride, downsample, bottleneck):
        super().__init__()
        if bottleneck:
            self.conv1 = tnn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.conv2 = tnn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
            self.conv3 = tnn.Conv2d(planes, 4 * planes, 1, bias=False)
            self.bn3 = tnn.BatchNorm2d(4 * planes)
        else:
            self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(planes)
            self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(planes)
        self.relu, self.downsample, self.bottleneck = tnn.ReLU(), downsample, bottleneck

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.bottleneck:
            out = self.bn3(self.conv3(self.relu(out)))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class TorchPad(tnn.Module):
    def __init__(self, extra):
        super().__init__()
        self.extra = extra

    def forward(self, x):
        half = self.extra // 2
        return TF.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, half, self.extra - half))


class TorchResNet(tnn.Module):
    """torchvision's ResNet layout (``cifar=False``) or the paper's CIFAR one (``cifar=True``)."""

    def __init__(self, layers, bottleneck=False, num_classes=1000, in_channels=3, cifar=False,
                 shortcut="B"):
        super().__init__()
        expansion, self.cifar = 4 if bottleneck else 1, cifar
        self.inplanes = 16 if cifar else 64
        self.conv1 = (tnn.Conv2d(in_channels, 16, 3, 1, 1, bias=False) if cifar else
                      tnn.Conv2d(in_channels, 64, 7, 2, 3, bias=False))
        self.bn1, self.relu = tnn.BatchNorm2d(self.inplanes), tnn.ReLU()
        if not cifar:
            self.maxpool = tnn.MaxPool2d(3, 2, 1)
        widths = (16, 32, 64) if cifar else (64, 128, 256, 512)
        for i, (planes, n) in enumerate(zip(widths, layers)):
            blocks = []
            for j in range(n):
                stride = 2 if i and not j else 1
                downsample = None
                if stride != 1 or self.inplanes != planes * expansion:
                    downsample = TorchPad(planes - self.inplanes) if shortcut == "A" else \
                        tnn.Sequential(tnn.Conv2d(self.inplanes, planes * expansion, 1, stride,
                                                  bias=False), tnn.BatchNorm2d(planes * expansion))
                blocks.append(TorchBlock(self.inplanes, planes, stride, downsample, bottleneck))
                self.inplanes = planes * expansion
            setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(widths[-1] * expansion, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        if not self.cifar:
            x = self.maxpool(x)
        for i in range(3 if self.cifar else 4):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(self.avgpool(x).flatten(1))


PAIRS = {
    "mnist_cnn": (MnistCNN, TorchMnistCNN, (3, 1, 28, 28)),
    "lenet5_tanh": (lambda: LeNet5(activation=dg.nn.Tanh), TorchLeNet5, (3, 1, 28, 28)),
    "vgg_bn": (lambda: SmallVGG(cfg=(8, "M", 16, "M"), batch_norm=True, hidden_features=32),
               torch_vgg_bn, (3, 1, 28, 28)),
    "resnet20_A": (lambda: resnet20(in_channels=1),
                   lambda: TorchResNet([3, 3, 3], num_classes=10, in_channels=1, cifar=True,
                                       shortcut="A"), (3, 1, 12, 12)),
    "resnet20_B": (lambda: resnet20(shortcut="B"),
                   lambda: TorchResNet([3, 3, 3], num_classes=10, cifar=True), (3, 3, 8, 8)),
    "bottleneck": (lambda: Bottleneck(16, 8, 2, dg.nn.Sequential(conv1x1(16, 32, 2),
                                                                  dg.nn.BatchNorm2d(32))),
                   lambda: TorchBlock(16, 8, 2, tnn.Sequential(
                       tnn.Conv2d(16, 32, 1, 2, bias=False), tnn.BatchNorm2d(32)), True),
                   (3, 16, 6, 6)),
    "basic_block": (lambda: BasicBlock(8, 8), lambda: TorchBlock(8, 8, 1, None, False),
                    (3, 8, 5, 5)),
}

# whole ImageNet-layout networks: compared in eval mode only, to keep the suite fast
PAIRS_EVAL = {
    "resnet18": (lambda: resnet18(num_classes=10),
                 lambda: TorchResNet([2, 2, 2, 2], num_classes=10), (2, 3, 32, 32)),
}


def paired(name, dtype=dg.float32):
    """A deepgrad model, the torch one with deepgrad's weights and buffers, and an input."""
    build, build_torch, shape = {**PAIRS, **PAIRS_EVAL}[name]
    dg.set_default_dtype(dtype)
    model = build()
    reference = build_torch().to(getattr(torch, str(dtype).removeprefix("deepgrad.")))
    assert all(p.dtype == dtype for p in model.parameters())
    reference.load_state_dict({k: torch.from_numpy(v.array.copy())
                               for k, v in model.state_dict().items()})
    return model, reference, np.random.default_rng(0).standard_normal(shape).astype(dtype.np)


def assert_same_state(model, reference):
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert list(ours) == list(theirs)
    assert ours == theirs


@pytest.mark.parametrize("build, build_torch", [
    (resnet18, lambda: TorchResNet([2, 2, 2, 2])),
    (resnet50, lambda: TorchResNet([3, 4, 6, 3], bottleneck=True)),
])
def test_torchvision_layout_keys_and_counts(build, build_torch):
    model, reference = build(), build_torch()
    assert_same_state(model, reference)
    assert sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in reference.parameters())


@pytest.mark.parametrize("name", list(PAIRS))
def test_state_dict_and_counts_match_torch(name):
    model, reference, _ = paired(name)
    assert_same_state(model, reference)
    assert sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in reference.parameters())


@pytest.mark.parametrize("name", list(PAIRS) + list(PAIRS_EVAL))
def test_eval_forward_matches_torch(name):
    model, reference, x = paired(name)
    model.eval(), reference.eval()
    with dg.no_grad(), torch.no_grad():
        # move the BatchNorm statistics off (0, 1) so eval mode is really tested
        rng = np.random.default_rng(1)
        for (key, ours), theirs in zip(model.state_dict().items(),
                                       reference.state_dict().values()):
            if "running" in key:
                low, high = (-0.2, 0.2) if key.endswith("mean") else (0.5, 1.5)
                values = rng.uniform(low, high, ours.shape)
                ours.array[...] = values
                theirs.copy_(torch.from_numpy(values))
        out = model(dg.tensor(x)).array
        expected = reference(torch.from_numpy(x)).numpy()
    assert np.ptp(expected, axis=0).mean() > 1e-2  # the input reaches the output
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(PAIRS))
def test_training_step_matches_torch(name):
    """Train mode (batch statistics; dropout set to p=0, its masks cannot match): the gradient
    of every parameter, and the running statistics after two forward passes. In float64: batch
    statistics of 3 samples at 1x1 resolution amplify float32 rounding past any fair rtol."""
    model, reference, x = paired(name, dg.float64)
    for m in model.modules():
        if isinstance(m, dg.nn.Dropout):
            m.p = 0.0
    for m in reference.modules():
        if isinstance(m, tnn.Dropout):
            m.p = 0.0
    for _ in range(2):  # two steps: the running statistics move twice
        model.zero_grad(), reference.zero_grad()
        out = model(dg.tensor(x))
        weights = np.random.default_rng(2).standard_normal(out.shape)  # a loss that mixes all
        (out * dg.tensor(weights)).sum().backward()
        (reference(torch.from_numpy(x)) * torch.from_numpy(weights)).sum().backward()
    theirs = dict(reference.named_parameters())
    for key, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.array, theirs[key].grad.numpy(), rtol=1e-7, atol=1e-9,
                                   err_msg=key)
    state = reference.state_dict()
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(value.array, state[key].numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=key)

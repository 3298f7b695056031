"""The vision model zoo: parameter counts against the papers and torchvision, output shapes,
a forward and backward pass on a tiny batch, and the option A shortcut of the CIFAR ResNets."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.models import (
    Bottleneck,
    CifarResNet,
    LeNet5,
    MnistCNN,
    ResNet,
    SmallVGG,
    resnet18,
    resnet20,
    resnet32,
    resnet34,
    resnet50,
)
from deepgrad.models.resnet import PadShortcut
from deepgrad.nn import functional as F


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# (builder, count): the papers' and torchvision's reference numbers
REFERENCE_COUNTS = [
    pytest.param(MnistCNN, 1_199_882, id="mnist_cnn"),
    pytest.param(LeNet5, 61_706, id="lenet5"),
    pytest.param(resnet18, 11_689_512, id="resnet18"),
    pytest.param(resnet34, 21_797_672, id="resnet34"),
    pytest.param(resnet50, 25_557_032, id="resnet50"),
    pytest.param(resnet20, 269_722, id="resnet20_A"),
    pytest.param(resnet32, 464_154, id="resnet32_A"),
    pytest.param(lambda: resnet20(shortcut="B"), 272_474, id="resnet20_B"),
    pytest.param(lambda: resnet32(shortcut="B"), 466_906, id="resnet32_B"),
]


@pytest.mark.parametrize("build, count", REFERENCE_COUNTS)
def test_parameter_count_matches_reference(build, count):
    assert n_params(build()) == count


def test_parameter_counts_by_hand():
    # LeNet-5 on 3 channels: C1 grows by 2 * 6 * 25; SmallVGG by its layer sizes
    assert n_params(LeNet5(num_classes=10, in_channels=3)) == 61_706 + 2 * 6 * 25
    convs = (1 * 9 + 1) * 8 + (8 * 9 + 1) * 16
    assert n_params(SmallVGG(cfg=(8, "M", 16, "M"), hidden_features=32)) == \
        convs + 16 * 7 * 7 * 32 + 32 + 32 * 10 + 10
    bn = SmallVGG(cfg=(8, "M", 16, "M"), hidden_features=32, batch_norm=True)
    assert n_params(bn) == convs - 8 - 16 + 2 * (8 + 16) + 16 * 7 * 7 * 32 + 32 + 32 * 10 + 10
    # option A shortcuts are free; ResNet-20 has 19 convolutions and one linear layer
    model = resnet20()
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 19
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == 1
    assert sum(isinstance(m, PadShortcut) for m in model.modules()) == 2


def test_resnet_module_names_follow_torchvision():
    keys = resnet18().state_dict().keys()
    for key in ["conv1.weight", "bn1.weight", "bn1.running_mean", "bn1.num_batches_tracked",
                "layer1.0.conv1.weight", "layer1.1.bn2.bias", "layer2.0.downsample.0.weight",
                "layer2.0.downsample.1.running_var", "layer4.1.conv2.weight", "fc.weight",
                "fc.bias"]:
        assert key in keys
    assert "layer1.0.downsample.0.weight" not in keys  # 64 -> 64, stride 1: identity
    keys50 = resnet50().state_dict().keys()
    assert "layer1.0.downsample.0.weight" in keys50  # 64 -> 256 channels: projection
    assert "layer3.5.conv3.weight" in keys50 and "layer3.6.conv1.weight" not in keys50
    assert len(keys) == 122 and len(keys50) == 320


@pytest.mark.parametrize("build, shape, out", [
    (MnistCNN, (2, 1, 28, 28), (2, 10)),
    (LeNet5, (2, 1, 28, 28), (2, 10)),
    (lambda: LeNet5(num_classes=4, in_channels=3, padding=0), (2, 3, 32, 32), (2, 4)),
    (lambda: SmallVGG(cfg=(8, 8, "M", 16, "M"), hidden_features=16), (2, 1, 28, 28), (2, 10)),
    (lambda: SmallVGG(cfg=(8, "M", 16, "M"), batch_norm=True, hidden_features=16),
     (2, 1, 32, 32), (2, 10)),
    (lambda: resnet20(in_channels=1), (2, 1, 28, 28), (2, 10)),
    (resnet20, (2, 3, 32, 32), (2, 10)),
    (lambda: resnet18(num_classes=7), (1, 3, 32, 32), (1, 7)),
    (lambda: ResNet(Bottleneck, [1, 1, 1, 1], num_classes=3, in_channels=1), (2, 1, 40, 40),
     (2, 3)),
])
def test_output_shape_and_dtype(build, shape, out):
    model = build().eval()
    with dg.no_grad():
        y = model(dg.randn(*shape))
    assert y.shape == out and y.dtype == dg.float32
    assert np.isfinite(y.array).all()


@pytest.mark.parametrize("build, shape", [
    (MnistCNN, (2, 1, 28, 28)),
    (lambda: LeNet5(activation=nn.Tanh), (2, 1, 28, 28)),
    (lambda: SmallVGG(cfg=(4, "M", 8, "M"), batch_norm=True, hidden_features=8),
     (2, 1, 28, 28)),
    (lambda: resnet20(in_channels=1), (2, 1, 12, 12)),
    (lambda: resnet20(shortcut="B"), (2, 3, 8, 8)),
    (lambda: ResNet(Bottleneck, [1, 1, 1, 1], num_classes=3), (2, 3, 32, 32)),
])
def test_forward_backward_reaches_every_parameter(build, shape):
    model = build()
    x = dg.randn(*shape)
    loss = F.cross_entropy(model(x), dg.tensor([0, 1]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape and p.grad.dtype == dg.float32, name
        assert np.isfinite(p.grad.array).all(), name
    assert any(np.abs(p.grad.array).sum() > 0 for p in model.parameters())


def test_a_few_sgd_steps_fit_a_tiny_batch():
    model = resnet20(num_classes=3, in_channels=1)
    x, y = dg.randn(6, 1, 8, 8), dg.tensor([0, 1, 2, 0, 1, 2])
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_pad_shortcut_subsamples_and_zero_pads_channels():
    x = dg.randn(2, 4, 5, 5, requires_grad=True)
    y = PadShortcut(4, 8, stride=2)(x)
    expected = np.zeros((2, 8, 3, 3), np.float32)
    expected[:, 2:6] = x.array[:, :, ::2, ::2]
    np.testing.assert_array_equal(y.array, expected)
    y.sum().backward()
    mask = np.zeros((5, 5), np.float32)
    mask[::2, ::2] = 1
    np.testing.assert_array_equal(x.grad.array, np.broadcast_to(mask, x.shape))


def test_resnet_init_follows_torchvision():
    model = resnet18(num_classes=10, zero_init_residual=True)
    std = model.conv1.weight.array.std()
    assert abs(std - np.sqrt(2 / (64 * 49))) < 0.1 * std  # He normal, fan_out
    assert (model.bn1.weight.array == 1).all() and (model.bn1.bias.array == 0).all()
    assert (model.layer1[0].bn2.weight.array == 0).all()  # every block starts as the identity
    assert (resnet20().layer1[0].bn2.weight.array == 1).all()
    assert (ResNet(Bottleneck, [1, 1, 1, 1], zero_init_residual=True)
            .layer2[0].bn3.weight.array == 0).all()


def test_dtype_follows_the_default():
    dg.set_default_dtype(dg.float64)
    model = resnet20(num_classes=2, in_channels=1)
    assert all(p.dtype == dg.float64 for p in model.parameters())
    assert model(dg.randn(1, 1, 8, 8)).dtype == dg.float64


def test_bad_configurations_are_named():
    with pytest.raises(ValueError, match="CifarResNet: shortcut must be 'A'.*got 'C'"):
        CifarResNet(3, shortcut="C")
    with pytest.raises(ValueError, match=r"ResNet: layers lists the blocks of the 4 stages"):
        ResNet(Bottleneck, [2, 2, 2])
    with pytest.raises(ValueError, match="SmallVGG: cfg entries.*got 'X'"):
        SmallVGG(cfg=(8, "X"))
    with pytest.raises(ValueError, match="SmallVGG: cfg"):
        SmallVGG(cfg=("M", "M"))

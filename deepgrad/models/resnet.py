"""Residual networks (He, Zhang, Ren & Sun 2015, "Deep Residual Learning for Image
Recognition"): the ImageNet ResNet-18/34/50 and the CIFAR ResNet-20/32.

The layout and module names follow torchvision's ``resnet.py`` (conv1, bn1, relu, maxpool,
layer1..layer4, avgpool, fc; blocks with conv1/bn1/conv2/bn2(/conv3/bn3) and a ``downsample``
Sequential(conv, bn)), so torchvision state dicts load with ``load_state_dict``.
"""

from __future__ import annotations

from collections.abc import Callable

from deepgrad import nn
from deepgrad.nn import functional as F
from deepgrad.nn import init
from deepgrad.tensor import Tensor

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "CifarResNet", "resnet18", "resnet34",
           "resnet50", "resnet20", "resnet32"]

NormLayer = Callable[[int], nn.Module]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Module:
    """3x3 convolution with padding 1 and no bias (a batch norm follows)."""
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Module:
    """1x1 convolution without bias, for projections and bottlenecks."""
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and an identity (or ``downsample``) shortcut:
    ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``. The first convolution strides."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, norm_layer: NormLayer | None = None) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (to ``4 * planes`` channels) and a shortcut. The 3x3
    convolution strides, as in torchvision ("ResNet v1.5"; the paper strides the first 1x1)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, norm_layer: NormLayer | None = None) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = norm_layer(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


Block = type[BasicBlock] | type[Bottleneck]


def _init_weights(model: nn.Module, zero_init_residual: bool) -> None:
    """torchvision's initialisation: He normal (fan_out) convolutions, BN scale 1 and shift 0;
    optionally each block's last BN scale 0, so every block starts as the identity."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            init.ones_(m.weight)
            init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, Bottleneck):
                init.zeros_(m.bn3.weight)
            elif isinstance(m, BasicBlock):
                init.zeros_(m.bn2.weight)


class ResNet(nn.Module):
    """The ImageNet ResNet: a 7x7/2 convolution and a 3x3/2 max pool, four stages of blocks
    (64, 128, 256, 512 planes; each later stage halves the resolution in its first block, with a
    1x1 projection shortcut, option B), global average pooling and a linear classifier.

    ``layers`` counts the blocks per stage: ``ResNet(BasicBlock, [2, 2, 2, 2])`` is ResNet-18.
    ``in_channels`` (3 in torchvision) allows grayscale or multispectral inputs.
    """

    def __init__(self, block: Block, layers: list[int], num_classes: int = 1000,
                 zero_init_residual: bool = False, norm_layer: NormLayer | None = None,
                 in_channels: int = 3) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"ResNet: layers lists the blocks of the 4 stages, got {layers}")
        self._norm_layer = norm_layer or nn.BatchNorm2d
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = self._norm_layer(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _init_weights(self, zero_init_residual)

    def _make_layer(self, block: Block, planes: int, blocks: int,
                    stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       self._norm_layer(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self._norm_layer)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, norm_layer=self._norm_layer)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


class PadShortcut(nn.Module):
    """Option A shortcut of the CIFAR ResNets: take every ``stride``-th pixel and zero-pad the
    channels up to ``planes``; no parameters."""

    def __init__(self, inplanes: int, planes: int, stride: int = 2) -> None:
        super().__init__()
        self.inplanes, self.planes, self.stride = inplanes, planes, stride

    def forward(self, x: Tensor) -> Tensor:
        extra = self.planes - self.inplanes
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))

    def extra_repr(self) -> str:
        return f"{self.inplanes}, {self.planes}, stride={self.stride}"


class CifarResNet(nn.Module):
    """The CIFAR-10 ResNet of the paper's section 4.2: a 3x3 convolution to 16 channels, three
    stages of ``n`` basic blocks (16, 32, 64 channels on 32x32, 16x16, 8x8 maps), global
    average pooling and a linear classifier; 6n + 2 layers.

    ``shortcut="A"`` (the paper's CIFAR choice) downsamples by subsampling and zero-padding
    channels, adding no parameters: ResNet-20 has 269,722 and ResNet-32 464,154 parameters
    for 10 classes (the paper's 0.27M and 0.46M). ``shortcut="B"`` uses 1x1 projections
    (272,474 and 466,906). Any input size works (``in_channels=1`` for 28x28 MNIST).
    """

    def __init__(self, n: int, num_classes: int = 10, in_channels: int = 3,
                 shortcut: str = "A", zero_init_residual: bool = False) -> None:
        super().__init__()
        if shortcut not in ("A", "B"):
            raise ValueError(f"CifarResNet: shortcut must be 'A' (zero padding) or 'B' "
                             f"(projection), got {shortcut!r}")
        self.shortcut = shortcut
        self.inplanes = 16
        self.conv1 = conv3x3(in_channels, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(16, n)
        self.layer2 = self._make_layer(32, n, stride=2)
        self.layer3 = self._make_layer(64, n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        _init_weights(self, zero_init_residual)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = (PadShortcut(self.inplanes, planes, stride) if self.shortcut == "A" else
                          nn.Sequential(conv1x1(self.inplanes, planes, stride),
                                        nn.BatchNorm2d(planes)))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


def resnet18(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ResNet:
    """ResNet-18: basic blocks [2, 2, 2, 2]; 11,689,512 parameters for 1000 classes."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels=in_channels, **kwargs)


def resnet34(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ResNet:
    """ResNet-34: basic blocks [3, 4, 6, 3]; 21,797,672 parameters for 1000 classes."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels=in_channels, **kwargs)


def resnet50(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ResNet:
    """ResNet-50: bottleneck blocks [3, 4, 6, 3]; 25,557,032 parameters for 1000 classes."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels=in_channels, **kwargs)


def resnet20(num_classes: int = 10, in_channels: int = 3, **kwargs) -> CifarResNet:
    """CIFAR ResNet-20 (n=3): 269,722 parameters with option A shortcuts, 10 classes."""
    return CifarResNet(3, num_classes, in_channels, **kwargs)


def resnet32(num_classes: int = 10, in_channels: int = 3, **kwargs) -> CifarResNet:
    """CIFAR ResNet-32 (n=5): 464,154 parameters with option A shortcuts, 10 classes."""
    return CifarResNet(5, num_classes, in_channels, **kwargs)

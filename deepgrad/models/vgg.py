"""A small VGG-style network for 28x28 images."""

from __future__ import annotations

from collections.abc import Sequence

from deepgrad import nn
from deepgrad.tensor import Tensor

__all__ = ["SmallVGG"]


class SmallVGG(nn.Module):
    """VGG in miniature (Simonyan & Zisserman 2014, "Very Deep Convolutional Networks for
    Large-Scale Image Recognition"): stacks of 3x3 convolutions (padding 1) with ReLU, each
    stack closed by a 2x2 max pool, then a two-layer classifier with dropout.

    ``cfg`` lists the layers as torchvision's VGG configurations do: an int is a 3x3 convolution
    with that many output channels, ``"M"`` a max pool. The default, ``(32, 32, "M", 64, 64,
    "M")``, takes 28x28 inputs to 64x7x7. ``batch_norm=True`` puts a BatchNorm2d after every
    convolution (VGG-BN; the convolutions then drop their bias). As in torchvision, an adaptive
    average pool to the feature map size a 28x28 input reaches (7x7 here) sits before the
    classifier, so other input sizes work too. Layout and names as torchvision's VGG:
    ``features``, ``avgpool``, ``classifier``.
    """

    def __init__(self, cfg: Sequence[int | str] = (32, 32, "M", 64, 64, "M"),
                 num_classes: int = 10, in_channels: int = 1, batch_norm: bool = False,
                 hidden_features: int = 256, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = _make_layers(cfg, in_channels, batch_norm)
        widths = [v for v in cfg if v != "M"]
        size = 28 >> sum(v == "M" for v in cfg)
        if not widths or size < 1:
            raise ValueError(f"SmallVGG: cfg {tuple(cfg)} needs at least one convolution and at "
                             "most four 'M' pools (28x28 inputs)")
        self.avgpool = nn.AdaptiveAvgPool2d((size, size))
        self.classifier = nn.Sequential(
            nn.Linear(widths[-1] * size * size, hidden_features), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden_features, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def _make_layers(cfg: Sequence[int | str], in_channels: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        elif isinstance(v, int) and v > 0:
            layers.append(nn.Conv2d(in_channels, v, 3, padding=1, bias=not batch_norm))
            layers += [nn.BatchNorm2d(v), nn.ReLU()] if batch_norm else [nn.ReLU()]
            in_channels = v
        else:
            raise ValueError(f"SmallVGG: cfg entries are positive ints (conv widths) or 'M' "
                             f"(max pool), got {v!r}")
    return nn.Sequential(*layers)

"""Small convolutional networks for digits: LeNet-5 and the classic PyTorch-examples MNIST CNN."""

from __future__ import annotations

from collections.abc import Callable

from deepgrad import nn
from deepgrad.nn import functional as F
from deepgrad.tensor import Tensor

__all__ = ["LeNet5", "MnistCNN"]


class LeNet5(nn.Module):
    """LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to
    document recognition"): C1-S2-C3-S4-C5-F6-output on 32x32 images.

    This is the modern variant: max pooling for the subsampling layers S2 and S4, ReLU (or
    ``activation=nn.Tanh``, closer to the paper's scaled tanh) instead of trainable sigmoid
    subsampling, C3 connected to all six C1 maps (the paper's sparse table left out) and a
    linear output layer instead of the Euclidean RBF units. 61,706 parameters for 10 classes
    and one input channel (C1 156, C3 2,416, C5 48,120, F6 10,164, output 850).

    The default ``padding=2`` on C1 takes MNIST's 28x28 digits to the paper's 32x32 geometry;
    use ``padding=0`` for 32x32 inputs. Returns logits (N, num_classes).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, padding: int = 2,
                 activation: Callable[[], nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(in_channels, 6, 5, padding=padding)
        self.s2 = nn.MaxPool2d(2)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.s4 = nn.MaxPool2d(2)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)
        self.act = activation()

    def forward(self, x: Tensor) -> Tensor:
        x = self.s2(self.act(self.c1(x)))
        x = self.s4(self.act(self.c3(x)))
        x = self.act(self.c5(x)).flatten(1)
        return self.output(self.act(self.f6(x)))


class MnistCNN(nn.Module):
    """The two-convolution MNIST network of PyTorch's examples (examples/mnist/main.py):
    Conv2d(1, 32, 3)-ReLU-Conv2d(32, 64, 3)-ReLU-MaxPool2d(2)-Dropout(0.25)-Flatten-
    Linear(9216, 128)-ReLU-Dropout(0.5)-Linear(128, 10), for 28x28 inputs; 1,199,882 parameters.

    Module names match the example's (conv1, conv2, dropout1, dropout2, fc1, fc2), so its
    state dicts load here. Returns logits (the example's final log_softmax belongs to the loss:
    use ``F.cross_entropy``).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = self.dropout1(F.max_pool2d(x, 2)).flatten(1)
        return self.fc2(self.dropout2(F.relu(self.fc1(x))))

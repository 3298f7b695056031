"""Autoencoders: networks trained to reproduce their input through a narrow code.

Every model here has ``encode(x) -> code``, ``decode(code) -> reconstruction`` and
``forward(x) = decode(encode(x))``. Reconstructions come out of a sigmoid, so they are pixel
intensities in [0, 1], and keep the input's shape: a batch of (N, 1, 28, 28) images comes back as
(N, 1, 28, 28), a batch of (N, 784) vectors as (N, 784).
"""

from __future__ import annotations

import math

from deepgrad import nn
from deepgrad.ops.creation import rand_like, randn_like
from deepgrad.tensor import Tensor

__all__ = ["DenseAutoencoder", "ConvAutoencoder", "DenoisingAutoencoder"]


class DenseAutoencoder(nn.Module):
    """A fully connected autoencoder (Hinton & Salakhutdinov, "Reducing the Dimensionality of
    Data with Neural Networks", Science 2006).

    The encoder is input_dim -> hidden[0] -> ... -> code_size with ReLUs and a linear code (as
    in the paper's code layer); the decoder mirrors it and ends in a sigmoid. The paper
    pre-trained its deep stack with RBMs; with ReLUs and Adam plain backpropagation suffices.
    """

    def __init__(self, input_dim: int = 784, hidden=(512, 256), code_size: int = 32) -> None:
        super().__init__()
        hidden = tuple(hidden)
        _check_sizes("DenseAutoencoder", input_dim=input_dim, code_size=code_size,
                     **{f"hidden[{i}]": h for i, h in enumerate(hidden)})
        self.input_dim, self.code_size = input_dim, code_size
        self.encoder = _mlp((input_dim, *hidden, code_size))
        self.decoder = nn.Sequential(*_mlp((code_size, *reversed(hidden), input_dim)),
                                     nn.Sigmoid())

    def encode(self, x: Tensor) -> Tensor:
        """The (N, code_size) codes of a batch shaped (N, input_dim) or (N, ...) images."""
        if x.ndim < 2 or math.prod(x.shape[1:]) != self.input_dim:
            raise ValueError(f"DenseAutoencoder.encode: input has shape {tuple(x.shape)}, "
                             f"expected (N, {self.input_dim}) or (N, ...) with "
                             f"{self.input_dim} values per example")
        return self.encoder(x.reshape(x.shape[0], self.input_dim))

    def decode(self, code: Tensor) -> Tensor:
        """(N, input_dim) reconstructions in [0, 1] of (N, code_size) codes."""
        return self.decoder(code)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x)).reshape(x.shape)


class ConvAutoencoder(nn.Module):
    """A convolutional autoencoder for 1x28x28 images (Masci et al., "Stacked Convolutional
    Auto-Encoders for Hierarchical Feature Extraction", ICANN 2011).

    Two stride-2 convolutions (28 -> 14 -> 7) and a linear layer make the code; a linear layer
    and two stride-2 transposed convolutions (7 -> 14 -> 28) undo them. Strided convolutions
    replace the paper's max-pooling, as most later convolutional autoencoders do.
    """

    def __init__(self, code_size: int = 32, channels=(32, 64)) -> None:
        super().__init__()
        c1, c2 = channels
        _check_sizes("ConvAutoencoder", code_size=code_size, **{"channels[0]": c1,
                                                                 "channels[1]": c2})
        self.code_size = code_size
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1), nn.BatchNorm2d(c1), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.BatchNorm2d(c2), nn.ReLU(),
            nn.Flatten(), nn.Linear(c2 * 7 * 7, code_size))
        self.decoder = nn.Sequential(
            nn.Linear(code_size, c2 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(c1), nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())

    def encode(self, x: Tensor) -> Tensor:
        """The (N, code_size) codes of (N, 1, 28, 28) images ((N, 784) is reshaped)."""
        if x.ndim < 2 or math.prod(x.shape[1:]) != 784:
            raise ValueError(f"ConvAutoencoder.encode: input has shape {tuple(x.shape)}, "
                             f"expected (N, 1, 28, 28) images")
        return self.encoder(x.reshape(x.shape[0], 1, 28, 28))

    def decode(self, code: Tensor) -> Tensor:
        """(N, 1, 28, 28) reconstructions in [0, 1] of (N, code_size) codes."""
        return self.decoder(code)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x)).reshape(x.shape)


class DenoisingAutoencoder(nn.Module):
    """An autoencoder trained to undo a corruption of its input (Vincent et al., "Extracting
    and Composing Robust Features with Denoising Autoencoders", ICML 2008).

    In training mode ``forward`` corrupts its input before reconstructing it, so a loss against
    the clean input teaches denoising; in eval mode it reconstructs what it is given (pass
    ``corrupt(x)`` to measure denoising). The corruption adds Gaussian noise of std
    ``noise_std``, then zeroes each value with probability ``mask_prob`` (the paper's masking
    noise), then clips to [0, 1] when ``clip`` (pixel intensities stay intensities).
    """

    def __init__(self, autoencoder: nn.Module, noise_std: float = 0.5, mask_prob: float = 0.0,
                 clip: bool = True) -> None:
        super().__init__()
        if not all(hasattr(autoencoder, m) for m in ("encode", "decode")):
            raise TypeError("DenoisingAutoencoder: autoencoder must have encode and decode, got "
                            f"{type(autoencoder).__name__}")
        if not noise_std >= 0:
            raise ValueError(f"DenoisingAutoencoder: noise_std must be >= 0, got {noise_std}")
        if not 0 <= mask_prob < 1:
            raise ValueError(f"DenoisingAutoencoder: mask_prob must be in [0, 1), got "
                             f"{mask_prob}")
        self.autoencoder = autoencoder
        self.noise_std, self.mask_prob, self.clip = float(noise_std), float(mask_prob), clip

    def corrupt(self, x: Tensor) -> Tensor:
        """x with the corruption applied (draws from deepgrad's seeded generator)."""
        if self.noise_std > 0:
            x = x + self.noise_std * randn_like(x)
        if self.mask_prob > 0:
            x = x * (rand_like(x) >= self.mask_prob).to(x.dtype)
        return x.clamp(0.0, 1.0) if self.clip else x

    def encode(self, x: Tensor) -> Tensor:
        return self.autoencoder.encode(x)

    def decode(self, code: Tensor) -> Tensor:
        return self.autoencoder.decode(code)

    def forward(self, x: Tensor) -> Tensor:
        with_noise = self.corrupt(x) if self.training else x
        return self.decode(self.encode(with_noise)).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"noise_std={self.noise_std}, mask_prob={self.mask_prob}, clip={self.clip}"


def _mlp(sizes: tuple) -> nn.Sequential:
    """Linear layers between consecutive sizes, ReLU between them (none after the last)."""
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _check_sizes(op: str, **sizes) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{op}: {name} must be a positive int, got {value!r}")

"""Looking at a 2-d latent space: where the encoder puts each class, and what the decoder draws
across the plane.

``latent_manifold`` returns the decoded grid as an array (no matplotlib needed);
``plot_latent_scatter``, ``plot_latent_manifold`` and ``plot_latent_2d`` (both side by side)
draw them and return the Figure.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from deepgrad.autograd import no_grad
from deepgrad.backend import generator
from deepgrad.ops.creation import from_numpy
from deepgrad.viz._common import class_colors, finish, labels, new_figure, points_2d, to_numpy
from deepgrad.viz.images import image_grid

__all__ = ["latent_manifold", "plot_latent_scatter", "plot_latent_manifold", "plot_latent_2d"]


def latent_manifold(decode, n: int = 20, image_shape: tuple = (28, 28),
                    quantiles: tuple = (0.05, 0.95), dtype=np.float32):
    """Decode an n x n grid of 2-d codes; return (grid image, z1 values, z2 values).

    The codes are the standard normal's quantiles from quantiles[0] to quantiles[1] on each
    axis (as in Kingma & Welling's figure 4), so that the grid covers the prior's mass evenly.
    decode maps an (n*n, 2) Tensor to n*n images of image_shape (any values: the grid is
    scaled to their range). Row 0 of the image is the largest z2, as on a plot's y axis.
    """
    op = "latent_manifold"
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"{op}: n must be an int >= 2, got {n!r}")
    lo, hi = quantiles
    if not 0 < lo < hi < 1:
        raise ValueError(f"{op}: quantiles must satisfy 0 < lo < hi < 1, got {quantiles}")
    axis = np.array([NormalDist().inv_cdf(q) for q in np.linspace(lo, hi, n)])
    z1, z2 = np.meshgrid(axis, axis[::-1])
    codes = np.stack([z1.ravel(), z2.ravel()], axis=1).astype(dtype)
    with no_grad():
        images = to_numpy(decode(from_numpy(codes)), op, "decode(z)")
    size = int(np.prod(image_shape))
    if images.size != n * n * size:
        raise ValueError(f"{op}: decode returned shape {images.shape} for {n * n} codes, "
                         f"expected {n * n} images of shape {tuple(image_shape)}")
    grid = image_grid(images.reshape(n * n, *image_shape), nrow=n, padding=0)
    return grid, axis, axis


def plot_latent_scatter(codes, y, path=None, title: str = "latent means of the test set",
                        max_points: int = 5000):
    """2-d codes (N, 2) as points coloured by class y (N,); returns the Figure.

    At most max_points are drawn (the first ones), so that large test sets stay legible.
    """
    fig, axes = new_figure(1, 1, figsize=(6, 5.5))
    _draw_scatter(axes[0, 0], codes, y, title, max_points)
    return finish(fig, path)


def plot_latent_manifold(decode, n: int = 20, path=None, image_shape: tuple = (28, 28),
                         quantiles: tuple = (0.05, 0.95), title: str = "decoded latent grid"):
    """What decode draws across an n x n grid of 2-d codes (see ``latent_manifold``)."""
    fig, axes = new_figure(1, 1, figsize=(6, 6))
    _draw_manifold(axes[0, 0], decode, n, image_shape, quantiles, title)
    return finish(fig, path)


def plot_latent_2d(codes, y, decode, path=None, n: int = 20, image_shape: tuple = (28, 28),
                   quantiles: tuple = (0.05, 0.95), max_points: int = 5000):
    """The scatter of codes by class beside the decoded grid, on one Figure."""
    fig, axes = new_figure(1, 2, figsize=(12, 5.8))
    _draw_scatter(axes[0, 0], codes, y, "latent means of the test set", max_points)
    _draw_manifold(axes[0, 1], decode, n, image_shape, quantiles, "decoded latent grid")
    return finish(fig, path)


def _draw_scatter(ax, codes, y, title: str, max_points: int) -> None:
    op = "plot_latent_scatter"
    points = points_2d(codes, op)
    classes = labels(y, len(points), op)
    points, classes = points[:max_points], classes[:max_points]
    colors = np.array(class_colors(int(classes.max()) + 1))
    # one scatter in a shuffled order, so that no class is drawn over all the others
    order = generator(0).permutation(len(points))
    ax.scatter(points[order, 0], points[order, 1], s=4, c=colors[classes[order]],
               rasterized=True)
    for c in np.unique(classes):  # legend entries only
        ax.scatter([], [], s=12, color=colors[c], label=str(c))
    ax.legend(loc="best", fontsize="small", markerscale=3, title="class")
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title(title)


def _draw_manifold(ax, decode, n: int, image_shape: tuple, quantiles: tuple, title: str) -> None:
    grid, z1, z2 = latent_manifold(decode, n, image_shape, quantiles)
    ax.imshow(grid, cmap="gray", interpolation="antialiased", vmin=0.0, vmax=1.0)
    # the codes are evenly spaced in probability, not in z: tick a few cells with their z
    h, w = image_shape[-2], image_shape[-1]
    ticks = np.unique(np.linspace(0, n - 1, min(n, 5)).round().astype(int))
    ax.set_xticks(ticks * w + w / 2, [f"{z1[i]:.2f}" for i in ticks])
    ax.set_yticks(ticks * h + h / 2, [f"{z2[::-1][i]:.2f}" for i in ticks])
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title(title)

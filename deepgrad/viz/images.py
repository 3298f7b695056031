"""Many small images tiled into one picture: sample grids, reconstructions, interpolations.

``image_grid`` returns the tiled array (no matplotlib needed); ``save_image_grid`` also writes
it as a PNG. Grayscale images are (N, H, W) or (N, 1, H, W); colour ones (N, 3, H, W).
"""

from __future__ import annotations

import math

import numpy as np

from deepgrad.viz._common import finish, new_figure, to_numpy

__all__ = ["image_grid", "save_image_grid"]


def image_grid(images, nrow: int = 8, padding: int = 2, value_range: tuple | None = None,
               pad_value: float = 1.0) -> np.ndarray:
    """Tile images into one (rows*H + gaps, nrow*W + gaps[, 3]) array with values in [0, 1].

    value_range (lo, hi) maps lo..hi to 0..1 (clipped); None takes each call's min and max.
    """
    op = "image_grid"
    x = _nhwc(to_numpy(images, op, "images").astype(np.float64), op)
    if not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"{op}: nrow must be a positive int, got {nrow!r}")
    lo, hi = value_range if value_range is not None else (x.min(), x.max())
    x = np.clip((x - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    n, h, w, c = x.shape
    ncol, nrows = min(nrow, n), math.ceil(n / min(nrow, n))
    grid = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding, c), pad_value)
    for i in range(n):
        top, left = padding + (i // ncol) * (h + padding), padding + (i % ncol) * (w + padding)
        grid[top:top + h, left:left + w] = x[i]
    return grid[..., 0] if c == 1 else grid


def save_image_grid(images, path, nrow: int = 8, padding: int = 2,
                    value_range: tuple | None = None, title: str | None = None, scale: float = 1.5):
    """Draw ``image_grid(images, ...)`` (gray colour map for one channel) and save it to path.

    scale is inches per 28 pixels. Returns the matplotlib Figure.
    """
    grid = image_grid(images, nrow, padding, value_range)
    height, width = grid.shape[:2]
    fig, axes = new_figure(1, 1, figsize=(max(1.0, scale * width / 28),
                                          max(1.0, scale * height / 28 + (0.4 if title else 0))))
    ax = axes[0, 0]
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0.0, vmax=1.0,
              interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return finish(fig, path)


def _nhwc(x: np.ndarray, op: str) -> np.ndarray:
    """(N, H, W), (N, 1|3, H, W) or a single (H, W) image as (N, H, W, C)."""
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        return x[..., None]
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return np.moveaxis(x, 1, -1)
    raise ValueError(f"{op}: images have shape {x.shape}, expected (N, H, W), (N, 1, H, W) or "
                     f"(N, 3, H, W)")

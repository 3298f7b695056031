"""What every plot shares: matplotlib loaded on demand, Figures on the Agg canvas, input checks.

Figures are made without ``pyplot``: nothing is registered globally, nothing pops up, and the
caller's own matplotlib backend is left alone.
"""

from __future__ import annotations

import math

import numpy as np

from deepgrad.autograd import no_grad
from deepgrad.nn import Module
from deepgrad.ops.creation import from_numpy
from deepgrad.tensor import Tensor

_MISSING = 'deepgrad.viz needs matplotlib, an optional extra: pip install "deepgrad[viz]"'


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple | None = None):
    """A Figure on an Agg canvas and its (nrows, ncols) array of axes."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(_MISSING) from err
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns) of a near-square grid holding n panels."""
    ncols = max(1, math.ceil(math.sqrt(n)))
    return max(1, math.ceil(n / ncols)), ncols


def finish(fig, path):
    """Save fig to path (PNG unless its extension names another format) and return it."""
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def class_colors(n: int) -> list:
    """n distinct colours, the same class always getting the same one across plots."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def to_numpy(value, op: str, name: str) -> np.ndarray:
    """The array behind a Tensor, or value as an array; a clear error for what is neither."""
    if isinstance(value, Tensor):
        return value.array
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"{op}: {name} must be a Tensor or array-like of numbers, "
                        f"got {type(value).__name__}")
    return array


def points_2d(x, op: str) -> np.ndarray:
    """x as an (N, 2) array of points."""
    array = to_numpy(x, op, "x")
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
        raise ValueError(f"{op}: x has shape {array.shape}, expected (N, 2) with N > 0")
    return array


def labels(y, n: int, op: str, name: str = "y") -> np.ndarray:
    """y as n non-negative integer class labels; (n, 1) targets (as BCE uses) are accepted."""
    array = to_numpy(y, op, name)
    if array.shape not in ((n,), (n, 1)):
        raise ValueError(f"{op}: {name} has shape {array.shape}, expected ({n},)")
    array = array.reshape(n)
    if array.dtype.kind not in "biuf" or not np.all(array == np.round(array)) \
            or (n and array.min() < 0):
        raise ValueError(f"{op}: {name} must hold non-negative integer class labels")
    return array.astype(np.int64)


def labels_or_scores(preds, n: int, op: str) -> np.ndarray:
    """Predicted classes from (n,) labels or from (n, C) scores (their argmax)."""
    array = to_numpy(preds, op, "preds")
    if array.ndim == 2 and array.shape[0] == n and array.shape[1] >= 2:
        return array.argmax(axis=1)
    return labels(array, n, op, "preds")


def classes_from_logits(out: np.ndarray, n: int, op: str) -> np.ndarray:
    """Classes from logits: argmax of (n, C), or logit > 0 for binary (n, 1) and (n,)."""
    if out.ndim == 2 and out.shape[0] == n and out.shape[1] >= 2:
        return out.argmax(axis=1)
    if out.shape in ((n,), (n, 1)):
        return (out.reshape(n) > 0).astype(np.int64)
    raise ValueError(f"{op}: model output has shape {out.shape}, expected ({n}, C) logits, "
                     f"or ({n}, 1) or ({n},) for a binary classifier")


def input_dtype(model) -> np.dtype:
    """The floating dtype of model's parameters (float32 when it has none)."""
    if isinstance(model, Module):
        for param in model.parameters():
            if param.array.dtype.kind == "f":
                return param.array.dtype
    return np.dtype(np.float32)


def evaluate(model, array: np.ndarray) -> np.ndarray:
    """model(array) in eval mode under no_grad, as an array; every module's mode is restored."""
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, Module) else []
    if modes:
        model.eval()
    try:
        with no_grad():
            out = model(from_numpy(np.ascontiguousarray(array, dtype=input_dtype(model))))
    finally:
        for module, mode in modes:
            module.training = mode
    return to_numpy(out, "model", "output")


def plane_grid(points: np.ndarray, resolution: int, op: str):
    """A resolution x resolution grid (xx, yy) covering points with a 10% margin."""
    if not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"{op}: resolution must be an int >= 2, got {resolution!r}")
    lo, hi = points.min(axis=0).astype(np.float64), points.max(axis=0).astype(np.float64)
    span = hi - lo
    pad = np.where(span > 0, 0.1 * span, 0.5)
    axes = [np.linspace(lo[i] - pad[i], hi[i] + pad[i], resolution) for i in range(2)]
    return np.meshgrid(*axes)


def draw_regions(ax, xx, yy, classes: np.ndarray, colors: list) -> None:
    """Shade each class's region of the plane and outline where the class changes."""
    levels = np.arange(len(colors) + 1) - 0.5
    ax.contourf(xx, yy, classes, levels=levels, colors=colors, alpha=0.25)
    if np.unique(classes).size > 1:
        ax.contour(xx, yy, classes, levels=levels[1:-1], colors="k", linewidths=0.8)


def scatter_classes(ax, coords: np.ndarray, y: np.ndarray, colors: list) -> None:
    """Points coloured by class, one legend entry per class present."""
    for c in np.unique(y):
        mask = y == c
        ax.scatter(coords[mask, 0], coords[mask, 1], s=14, color=colors[c],
                   edgecolors="k", linewidths=0.3, label=f"class {c}")
    ax.legend(loc="best", fontsize="small")

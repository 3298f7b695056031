"""Where a classifier goes wrong: the confusion matrix, and the images it misclassified."""

from __future__ import annotations

import numpy as np

from deepgrad.viz._common import (
    finish,
    grid_shape,
    labels,
    labels_or_scores,
    new_figure,
    to_numpy,
)

__all__ = ["plot_confusion_matrix", "plot_misclassified"]


def _count(preds, targets, num_names: int | None, op: str) -> np.ndarray:
    """The (C, C) confusion counts of preds (labels or scores) against targets."""
    t = to_numpy(targets, op, "targets")
    if t.ndim != 1 or len(t) == 0:
        raise ValueError(f"{op}: targets has shape {t.shape}, expected (N,) with N > 0")
    t = labels(t, len(t), op, "targets")
    scores = to_numpy(preds, op, "preds")
    p = labels_or_scores(scores, len(t), op)
    c = max(int(p.max()) + 1, int(t.max()) + 1, num_names or 0,
            scores.shape[1] if scores.ndim == 2 else 0)
    if num_names is not None and c > num_names:
        raise ValueError(f"{op}: labels go up to {c - 1} but {num_names} class_names given")
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c)


def _counts(matrix_or_preds_targets, num_names: int | None, op: str) -> np.ndarray:
    """A (C, C) matrix as given (rows: true class), or counted from a tuple (preds, targets)."""
    if isinstance(matrix_or_preds_targets, tuple) and len(matrix_or_preds_targets) == 2:
        return _count(*matrix_or_preds_targets, num_names, op)
    matrix = to_numpy(matrix_or_preds_targets, op, "matrix")
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"{op}: matrix has shape {matrix.shape}, expected (C, C); "
                         "pass a tuple (preds, targets) to count one")
    if matrix.dtype.kind not in "biuf" or not np.all(np.isfinite(matrix)) or matrix.min() < 0:
        raise ValueError(f"{op}: matrix must hold finite non-negative counts")
    return matrix


def _names(class_names, c: int, op: str) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(c)]
    if len(class_names) != c:
        raise ValueError(f"{op}: {len(class_names)} class_names given for {c} classes")
    return [str(name) for name in class_names]


def plot_confusion_matrix(matrix_or_preds_targets, class_names=None, normalize: bool = False,
                          path=None):
    """Heat map of how often each true class (rows) is predicted as each class (columns).

    Takes a (C, C) matrix or a tuple (preds, targets), preds being labels (N,) or scores
    (N, C). normalize=True divides each row by its total: the share of each true class.
    """
    op = "plot_confusion_matrix"
    counts = _counts(matrix_or_preds_targets, None if class_names is None else len(class_names),
                     op)
    c = counts.shape[0]
    names = _names(class_names, c, op)
    shown = counts.astype(np.float64)
    if normalize:
        totals = shown.sum(axis=1, keepdims=True)
        shown = np.divide(shown, totals, out=np.zeros_like(shown), where=totals > 0)
    side = max(4.0, 0.45 * c + 2.5)
    fig, axes = new_figure(figsize=(side + 1, side))
    ax = axes[0, 0]
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, shrink=0.8)
    tilted = max(map(len, names)) > 2
    ax.set_xticks(range(c), names, rotation=45 if tilted else 0, ha="right" if tilted else "center")
    ax.set_yticks(range(c), names)
    ax.set(xlabel="predicted", ylabel="true",
           title="confusion matrix" + (" (share of each true class)" if normalize else ""))
    if c <= 30:
        integral = not normalize and np.all(shown == np.round(shown))
        threshold = shown.max() / 2
        for (i, j), value in np.ndenumerate(shown):
            ax.text(j, i, f"{value:.0f}" if integral else f"{value:.2f}", ha="center",
                    va="center", fontsize=8, color="white" if value > threshold else "black")
    return finish(fig, path)


def _images(images, op: str) -> np.ndarray:
    """(N, H, W) grey or (N, H, W, 3) colour images from (N, H, W), (N, 1, H, W), (N, 3, H, W)."""
    array = to_numpy(images, op, "images")
    if array.ndim == 4 and array.shape[1] == 1:
        return array[:, 0]
    if array.ndim == 4 and array.shape[1] == 3:
        return array.transpose(0, 2, 3, 1)
    if array.ndim == 3:
        return array
    raise ValueError(f"{op}: images has shape {array.shape}, "
                     "expected (N, 1, H, W), (N, 3, H, W) or (N, H, W)")


def _rescaled(image: np.ndarray) -> np.ndarray:
    """A colour image stretched to [0, 1], as imshow needs (grey images it scales itself)."""
    lo, hi = image.min(), image.max()
    return (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)


def plot_misclassified(images, preds, targets, class_names=None, max_images: int = 25,
                       path=None):
    """A grid of the first max_images images whose prediction is wrong, titled "pred/true".

    preds are labels (N,) or scores (N, C); targets are labels (N,).
    """
    op = "plot_misclassified"
    pictures = _images(images, op)
    n = len(pictures)
    p = labels_or_scores(preds, n, op)
    t = labels(targets, n, op, "targets")
    if not isinstance(max_images, int) or max_images < 1:
        raise ValueError(f"{op}: max_images must be a positive int, got {max_images!r}")
    top = int(max(p.max(initial=0), t.max(initial=0)))
    if class_names is not None and top >= len(class_names):
        raise ValueError(f"{op}: labels go up to {top} but {len(class_names)} class_names given")
    names = class_names if class_names is not None else range(top + 1)
    wrong = np.flatnonzero(p != t)
    shown = wrong[:max_images]
    nrows, ncols = grid_shape(len(shown))
    fig, axes = new_figure(nrows, ncols, figsize=(1.6 * ncols + 0.4, 1.7 * nrows + 0.6))
    for ax in axes.flat:
        ax.axis("off")
    if not len(shown):
        axes[0, 0].text(0.5, 0.5, f"no misclassified images among {n}", ha="center",
                        va="center")
        return finish(fig, path)
    for ax, i in zip(axes.flat, shown):
        picture = pictures[i]
        if picture.ndim == 3:
            ax.imshow(_rescaled(picture.astype(np.float64)))
        else:
            ax.imshow(picture, cmap="gray")
        ax.set_title(f"{names[p[i]]}/{names[t[i]]}", fontsize=8, color="tab:red")
    fig.suptitle(f"misclassified (predicted/true): {len(shown)} of {len(wrong)} shown, "
                 f"{n} images")
    return finish(fig, path)

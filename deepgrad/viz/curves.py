"""Learning curves: each metric per epoch, training beside validation, to see under- and
over-fitting at a glance."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from deepgrad.viz._common import finish, grid_shape, new_figure

__all__ = ["plot_learning_curves"]


def _series(key: str, values, op: str) -> np.ndarray:
    try:
        array = np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{op}: {key!r} must be a list of per-epoch numbers, "
                         f"got {type(values).__name__}") from err
    if array.size == 0:
        raise ValueError(f"{op}: {key!r} has no values")
    return array


def plot_learning_curves(history_or_dict, path=None):
    """One panel per metric (loss, accuracy, ...), train and ``val_`` curves over the epochs.

    Takes a Keras-like History (its ``.history`` dict) or the dict itself, mapping names such
    as ``loss``, ``val_loss``, ``accuracy``, ``val_accuracy`` to per-epoch lists.
    """
    op = "plot_learning_curves"
    logs = getattr(history_or_dict, "history", history_or_dict)
    if not isinstance(logs, Mapping):
        raise TypeError(f"{op}: expected a History or a dict of per-epoch lists, "
                        f"got {type(history_or_dict).__name__}")
    if not logs:
        raise ValueError(f"{op}: the history is empty; nothing to plot")
    panels: dict[str, list[str]] = {}
    for key in logs:
        base = key[4:] if key.startswith("val_") else key
        panels.setdefault(base, []).append(key)
    series = {key: _series(key, values, op) for key, values in logs.items()}
    nrows, ncols = grid_shape(len(panels))
    fig, axes = new_figure(nrows, ncols, figsize=(4.5 * ncols, 3.5 * nrows))
    for ax, (base, keys) in zip(axes.flat, panels.items()):
        for key in sorted(keys, key=lambda k: k.startswith("val_")):
            values = series[key]
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, marker="o" if len(values) <= 30 else None, markersize=3,
                    label="validation" if key.startswith("val_") else "training")
        ax.set(title=base, xlabel="epoch")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    return finish(fig, path)

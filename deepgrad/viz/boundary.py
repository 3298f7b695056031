"""What a 2-D classifier learnt: its decision boundary in the input plane, and the hidden
representation it built, where classes that no line separated (two circles) become separable.
"""

from __future__ import annotations

import numpy as np

from deepgrad.nn import Linear, Module
from deepgrad.tensor import Tensor
from deepgrad.viz._common import (
    class_colors,
    classes_from_logits,
    draw_regions,
    evaluate,
    finish,
    labels,
    new_figure,
    plane_grid,
    points_2d,
    scatter_classes,
    to_numpy,
)

__all__ = ["plot_decision_boundary", "hidden_representation", "plot_hidden_representation"]


def _num_classes(y: np.ndarray, *predicted: np.ndarray) -> int:
    return int(max(2, y.max() + 1, *(p.max() + 1 for p in predicted)))


def plot_decision_boundary(model, x, y, path=None, resolution: int = 200):
    """Shade the class model predicts over the plane around the (N, 2) points x, coloured by y.

    model maps (M, 2) tensors to logits (M, C), or (M, 1)/(M,) for a binary classifier (class 1
    where the logit is > 0). It runs in eval mode under no_grad; its modes are restored after.
    """
    op = "plot_decision_boundary"
    points = points_2d(x, op)
    y = labels(y, len(points), op)
    xx, yy = plane_grid(points, resolution, op)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    classes = classes_from_logits(evaluate(model, grid), len(grid), op).reshape(xx.shape)
    colors = class_colors(_num_classes(y, classes))
    fig, axes = new_figure(figsize=(5.5, 5))
    ax = axes[0, 0]
    draw_regions(ax, xx, yy, classes, colors)
    scatter_classes(ax, points, y, colors)
    ax.set(title="decision boundary", xlabel="$x_1$", ylabel="$x_2$")
    return finish(fig, path)


def _last_linear(model: Module, op: str) -> Linear:
    linears = [m for m in model.modules() if isinstance(m, Linear)]
    if not linears:
        raise ValueError(f"{op}: {type(model).__name__} has no nn.Linear layer; "
                         "pass layer= (the module whose output to show)")
    return linears[-1]


def _find_layer(model: Module, layer, op: str) -> Module:
    """layer given as a submodule of model or as its dotted name ("2", "encoder.fc")."""
    named = dict(model.named_modules())
    if isinstance(layer, str):
        if layer not in named:
            raise ValueError(f"{op}: model has no submodule named {layer!r}; "
                             f"its submodules are {[n for n in named if n]}")
        return named[layer]
    if not any(m is layer for m in named.values()):
        raise ValueError(f"{op}: layer {type(layer).__name__} is not a submodule of the model")
    return layer


def _capture(model: Module, x, layer, op: str) -> tuple[np.ndarray, Linear | None]:
    """(N, D) activations for x at layer's output (default: the last Linear's input), and that
    last Linear when it is the default (it then maps the representation to the logits)."""
    if not isinstance(model, Module):
        raise TypeError(f"{op}: model must be a deepgrad.nn.Module, got {type(model).__name__}")
    inputs = to_numpy(x, op, "x")
    if inputs.ndim < 2 or len(inputs) == 0:
        raise ValueError(f"{op}: x has shape {inputs.shape}, expected (N, features) with N > 0")
    seen = []
    if layer is None:
        head = target = _last_linear(model, op)
        handle = target.register_forward_pre_hook(lambda module, args: seen.append(args[:1]))
    else:
        head, target = None, _find_layer(model, layer, op)
        handle = target.register_forward_hook(lambda module, args, out: seen.append((out,)))
    try:
        evaluate(model, inputs)
    finally:
        handle.remove()
    if not seen:
        raise ValueError(f"{op}: {type(target).__name__} was not called by the model's forward")
    acts = seen[-1][0] if seen[-1] else None
    if not isinstance(acts, Tensor) or acts.shape[0] != len(inputs):
        raise ValueError(f"{op}: the captured activation is not an (N, ...) tensor for N="
                         f"{len(inputs)}: got {type(acts).__name__} {getattr(acts, 'shape', '')}")
    return acts.array.reshape(len(inputs), -1), head


def hidden_representation(model: Module, x, layer: Module | str | None = None) -> np.ndarray:
    """The (N, D) activations model computes for x at layer's output, flattened per sample.

    layer is a submodule or its dotted name; by default the last hidden layer, i.e. the input
    of the model's last nn.Linear (in registration order, the classifier of a Sequential).
    """
    return _capture(model, x, layer, "hidden_representation")[0]


def _plane(acts: np.ndarray):
    """(coords (N, 2), mean (D,), basis (2, D), share of variance kept): PCA to 2-D when D > 2,
    the activations themselves (padded with a zero column when D == 1) otherwise."""
    d = acts.shape[1]
    if d <= 2:
        return np.pad(acts, ((0, 0), (0, 2 - d))), np.zeros(d), np.eye(2, d), 1.0
    mean = acts.mean(axis=0)
    _, s, vt = np.linalg.svd(acts - mean, full_matrices=False)
    total = float((s * s).sum())
    kept = float((s[:2] ** 2).sum()) / total if total > 0 else 1.0
    return (acts - mean) @ vt[:2].T, mean, vt[:2], kept


def _head_regions(head: Linear, coords: np.ndarray, mean: np.ndarray, basis: np.ndarray,
                  op: str):
    """(xx, yy, classes): the final layer's prediction over a grid of the plotted plane, each
    grid point lifted back to the representation's space (mean + p @ basis)."""
    xx, yy = plane_grid(coords, 200, op)
    lifted = mean + np.column_stack([xx.ravel(), yy.ravel()]) @ basis
    return xx, yy, classes_from_logits(evaluate(head, lifted), len(lifted), op).reshape(xx.shape)


def plot_hidden_representation(model: Module, x, y, layer: Module | str | None = None,
                               path=None):
    """Scatter the last hidden layer's activations for x, coloured by class y.

    Wider layers are projected to their first two principal components; a single unit is drawn
    against the class. With the default layer the final Linear's decision regions are shaded
    too, when the plane shows them faithfully (at most 2 units, or two components keeping >= 90%
    of the variance): on two circles, a trained network's representation is split by a line.
    """
    op = "plot_hidden_representation"
    acts, head = _capture(model, x, layer, op)
    y = labels(y, len(acts), op)
    d = acts.shape[1]
    coords, mean, basis, kept = _plane(acts.astype(np.float64))
    if d == 1:
        coords[:, 1] = y  # one unit: a row of points per class
    regions = _head_regions(head, coords, mean, basis, op) \
        if head is not None and kept >= 0.9 else None
    colors = class_colors(_num_classes(y, *([regions[2]] if regions else [])))
    fig, axes = new_figure(figsize=(5.5, 5))
    ax = axes[0, 0]
    if regions:
        draw_regions(ax, *regions, colors)
    scatter_classes(ax, coords, y, colors)
    if d > 2:
        ax.set(xlabel="PC 1", ylabel="PC 2",
               title=f"hidden representation: {d} units\n(first 2 principal components, "
                     f"{kept:.0%} of the variance)")
    elif d == 2:
        ax.set(xlabel="$h_1$", ylabel="$h_2$", title="hidden representation: 2 units")
    else:
        ax.set(xlabel="$h_1$", ylabel="class", title="hidden representation: 1 unit",
               yticks=np.unique(y))
    return finish(fig, path)

"""What a convolutional network looks at: its first-layer filters and the feature maps that
one image produces inside it.

``plot_filters`` draws the kernels of a convolution (a Conv2d or its weight); colour-input
kernels are shown in colour, others one input channel at a time, on a shared colour scale
centred on zero so that the sign of each weight shows. ``plot_feature_maps`` runs one image
through a model and draws, for each chosen layer, the first channels of its output.
"""

from __future__ import annotations

import numpy as np

from deepgrad.nn import Module
from deepgrad.viz._common import evaluate, finish, grid_shape, new_figure, to_numpy

__all__ = ["plot_filters", "plot_feature_maps"]


def plot_filters(weight, max_filters: int = 64, channel: int | None = None, path=None):
    """A grid of convolution kernels: ``weight`` is a Conv2d or its weight (out, in, kH, kW).

    Three-channel kernels are drawn as colour images, each rescaled to [0, 1]; otherwise each
    kernel shows input channel ``channel`` (0 by default; with one input channel, the only
    one), all on one blue-white-red scale symmetric around zero. At most ``max_filters``
    kernels are drawn.
    """
    op = "plot_filters"
    w = _weight(weight, op).astype(np.float64)
    if not isinstance(max_filters, int) or max_filters < 1:
        raise ValueError(f"{op}: max_filters must be a positive int, got {max_filters!r}")
    out_ch, in_ch = w.shape[:2]
    colour = in_ch == 3 and channel is None
    if not colour:
        channel = 0 if channel is None else channel
        if not isinstance(channel, int) or not 0 <= channel < in_ch:
            raise ValueError(f"{op}: channel must be an int in [0, {in_ch}), got {channel!r}")
    shown = w[:max_filters]
    nrows, ncols = grid_shape(len(shown))
    fig, axes = new_figure(nrows, ncols, figsize=(0.9 * ncols + 1.2, 0.9 * nrows + 0.6))
    for ax in axes.flat:
        ax.axis("off")
    limit = float(np.abs(shown).max()) or 1.0
    image = None
    for i, (ax, kernel) in enumerate(zip(axes.flat, shown)):
        if colour:
            ax.imshow(_unit(np.moveaxis(kernel, 0, -1)), interpolation="nearest")
        else:
            image = ax.imshow(kernel[channel], cmap="RdBu_r", vmin=-limit, vmax=limit,
                              interpolation="nearest")
        ax.set_title(str(i), fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8)
    which = "" if colour or in_ch == 1 else f", input channel {channel}"
    fig.suptitle(f"{len(shown)} of {out_ch} filters {w.shape[2]}x{w.shape[3]}{which}")
    return finish(fig, path)


def plot_feature_maps(model, image, layers, max_maps: int = 8, path=None):
    """The input image and, one row per layer, the first ``max_maps`` channels of each layer's
    output for that image (the model in eval mode, without gradients).

    ``image`` is one input (C, H, W) (or a batch of one); ``layers`` are submodules of
    ``model`` or their names in ``model.named_modules()`` (e.g. ``["conv1", "layer2"]``).
    Each map is drawn on its own gray scale.
    """
    op = "plot_feature_maps"
    if not isinstance(model, Module):
        raise TypeError(f"{op}: model must be a deepgrad Module, got {type(model).__name__}")
    x = to_numpy(image, op, "image")
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3:
        raise ValueError(f"{op}: image has shape {x.shape}, expected one image (C, H, W)")
    if not isinstance(max_maps, int) or max_maps < 1:
        raise ValueError(f"{op}: max_maps must be a positive int, got {max_maps!r}")
    named = _layers(model, layers, op)
    outputs = _capture(model, x[None], named, op)
    fig, axes = new_figure(len(named) + 1, max_maps,
                           figsize=(1.1 * max_maps + 0.4, 1.25 * (len(named) + 1) + 0.4))
    for ax in axes.flat:
        ax.axis("off")
    _show(axes[0, 0], x[0] if x.shape[0] != 3 else np.moveaxis(_unit(x), 0, -1))
    axes[0, 0].set_title(f"input {x.shape[1]}x{x.shape[2]}", fontsize=8)
    for row, (name, maps) in enumerate(zip(named, outputs), start=1):
        for col in range(min(max_maps, maps.shape[0])):
            _show(axes[row, col], maps[col])
        axes[row, 0].set_title(f"{name}: {maps.shape[0]}x{maps.shape[1]}x{maps.shape[2]}",
                               fontsize=8, loc="left")
    return finish(fig, path)


def _weight(weight, op: str) -> np.ndarray:
    if isinstance(weight, Module):
        if not hasattr(weight, "weight"):
            raise TypeError(f"{op}: module {type(weight).__name__} has no weight")
        weight = weight.weight
    w = to_numpy(weight, op, "weight")
    if w.ndim != 4 or 0 in w.shape:
        raise ValueError(f"{op}: weight has shape {w.shape}, expected a 2-d convolution's "
                         f"(out_channels, in_channels, kH, kW)")
    return w


def _layers(model: Module, layers, op: str) -> dict:
    """{name: module} for the requested layers, in the order given."""
    if isinstance(layers, (str, Module)):
        layers = [layers]
    modules = dict(model.named_modules())
    names = {id(m): n for n, m in modules.items()}
    chosen = {}
    for layer in layers:
        if isinstance(layer, str):
            if layer not in modules:
                raise ValueError(f"{op}: model has no submodule {layer!r}; it has "
                                 f"{[n for n in modules if n][:20]}")
            chosen[layer] = modules[layer]
        elif isinstance(layer, Module) and id(layer) in names:
            chosen[names[id(layer)] or type(layer).__name__] = layer
        else:
            raise ValueError(f"{op}: layers must be names or submodules of model, got "
                             f"{type(layer).__name__}")
    if not chosen:
        raise ValueError(f"{op}: no layers given")
    return chosen


def _capture(model: Module, batch: np.ndarray, named: dict, op: str) -> list:
    """Each chosen layer's output for the batch of one, as (C, H, W) arrays."""
    seen: dict = {}
    handles = [module.register_forward_hook(
        lambda _m, _args, out, name=name: seen.__setitem__(name, to_numpy(out, op, name)))
        for name, module in named.items()]
    try:
        evaluate(model, batch)
    finally:
        for handle in handles:
            handle.remove()
    maps = []
    for name in named:
        if name not in seen:
            raise ValueError(f"{op}: layer {name!r} was not called by model's forward")
        out = seen[name]
        if out.ndim != 4:
            raise ValueError(f"{op}: layer {name!r} gives shape {out.shape}; feature maps need "
                             f"a 4-d output (N, C, H, W)")
        maps.append(out[0].astype(np.float64))
    return maps


def _show(ax, picture: np.ndarray) -> None:
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")


def _unit(x: np.ndarray) -> np.ndarray:
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)

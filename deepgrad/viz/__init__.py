"""Seeing learning: learning curves, decision boundaries, hidden representations, confusion
matrices and misclassified images, as matplotlib Figures.

matplotlib is an optional extra (``pip install "deepgrad[viz]"``), loaded only when a plot is
drawn. Every plot returns its Figure and, given ``path``, saves it there as a PNG.
"""

from deepgrad.viz.boundary import (
    hidden_representation,
    plot_decision_boundary,
    plot_hidden_representation,
)
from deepgrad.viz.classification import plot_confusion_matrix, plot_misclassified
from deepgrad.viz.curves import plot_learning_curves
from deepgrad.viz.features import plot_feature_maps, plot_filters
from deepgrad.viz.images import image_grid, save_image_grid
from deepgrad.viz.latent import (
    latent_manifold,
    plot_latent_2d,
    plot_latent_manifold,
    plot_latent_scatter,
)

__all__ = ["plot_learning_curves", "plot_decision_boundary", "hidden_representation",
           "plot_hidden_representation", "plot_confusion_matrix", "plot_misclassified",
           "image_grid", "save_image_grid", "latent_manifold", "plot_latent_2d",
           "plot_latent_manifold", "plot_latent_scatter", "plot_filters", "plot_feature_maps"]

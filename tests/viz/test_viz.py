"""deepgrad.viz: every plot gives a Figure and a PNG, shows the right numbers, leaves the model as
it found it, and explains bad input."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import deepgrad as dg  # noqa: E402
from deepgrad import nn, viz  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def assert_png(fig, path):
    assert isinstance(fig, Figure)
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 1000


def circles(n=40):
    """Two noisy concentric circles: class 0 inside (radius 1), class 1 outside (radius 2)."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    angle = rng.uniform(0, 2 * np.pi, n)
    x = (1.0 + y)[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    return x.astype(np.float32), y


def mlp(hidden=2):
    return nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, hidden), nn.Tanh(),
                         nn.Linear(hidden, 2))


def scattered(ax):
    """The points of every scatter in ax, stacked."""
    return np.concatenate([c.get_offsets() for c in ax.collections
                           if isinstance(c, PathCollection)])


class Probe(nn.Module):
    """Binary logit x1 - x2, recording what each forward saw."""

    def __init__(self, out_shape=lambda n: (n, 1)):
        super().__init__()
        self.fc = nn.Linear(2, 1)
        self.out_shape = out_shape
        self.calls = []

    def forward(self, x):
        self.calls.append((x.shape, x.dtype, self.training, self.fc.training,
                           dg.is_grad_enabled(), x.array.min(axis=0), x.array.max(axis=0)))
        logit = x[:, 0:1] - x[:, 1:2]
        return logit.reshape(*self.out_shape(x.shape[0]))


# -- learning curves -----------------------------------------------------------------------------
class History:
    def __init__(self, history):
        self.history = history


def test_learning_curves_one_panel_per_metric_train_and_val(tmp_path):
    logs = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6],
            "accuracy": [0.5, 0.8, 0.9], "val_accuracy": [0.4, 0.7, 0.8], "lr": [0.1, 0.1, 0.05]}
    fig = viz.plot_learning_curves(History(logs), path=tmp_path / "curves.png")
    assert_png(fig, tmp_path / "curves.png")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["loss", "accuracy", "lr"]
    loss_lines = panels[0].get_lines()
    assert [line.get_label() for line in loss_lines] == ["training", "validation"]
    np.testing.assert_allclose(loss_lines[1].get_ydata(), logs["val_loss"])
    np.testing.assert_array_equal(loss_lines[0].get_xdata(), [1, 2, 3])
    assert len(panels[2].get_lines()) == 1


def test_learning_curves_accepts_plain_dict_and_scalar_tensors():
    fig = viz.plot_learning_curves({"val_loss": [dg.tensor(0.5), np.float32(0.25)]})
    assert fig.axes[0].get_title() == "loss"
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [0.5, 0.25])


@pytest.mark.parametrize("bad, error, match", [
    ({}, ValueError, "empty"),
    ([1.0, 2.0], TypeError, "History or a dict"),
    ({"loss": ["a", "b"]}, ValueError, "'loss' must be a list of per-epoch numbers"),
    ({"loss": []}, ValueError, "'loss' has no values"),
])
def test_learning_curves_bad_input(bad, error, match):
    with pytest.raises(error, match=match):
        viz.plot_learning_curves(bad)


# -- decision boundary ---------------------------------------------------------------------------
def test_decision_boundary_evaluates_a_float32_grid_in_eval_mode_without_grad(tmp_path):
    x, y = circles()
    model = Probe()
    model.fc.eval()  # mixed modes must come back exactly as they were
    fig = viz.plot_decision_boundary(model, x, y, path=tmp_path / "b.png", resolution=16)
    assert_png(fig, tmp_path / "b.png")
    (shape, dtype, training, fc_training, grad, lo, hi), = model.calls
    assert shape == (16 * 16, 2) and dtype == dg.float32
    assert not training and not fc_training and not grad
    assert np.all(lo < x.min(axis=0)) and np.all(hi > x.max(axis=0))
    assert model.training and not model.fc.training and dg.is_grad_enabled()
    ax = fig.axes[0]
    np.testing.assert_allclose(np.sort(scattered(ax), axis=0), np.sort(x, axis=0))
    class0, class1 = next(c for c in ax.collections if isinstance(c, ContourSet)).get_paths()
    for point in [(2, -2), (1.5, -0.5), (0.5, -1)]:  # x1 - x2 > 0: class 1
        assert class1.contains_point(point) and not class0.contains_point(point)
        assert class0.contains_point(point[::-1]) and not class1.contains_point(point[::-1])


@pytest.mark.parametrize("out_shape", [lambda n: (n,), lambda n: (n, 1)])
def test_decision_boundary_binary_logits_shapes(out_shape):
    x, y = circles(10)
    assert isinstance(viz.plot_decision_boundary(Probe(out_shape), x, y, resolution=8), Figure)


def test_decision_boundary_multiclass_model_and_tensor_inputs():
    x, y = circles(12)
    fig = viz.plot_decision_boundary(mlp(), dg.tensor(x), dg.tensor(y), resolution=10)
    assert isinstance(fig, Figure)


def test_decision_boundary_restores_train_mode_when_the_model_fails():
    x, y = circles(10)
    model = Probe(lambda n: (n, 1, 1))
    with pytest.raises(ValueError, match=r"model output has shape \(100, 1, 1\)"):
        viz.plot_decision_boundary(model, x, y, resolution=10)
    assert model.training and model.fc.training


@pytest.mark.parametrize("x, y, kwargs, match", [
    (np.zeros((5, 3)), np.zeros(5), {}, r"x has shape \(5, 3\), expected \(N, 2\)"),
    (np.zeros((5, 2)), np.zeros(4), {}, r"y has shape \(4,\), expected \(5,\)"),
    (np.zeros((3, 2)), [0, 1.5, 1], {}, "y must hold non-negative integer class labels"),
    (np.zeros((5, 2)), np.zeros(5), {"resolution": 1}, "resolution must be an int >= 2"),
])
def test_decision_boundary_bad_input(x, y, kwargs, match):
    with pytest.raises(ValueError, match=r"plot_decision_boundary: " + match):
        viz.plot_decision_boundary(Probe(), x, y, **kwargs)


# -- hidden representation -----------------------------------------------------------------------
def test_hidden_representation_is_the_input_of_the_last_linear():
    x, _ = circles(8)
    model = mlp(hidden=3)
    acts = viz.hidden_representation(model, x)
    with dg.no_grad():
        expected = model[:4](dg.tensor(x)).array
    np.testing.assert_allclose(acts, expected, rtol=1e-6)
    assert acts.dtype == np.float32
    assert not model[4]._forward_pre_hooks, "the hook is removed"


@pytest.mark.parametrize("layer", ["1", 1])
def test_hidden_representation_of_a_chosen_layer(layer):
    x, _ = circles(8)
    model = mlp()
    chosen = model[1] if layer == 1 else layer
    acts = viz.hidden_representation(model, dg.tensor(x), layer=chosen)
    with dg.no_grad():
        expected = model[:2](dg.tensor(x)).array
    np.testing.assert_allclose(acts, expected, rtol=1e-6)
    assert not model[1]._forward_hooks


def test_hidden_representation_flattens_per_sample():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 2)

        def forward(self, x):
            return self.fc(x.reshape(x.shape[0], -1))

    x = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    np.testing.assert_allclose(viz.hidden_representation(Net(), x), x.reshape(4, 6))


def test_plot_hidden_representation_scatters_the_2d_activations(tmp_path):
    x, y = circles(20)
    model = mlp(hidden=2).train()
    fig = viz.plot_hidden_representation(model, x, y, path=tmp_path / "h.png")
    assert_png(fig, tmp_path / "h.png")
    ax = fig.axes[0]
    acts = viz.hidden_representation(model, x)
    np.testing.assert_allclose(np.sort(scattered(ax), axis=0), np.sort(acts, axis=0), rtol=1e-6)
    assert any(isinstance(c, ContourSet) for c in ax.collections), "final layer's regions"
    assert all(m.training for m in model.modules())


def test_plot_hidden_representation_projects_wide_layers_by_pca():
    x, y = circles(20)
    model = mlp(hidden=5)
    fig = viz.plot_hidden_representation(model, x, y)
    acts = viz.hidden_representation(model, x).astype(np.float64)
    centred = acts - acts.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    expected = centred @ vectors[:, ::-1][:, :2]  # the two main axes, up to sign
    ax = fig.axes[0]
    assert ax.get_xlabel() == "PC 1" and "5 units" in ax.get_title()
    got = scattered(ax)
    order = np.concatenate([np.flatnonzero(y == c) for c in np.unique(y)])
    np.testing.assert_allclose(np.abs(got), np.abs(expected[order]), rtol=1e-4, atol=1e-5)


def test_plot_hidden_representation_of_a_chosen_layer_draws_no_regions():
    x, y = circles(10)
    fig = viz.plot_hidden_representation(mlp(), x, y, layer="0")
    assert not any(isinstance(c, ContourSet) for c in fig.axes[0].collections)


def test_hidden_representation_errors():
    x, _ = circles(6)
    model = mlp()
    with pytest.raises(ValueError, match="has no nn.Linear layer; pass layer="):
        viz.hidden_representation(nn.Sequential(nn.Tanh()), x)
    with pytest.raises(ValueError, match="not a submodule"):
        viz.hidden_representation(model, x, layer=nn.Tanh())
    with pytest.raises(ValueError, match="no submodule named '9'"):
        viz.hidden_representation(model, x, layer="9")

    class Skips(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.unused = mlp(), nn.Linear(2, 2)

        def forward(self, x):
            return self.body(x)

    with pytest.raises(ValueError, match="Linear was not called by the model's forward"):
        viz.hidden_representation(Skips(), x)
    with pytest.raises(TypeError, match="must be a deepgrad.nn.Module"):
        viz.hidden_representation(lambda t: t, x)
    with pytest.raises(ValueError, match=r"plot_hidden_representation: y has shape \(5,\)"):
        viz.plot_hidden_representation(mlp(), x, np.zeros(5))


# -- confusion matrix ----------------------------------------------------------------------------
def test_confusion_matrix_counts_preds_against_targets(tmp_path):
    targets = np.array([0, 0, 1, 1, 2, 2, 2])
    preds = np.array([0, 1, 1, 1, 2, 0, 2])
    fig = viz.plot_confusion_matrix((preds, targets), class_names=["a", "b", "c"],
                                    path=tmp_path / "cm.png")
    assert_png(fig, tmp_path / "cm.png")
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert sorted(t.get_text() for t in ax.texts).count("2") == 2


def test_confusion_matrix_from_logits_and_normalized():
    logits = dg.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [1.0, 0.0]])
    fig = viz.plot_confusion_matrix((logits, dg.tensor([0, 1, 1, 1])), normalize=True)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), [[1, 0], [2 / 3, 1 / 3]])


def test_confusion_matrix_from_a_matrix_with_an_empty_row():
    fig = viz.plot_confusion_matrix([[3, 1], [0, 0]], normalize=True)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), [[0.75, 0.25], [0, 0]])


@pytest.mark.parametrize("arg, names, match", [
    (np.ones((2, 3)), None, r"matrix has shape \(2, 3\), expected \(C, C\)"),
    ([[1, -1], [0, 1]], None, "matrix must hold finite non-negative counts"),
    (np.eye(3), ["a", "b"], "2 class_names given for 3 classes"),
    (([0, 1, 2], [0, 1]), None, r"preds has shape \(3,\), expected \(2,\)"),
    (([0, 3], [0, 1]), ["a", "b"], "labels go up to 3 but 2 class_names given"),
    (([], []), None, r"targets has shape \(0,\)"),
])
def test_confusion_matrix_bad_input(arg, names, match):
    with pytest.raises(ValueError, match="plot_confusion_matrix: " + match):
        viz.plot_confusion_matrix(arg, class_names=names)


# -- misclassified images ------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 1, 5, 4), (6, 5, 4), (6, 3, 5, 4)])
def test_misclassified_grid_shows_wrong_predictions(tmp_path, shape):
    images = np.random.default_rng(0).random(shape).astype(np.float32)
    targets = np.array([0, 1, 2, 0, 1, 2])
    preds = np.array([0, 2, 2, 1, 1, 0])
    fig = viz.plot_misclassified(dg.tensor(images), preds, targets,
                                 class_names=["cat", "dog", "fox"], path=tmp_path / "m.png")
    assert_png(fig, tmp_path / "m.png")
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in shown] == ["fox/dog", "dog/cat", "cat/fox"]
    assert shown[0].images[0].get_array().shape[:2] == (5, 4)


def test_misclassified_takes_scores_and_caps_the_count():
    images = np.zeros((10, 4, 4), np.float32)
    scores = np.tile([[0.0, 1.0]], (10, 1))  # always predicts 1
    fig = viz.plot_misclassified(images, scores, np.zeros(10, int), max_images=4)
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["1/0"] * 4
    assert "4 of 10 shown" in fig.get_suptitle()


def test_misclassified_with_none_wrong():
    fig = viz.plot_misclassified(np.zeros((3, 4, 4)), [0, 1, 2], [0, 1, 2])
    assert not any(ax.images for ax in fig.axes)
    assert "no misclassified images" in fig.axes[0].texts[0].get_text()


@pytest.mark.parametrize("images, preds, kwargs, match", [
    (np.zeros((3, 2, 4, 4)), [0, 1, 1], {}, r"images has shape \(3, 2, 4, 4\)"),
    (np.zeros((3, 4)), [0, 1, 1], {}, r"images has shape \(3, 4\)"),
    (np.zeros((3, 4, 4)), [0, 1], {}, r"preds has shape \(2,\), expected \(3,\)"),
    (np.zeros((3, 4, 4)), [0, 1, 1], {"max_images": 0}, "max_images must be a positive int"),
    (np.zeros((3, 4, 4)), [0, 1, 5], {"class_names": "ab"}, "labels go up to 5"),
])
def test_misclassified_bad_input(images, preds, kwargs, match):
    with pytest.raises(ValueError, match="plot_misclassified: " + match):
        viz.plot_misclassified(images, preds, [0, 0, 1], **kwargs)


# -- matplotlib is optional ----------------------------------------------------------------------
def test_missing_matplotlib_says_how_to_install_it(monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "deepgrad\[viz\]"'):
        viz.plot_confusion_matrix(np.eye(2))


def test_importing_viz_does_not_import_matplotlib():
    code = "import sys, deepgrad.viz; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plot_hidden_representation_of_one_unit_puts_a_row_per_class():
    x, y = circles(10)
    model = nn.Sequential(nn.Linear(2, 1), nn.Tanh(), nn.Linear(1, 1))
    fig = viz.plot_hidden_representation(model, x, y)
    got = scattered(fig.axes[0])
    acts = viz.hidden_representation(model, x)[:, 0]
    order = np.concatenate([np.flatnonzero(y == c) for c in np.unique(y)])
    np.testing.assert_allclose(got[:, 0], acts[order], rtol=1e-6)
    np.testing.assert_array_equal(got[:, 1], y[order])


def test_final_layer_regions_in_the_pca_plane_agree_with_the_model():
    """A rank-2 representation in 5 units: the PCA plane holds it all, so the shaded class at
    each plotted point is the model's prediction for that point."""
    from deepgrad.viz import boundary

    x, y = circles(40)
    x += 3
    model = nn.Sequential(nn.Linear(2, 5), nn.Linear(5, 3))
    middle = viz.hidden_representation(model, x).mean(axis=0)
    model[1].bias.array[:] = -model[1].weight.array @ middle  # all classes meet in the middle
    acts, head = boundary._capture(model, x, None, "test")
    coords, mean, basis, kept = boundary._plane(acts.astype(np.float64))
    assert kept > 0.999 and head is model[1]
    xx, yy, classes = boundary._head_regions(head, coords, mean, basis, "test")
    cols = np.abs(xx[0][None, :] - coords[:, :1]).argmin(axis=1)
    rows = np.abs(yy[:, 0][None, :] - coords[:, 1:]).argmin(axis=1)
    with dg.no_grad():
        predicted = model(dg.tensor(x)).array.argmax(axis=1)
    assert len(np.unique(predicted)) > 1
    assert np.mean(classes[rows, cols] == predicted) >= 0.9

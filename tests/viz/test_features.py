"""deepgrad.viz.features: filters and feature maps are drawn from the real weights and
activations, leave the model as it was, and explain bad input."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

import deepgrad as dg  # noqa: E402
from deepgrad import nn  # noqa: E402
from deepgrad.viz.features import plot_feature_maps, plot_filters  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def pictures(fig):
    """The arrays drawn by imshow, panel by panel (colour bars left out)."""
    return [np.asarray(im.get_array()) for ax in fig.axes for im in ax.get_images()
            if isinstance(im, AxesImage)]


def cnn():
    dg.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3), nn.Flatten(), nn.Linear(6 * 2 * 2, 3))


def test_plot_filters_draws_each_kernel_on_one_symmetric_scale(tmp_path):
    conv = nn.Conv2d(1, 5, 3)
    path = tmp_path / "filters.png"
    fig = plot_filters(conv, path=path)
    assert isinstance(fig, Figure) and path.read_bytes().startswith(PNG)
    drawn = pictures(fig)
    assert len(drawn) == 5
    for i, picture in enumerate(drawn):
        np.testing.assert_allclose(picture, conv.weight.array[i, 0])
    limit = np.abs(conv.weight.array).max()
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert all(np.allclose(im.get_clim(), (-limit, limit)) for im in images)
    assert "5 of 5 filters 3x3" in fig._suptitle.get_text()


def test_plot_filters_colour_kernels_channel_choice_and_max_filters():
    weight = np.random.default_rng(0).normal(size=(10, 3, 5, 5)).astype(np.float32)
    drawn = pictures(plot_filters(weight, max_filters=4))
    assert len(drawn) == 4 and drawn[0].shape == (5, 5, 3)
    assert drawn[0].min() == 0 and drawn[0].max() == 1  # each rescaled to [0, 1]
    one = pictures(plot_filters(dg.from_numpy(weight), channel=2))
    assert len(one) == 10
    np.testing.assert_allclose(one[7], weight[7, 2])


def test_plot_filters_errors():
    with pytest.raises(ValueError, match=r"plot_filters: weight has shape \(4, 3\)"):
        plot_filters(np.zeros((4, 3)))
    with pytest.raises(TypeError, match="plot_filters: module ReLU has no weight"):
        plot_filters(nn.ReLU())
    with pytest.raises(ValueError, match=r"channel must be an int in \[0, 2\), got 2"):
        plot_filters(np.zeros((4, 2, 3, 3)), channel=2)
    with pytest.raises(ValueError, match="max_filters must be a positive int, got 0"):
        plot_filters(np.zeros((4, 1, 3, 3)), max_filters=0)


def test_plot_feature_maps_shows_each_layers_activations(tmp_path):
    model = cnn()
    model.train()
    image = np.random.default_rng(1).normal(size=(1, 8, 8)).astype(np.float32)
    path = tmp_path / "maps.png"
    fig = plot_feature_maps(model, image, ["1", model[3]], max_maps=3, path=path)
    assert isinstance(fig, Figure) and path.read_bytes().startswith(PNG)
    with dg.no_grad():
        relu = model[1](model[0](dg.from_numpy(image[None]))).array[0]
        conv = model[3](model[2](model[1](model[0](dg.from_numpy(image[None]))))).array[0]
    drawn = pictures(fig)
    assert len(drawn) == 1 + 3 + 3  # the input, then 3 of the 4 and 3 of the 6 maps
    np.testing.assert_allclose(drawn[0], image[0])
    for got, want in zip(drawn[1:4], relu):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    for got, want in zip(drawn[4:], conv):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert "1: 4x8x8" in titles and "3: 6x2x2" in titles
    assert model.training and all(m.training for m in model.modules())
    assert not any(m._forward_hooks for m in model.modules())


def test_plot_feature_maps_errors():
    model = cnn()
    image = np.zeros((1, 8, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="model has no submodule 'conv9'"):
        plot_feature_maps(model, image, ["conv9"])
    with pytest.raises(ValueError, match=r"layer '5' gives shape \(1, 3\); feature maps need"):
        plot_feature_maps(model, image, ["5"])
    with pytest.raises(ValueError, match=r"image has shape \(8, 8\), expected one image"):
        plot_feature_maps(model, image[0], ["0"])
    with pytest.raises(ValueError, match="layers must be names or submodules of model"):
        plot_feature_maps(model, image, [nn.ReLU()])
    with pytest.raises(TypeError, match="model must be a deepgrad Module"):
        plot_feature_maps(lambda x: x, image, ["0"])
    assert not any(m._forward_hooks for m in model.modules())

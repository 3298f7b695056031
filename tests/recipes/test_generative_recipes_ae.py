"""The autoencoder and VAE recipes end to end on tiny slices of the real data sets, and the
latent-space plots they draw."""

import json
from statistics import NormalDist

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.recipes import all_recipes, get, run_recipe
from deepgrad.recipes.mnist_autoencoder import pca_mse, psnr
from deepgrad.viz.latent import latent_manifold, plot_latent_2d, plot_latent_scatter

TINY = dict(epochs=1, n_train=400, n_test=200, batch_size=50)


def test_the_recipes_are_listed():
    assert {"mnist-autoencoder", "fashion-autoencoder", "mnist-vae"} <= set(all_recipes())


def test_denoising_autoencoder_recipe(tmp_path, datasets_root):
    pytest.importorskip("matplotlib")
    results = run_recipe(get("mnist-autoencoder"), dict(TINY, hidden=[64], denoising=True,
                                                        data_dir=str(datasets_root)), tmp_path)
    assert results["train_images"] == 400 and results["test_images"] == 200
    # predicting each pixel's mean is worse than the best rank-32 linear reconstruction
    assert results["pca32_mse_per_pixel"] < results["mean_image_mse_per_pixel"]
    assert 0 < results["test_mse_per_pixel"] < 0.3
    # noise of std 0.5, clipped to [0, 1]: about 9 dB
    assert 7 < results["psnr_noisy_db"] < 12
    assert results["psnr_denoised_db"] == pytest.approx(
        psnr(results["test_mse_denoised_per_pixel"]))
    for name in ("denoising.png", "learning_curves.png", "log.csv", "report.md",
                 "model.safetensors"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "results.json").read_text())["epochs_run"] == 1
    state = dg.load(tmp_path / "model.safetensors")["model"]
    assert state["autoencoder.encoder.0.weight"].shape == (64, 784)


def test_fashion_autoencoder_recipe_reads_fashion_mnist(tmp_path, datasets_root):
    pytest.importorskip("matplotlib")
    results = run_recipe(get("fashion-autoencoder"), dict(TINY, hidden=[32], code_size=8,
                                                          data_dir=str(datasets_root)), tmp_path)
    assert results["dataset"] == "fashion" and "pca8_mse_per_pixel" in results
    assert (tmp_path / "reconstructions.png").is_file()


def test_vae_recipe_with_a_2d_latent(tmp_path, datasets_root):
    pytest.importorskip("matplotlib")
    results = run_recipe(get("mnist-vae"), dict(TINY, hidden=64, latent_dim=2,
                                                data_dir=str(datasets_root)), tmp_path)
    assert results["test_neg_elbo"] == pytest.approx(results["test_bce"] + results["test_kl"],
                                                     rel=1e-5)
    assert results["test_neg_elbo"] < 543  # below an untrained decoder's 784 log 2 nats
    for name in ("vae_samples.png", "vae_reconstructions.png", "vae_interpolation.png",
                 "vae_latent2d.png"):
        assert (tmp_path / name).is_file(), name
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0] == "epoch,train_loss,test_neg_elbo,test_bce,test_kl,elapsed_s" and len(rows) == 2


@pytest.mark.parametrize("setting, message", [(dict(model="rnn"), "model must be 'dense' or"),
                                              (dict(dataset="cifar"), "dataset must be one of"),
                                              (dict(loss="l1"), "loss must be one of")])
def test_autoencoder_recipe_rejects_bad_settings(tmp_path, setting, message):
    with pytest.raises(ValueError, match=message):  # before any data is read
        run_recipe(get("mnist-autoencoder"), dict(TINY, data_dir=str(tmp_path), **setting),
                   tmp_path)


def test_pca_reference_is_exact_for_data_of_low_rank():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 20))
    x, x_test = rng.normal(size=(200, 3)) @ basis, rng.normal(size=(50, 3)) @ basis
    assert pca_mse(x, x_test, 3) < 1e-12
    assert pca_mse(x, x_test, 2) > 1e-3


def test_psnr():
    assert psnr(1e-2) == pytest.approx(20.0)
    assert psnr(0.0) == float("inf")


# -- latent-space plots --------------------------------------------------------------------------
def test_latent_manifold_lays_codes_out_like_a_plot():
    # each decoded "image" is 2x3 pixels filled with its code's z1 (left half) and z2 (right)
    def decode(z):
        z = z.array
        return np.concatenate([np.repeat(z[:, :1], 3, 1), np.repeat(z[:, 1:], 3, 1)], axis=1)

    grid, z1, z2 = latent_manifold(decode, n=4, image_shape=(2, 3), quantiles=(0.1, 0.9))
    assert grid.shape == (8, 12)
    np.testing.assert_allclose(z1, [NormalDist().inv_cdf(q) for q in np.linspace(0.1, 0.9, 4)])
    # the grid is scaled to [0, 1]: z1 grows to the right, z2 grows upwards
    assert grid[0, 0] == grid[6, 0] < grid[0, 9]
    assert grid[1, 11] > grid[7, 11]


def test_latent_plots_write_pngs_and_check_inputs(tmp_path):
    pytest.importorskip("matplotlib")
    codes, y = np.random.default_rng(0).normal(size=(60, 2)), np.arange(60) % 3
    plot_latent_scatter(codes, y, path=tmp_path / "scatter.png")
    plot_latent_2d(codes, y, lambda z: dg.zeros(len(z), 784) + z[:, :1], n=5,
                   path=tmp_path / "both.png")
    assert (tmp_path / "scatter.png").stat().st_size > 0 and (tmp_path / "both.png").is_file()
    with pytest.raises(ValueError, match=r"x has shape \(60, 3\), expected \(N, 2\)"):
        plot_latent_scatter(np.zeros((60, 3)), y)
    with pytest.raises(ValueError, match=r"decode returned shape \(4, 10\) for 4 codes"):
        latent_manifold(lambda z: dg.zeros(4, 10), n=2)

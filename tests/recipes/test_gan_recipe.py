"""The mnist-gan recipe end to end on a sliver of MNIST: files, scores, the classifier cache
and resuming from a run's checkpoint."""

import json

import pytest

from deepgrad.recipes import all_recipes, get, run_recipe

TINY_LR = 2e-4  # the recipe's default
TINY = dict(epochs=2, batch_size=16, ngf=4, ndf=4, latent_dim=8, classifier_epochs=0,
            n_train=256, n_test=300, n_score=200, n_score_epoch=100, max_steps=3)


def test_mnist_gan_recipe_writes_run_folder(datasets_root, tmp_path, capsys):
    assert "mnist-gan" in all_recipes()
    out = tmp_path / "run"
    results = run_recipe(get("mnist-gan"), dict(TINY, data_dir=str(datasets_root)), out)
    for name in ("config.json", "results.json", "report.md", "log.csv", "steps.csv",
                 "gan.safetensors", "classifier.safetensors", "samples_epoch_001.png",
                 "samples_epoch_002.png", "samples.png", "interpolation.png", "gan_curves.png"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "results.json").read_text())
    for key in ("real_test", "untrained_generator", "trained_generator",
                "trained_generator_batch_stats"):
        assert 1.0 <= saved[key]["inception_score"] <= 10.0 + 1e-6, key
    for key in ("untrained_generator", "trained_generator"):
        assert saved[key]["frechet_distance"] >= 0 and sum(saved[key]["class_counts"]) == 200
    assert [row["epoch"] for row in results["epochs"]] == [1, 2]
    assert len((out / "steps.csv").read_text().splitlines()) == 1 + 2 * 3  # header + steps
    assert saved["params"]["generator"] == sum(
        p.numel() for p in get("mnist-gan").model({**get("mnist-gan").defaults, **TINY})
        .parameters())
    # a second run reuses the cached classifier and goes on from the first run's checkpoint
    capsys.readouterr()
    again = run_recipe(get("mnist-gan"), dict(TINY, epochs=3, data_dir=str(datasets_root),
                                               classifier=str(out / "classifier.safetensors"),
                                               resume=str(out / "gan.safetensors"),
                                               lr_decay_from=1),
                       tmp_path / "again")
    # the learning rate falls linearly after epoch 1: 2/3 of it would have been epoch 2's
    assert again["epochs"][-1]["lr"] == pytest.approx(TINY_LR / 3)
    assert "classifier: loaded" in capsys.readouterr().out
    assert [row["epoch"] for row in again["epochs"]] == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "again").glob("samples_epoch_*")) == [
        "samples_epoch_003.png"]
    assert again["classifier_test_accuracy"] == pytest.approx(results["classifier_test_accuracy"])

"""The deepgrad command end to end, on generated data (offline)."""

import json

import numpy as np
import pytest

from deepgrad.cli import main


def test_recipes_lists_every_recipe(capsys):
    assert main(["recipes"]) == 0
    listed = capsys.readouterr().out
    for name in ("circles", "perceptron", "mnist-mlp", "mnist-cnn", "shakespeare-lstm",
                 "co2-forecast", "sst2-lstm"):
        assert name in listed


@pytest.fixture(scope="module")
def circles_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "circles"
    assert main(["train", "circles", "--epochs", "25", "--seed", "1", "--out", str(out)]) == 0
    return out


def test_train_writes_the_run_folder(circles_run):
    for name in ("config.json", "log.csv", "log.jsonl", "best.safetensors", "report.md",
                 "results.json", "learning_curves.png", "decision_boundary.png",
                 "hidden_representation.png"):
        assert (circles_run / name).is_file(), name
    config = json.loads((circles_run / "config.json").read_text())
    assert config["recipe"] == "circles" and config["epochs"] == 25 and config["seed"] == 1
    results = json.loads((circles_run / "results.json").read_text())
    assert results["test_accuracy"] >= 0.97
    assert len((circles_run / "log.csv").read_text().splitlines()) == 1 + 25


def test_evaluate_scores_the_best_checkpoint(circles_run, capsys):
    assert main(["evaluate", str(circles_run)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    scores = json.loads((circles_run / "evaluation.json").read_text())
    results = json.loads((circles_run / "results.json").read_text())
    assert scores["accuracy"] == pytest.approx(results["test_accuracy"])


def test_predict_classifies_points_from_a_file(circles_run, tmp_path, capsys):
    points = tmp_path / "points.csv"
    points.write_text("0.0,0.5\n1.0,0.0\n0.0,-1.0\n")  # inner ring (1), outer (0), outer (0)
    assert main(["predict", str(circles_run), str(points)]) == 0
    classes = [int(line.split(",")[0]) for line in capsys.readouterr().out.split()]
    assert classes == [1, 0, 0]
    np.save(tmp_path / "points.npy", np.array([[0.5, 0.0]], np.float32))
    assert main(["predict", str(circles_run), str(tmp_path / "points.npy")]) == 0


def test_perceptron_recipe_shows_the_xor_failure(tmp_path):
    assert main(["train", "perceptron", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["perceptron_blobs_converged"] and results["perceptron_blobs_accuracy"] == 1.0
    assert not results["perceptron_xor_converged"]
    assert results["mlp_xor_accuracy"] >= 0.95


def test_train_resume_goes_on_from_the_last_epoch(tmp_path):
    out = str(tmp_path / "circles")
    assert main(["train", "circles", "--epochs", "3", "--out", out]) == 0
    assert main(["train", "circles", "--epochs", "5", "--out", out, "--resume"]) == 0
    rows = (tmp_path / "circles" / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["epoch", "0", "1", "2", "3", "4"]
    # the same five epochs in one go give the same log
    assert main(["train", "circles", "--epochs", "5", "--out", str(tmp_path / "straight")]) == 0
    assert (tmp_path / "straight" / "log.csv").read_text().splitlines() == rows
    config = json.loads((tmp_path / "circles" / "config.json").read_text())
    assert config["epochs"] == 5
    assert main(["train", "circles", "--lr", "0.5", "--out", out, "--resume"]) == 2  # kept


@pytest.mark.parametrize("argv,message", [
    (["train", "no-such-recipe"], "no recipe named"),
    (["train", "circles", "--out", "/nonexistent/run", "--resume"], "does not exist"),
    (["evaluate", "."], "not a run folder"),
])
def test_mistakes_are_clear_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


# -- language model: train a tiny run on real text, then sample from it ---------------------------

@pytest.fixture(scope="module")
def lm_run(datasets_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "lm"
    argv = ["train", "shakespeare-lstm", "--epochs", "1", "--batch-size", "8", "--data-dir",
            str(datasets_root), "--out", str(out)]
    for setting in ("hidden=16", "embedding_dim=8", "seq_len=16", "train_chars=4000",
                    "val_chars=1000", "log_every=0"):
        argv += ["--set", setting]
    assert main(argv) == 0
    return out


def test_train_takes_any_recipe_setting(lm_run):
    config = json.loads((lm_run / "config.json").read_text())
    assert config["hidden"] == 16 and config["train_chars"] == 4000 and config["batch_size"] == 8
    bad = str(lm_run.parent / "bad")
    assert main(["train", "shakespeare-lstm", "--out", bad, "--set", "no_such_setting=1"]) == 2
    assert main(["train", "shakespeare-lstm", "--out", bad, "--set", "hidden"]) == 2


def test_generate_repeats_under_a_seed(lm_run, capsys):
    argv = ["generate", str(lm_run), "--prompt", "ROMEO:", "--length", "80", "--temperature",
            "0.8", "--seed", "0"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 80 + 1  # + print's newline
    assert main(argv) == 0
    assert capsys.readouterr().out == text
    assert main(argv[:-1] + ["1"]) == 0
    assert capsys.readouterr().out != text


@pytest.mark.parametrize("extra,message", [
    (["--temperature", "0"], "temperature must be"),
    (["--length", "-5"], "length must be"),
    (["--prompt", "caf\u00e9"], "vocabulary"),
])
def test_generate_mistakes_are_clear_errors(lm_run, extra, message, capsys):
    assert main(["generate", str(lm_run), *extra]) == 2
    assert message in capsys.readouterr().err


def test_generate_needs_a_language_model_run(circles_run, capsys):
    assert main(["generate", str(circles_run)]) == 2
    assert "cannot generate" in capsys.readouterr().err

"""The recurrent recipes on real data, in seconds: Tiny Shakespeare, Mauna Loa CO2, SST-2.

Each trains a small model on a slice of the real data and must clear a stated bar: the
character model beats the unigram cross-entropy, the forecaster beats the naive forecast, the
sentiment model fits its training batch; generation repeats under a seed.
"""

import json
import math

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.models.char_rnn import CharLSTM, sample_index
from deepgrad.recipes import get, run_recipe
from deepgrad.recipes.shakespeare_lstm import evaluate, generate_text

# -- character language model ---------------------------------------------------------------------

def test_generate_repeats_under_a_seed():
    model = CharLSTM(11, embedding_dim=8, hidden_size=16)
    model.train()
    prompt = np.array([1, 2, 3])
    first = model.generate(prompt, 40, 0.8, np.random.default_rng(5))
    again = model.generate(prompt, 40, 0.8, np.random.default_rng(5))
    other = model.generate(prompt, 40, 0.8, np.random.default_rng(6))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.dtype == np.int64 and first.shape == (40,) and first.max() < 11
    assert model.training  # generate puts the model back in the mode it found it in
    assert model.generate(prompt, 0, 1.0, np.random.default_rng(0)).shape == (0,)


@pytest.mark.parametrize("kwargs,message", [
    (dict(temperature=0.0), "temperature"), (dict(temperature=-1.0), "temperature"),
    (dict(temperature=math.nan), "temperature"), (dict(length=-1), "length"),
    (dict(prompt_ids=[]), "prompt_ids"), (dict(prompt_ids=[0, 11]), r"\[0, 11\)"),
])
def test_generate_rejects_bad_arguments(kwargs, message):
    model = CharLSTM(11, embedding_dim=4, hidden_size=8)
    args = dict(prompt_ids=[1], length=3, temperature=1.0) | kwargs
    with pytest.raises(ValueError, match=message):
        model.generate(**args)


def test_sampling_follows_the_tempered_softmax():
    logits = np.log(np.array([0.1, 0.2, 0.7]))
    rng = np.random.default_rng(0)
    counts = np.bincount([sample_index(logits, 1.0, rng) for _ in range(4000)], minlength=3)
    np.testing.assert_allclose(counts / 4000, [0.1, 0.2, 0.7], atol=0.03)
    assert {sample_index(logits, 1e-3, rng) for _ in range(50)} == {2}  # cold: the argmax


def test_evaluate_scores_every_character_once():
    model = CharLSTM(7, embedding_dim=4, hidden_size=8)
    ids = np.random.default_rng(0).integers(0, 7, 50)
    pieces = [ids[i:i + 18] for i in range(0, 49, 17)]  # 3 streams of 17 predictions (49)
    total = 0.0
    with dg.no_grad():
        for piece in pieces:
            logits, _ = model(dg.tensor(piece[None, :-1]))
            total += nn.functional.cross_entropy(logits[0], dg.tensor(piece[1:]),
                                                 reduction="sum").item()
    assert evaluate(model, ids, streams=3, chunk=5) == pytest.approx(total / 49, rel=1e-5)


SMALL_LM = dict(epochs=1, hidden=64, embedding_dim=32, batch_size=16, seq_len=32, lr=1e-2,
                train_chars=30000, val_chars=5000, log_every=0)


@pytest.fixture(scope="module")
def shakespeare_run(datasets_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("shakespeare")
    config = dict(SMALL_LM, data_dir=str(datasets_root))
    return out, run_recipe(get("shakespeare-lstm"), config, out)


def test_a_small_lstm_beats_the_unigram_model(shakespeare_run):
    # predicting each character by its frequency costs 3.32 nats on this validation slice
    out, results = shakespeare_run
    assert results["best_val_loss"] < 2.9
    logged = (out / "log.csv").read_text().splitlines()
    assert logged[0].startswith("epoch,loss,val_loss") and len(logged) == 2
    assert (out / "learning_curves.png").is_file()
    assert (out / "sample.txt").read_text().startswith("ROMEO:")


def test_generate_text_from_a_run_repeats_under_a_seed(shakespeare_run):
    out, _ = shakespeare_run
    text = generate_text(out, "ROMEO:", 60, 0.8, seed=3)
    assert text.startswith("ROMEO:") and len(text) == 66
    assert generate_text(out, "ROMEO:", 60, 0.8, seed=3) == text
    with pytest.raises(ValueError, match="vocabulary"):
        generate_text(out, "ROMEO\u00e9", 10, 0.8, seed=3)


def test_init_from_starts_at_a_finished_runs_weights(shakespeare_run, datasets_root, tmp_path):
    out, results = shakespeare_run
    config = dict(SMALL_LM, lr=1e-9, min_lr=0.0, init_from=str(out), data_dir=str(datasets_root))
    again = run_recipe(get("shakespeare-lstm"), config, tmp_path)
    assert again["best_val_loss"] == pytest.approx(results["best_val_loss"], abs=2e-4)


# -- time series ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_co2_forecaster_beats_the_naive_forecast(cell, tmp_path):
    results = run_recipe(get("co2-forecast"), dict(epochs=12, hidden=16, cell=cell), tmp_path)
    assert results["test_model_rmse"] < 0.6 * results["test_naive_rmse"]
    assert results["test_naive_rmse"] == pytest.approx(1.2691, abs=1e-4)  # the data, not the net
    assert results["test_months"] == "1995-06..2001-12" and results["n_test"] == 79
    assert json.loads((tmp_path / "results.json").read_text())["test_model_mae"] > 0


def test_co2_windows_never_read_the_future():
    from deepgrad.recipes.co2_forecast import DEFAULTS, split_windows

    series = np.arange(100.0)
    parts = split_windows(series, dict(DEFAULTS, window=6, horizon=2))
    cut_val, cut_test = parts["bounds"]
    for name, lo, hi in (("train", 0, cut_val), ("val", cut_val, cut_test), ("test", cut_test,
                                                                             100)):
        part = parts[name]
        assert part["targets"].min() >= lo and part["targets"].max() < hi
        np.testing.assert_array_equal(part["targets"][:, 0], part["inputs"][:, -1] + 1)
        later = part["inputs"][:, -1] >= 12  # the baselines need a year of history
        np.testing.assert_array_equal(part["seasonal"][later], part["targets"][later] - 12)
        np.testing.assert_array_equal(part["seasonal_drift"][later], part["targets"][later])
    assert np.isnan(parts["train"]["seasonal"][0]).all()  # targets in months 6, 7


# -- sentiment ------------------------------------------------------------------------------------

def test_sentiment_lstm_ignores_padding():
    from deepgrad.recipes.sst2_lstm import SentimentLSTM

    model = SentimentLSTM(20, embedding_dim=8, hidden=8, dropout=0.0)
    model.eval()
    row = np.array([[3, 4, 5]])
    alone = model(row, np.array([3])).detach().numpy()
    padded = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]])
    together = model(padded, np.array([3, 5])).detach().numpy()
    np.testing.assert_allclose(together[0], alone[0], rtol=1e-5, atol=1e-6)


def test_sentiment_lstm_fits_a_batch_of_real_phrases(datasets_root):
    from deepgrad.data.datasets.sst2 import SST2, Vocab, pad_sequences
    from deepgrad.recipes.sst2_lstm import SentimentLSTM, encode

    train = SST2("train", datasets_root)
    sentences, labels = train.sentences[:64], train.labels[:64]
    vocab = Vocab.build(s.split() for s in sentences)
    x, n = pad_sequences(encode(vocab, sentences))
    model = SentimentLSTM(len(vocab), embedding_dim=16, hidden=16, dropout=0.0)
    optimizer = dg.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(40):
        loss = nn.functional.cross_entropy(model(x, n), dg.tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1
    assert (model(x, n).detach().numpy().argmax(1) == labels).mean() == 1.0


def test_sst2_recipe_writes_its_run(datasets_root, tmp_path):
    config = dict(epochs=1, max_train=1500, n_val=300, embedding_dim=16, hidden=16,
                  data_dir=str(datasets_root))
    results = run_recipe(get("sst2-lstm"), config, tmp_path)
    assert 0.0 <= results["dev_accuracy"] <= 1.0 and results["n_train"] == 1500
    assert len((tmp_path / "log.csv").read_text().splitlines()) == 2
    assert (tmp_path / "best.safetensors").is_file()

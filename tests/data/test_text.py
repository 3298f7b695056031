"""Tiny Shakespeare read from shared/datasets: text, vocabulary, encoding and the 90/10 split."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.data.datasets import DatasetNotFoundError, TinyShakespeare


@pytest.fixture(scope="module")
def corpus(datasets_root):
    return TinyShakespeare(root=datasets_root)


def test_text_and_vocabulary(corpus):
    assert len(corpus) == len(corpus.text) == 1115394
    assert corpus.text.startswith("First Citizen:\nBefore we proceed any further")
    assert corpus.vocab_size == 65
    assert corpus.itos == sorted(corpus.itos) and corpus.itos[:2] == ["\n", " "]
    assert all(corpus.stoi[ch] == i for i, ch in enumerate(corpus.itos))
    assert set(corpus.itos) == set(corpus.text)
    assert repr(corpus) == "TinyShakespeare(characters=1115394, vocab_size=65)"


def test_encoded_data_and_split(corpus):
    data = corpus.data
    assert data.dtype == dg.int64 and data.shape == (1115394,)
    assert corpus.train_data.shape == (1003854,) and corpus.val_data.shape == (111540,)
    assert corpus.train_data.dtype == dg.int64 and corpus.val_data.dtype == dg.int64
    np.testing.assert_array_equal(
        np.concatenate([corpus.train_data.array, corpus.val_data.array]), data.array
    )
    sample = corpus.text[5000:5200]
    np.testing.assert_array_equal(data.array[5000:5200], [corpus.stoi[c] for c in sample])
    assert np.bincount(data.array, minlength=65).min() > 0


def test_encode_decode_round_trip(corpus):
    line = "To be, or not to be: that is the question."
    ids = corpus.encode(line)
    assert isinstance(ids, dg.Tensor) and ids.dtype == dg.int64 and ids.shape == (len(line),)
    assert corpus.decode(ids) == line
    assert corpus.decode(ids.array) == line
    assert corpus.decode(ids.array.tolist()) == line
    assert corpus.decode([]) == ""
    assert corpus.decode(corpus.data.array[:14]) == "First Citizen:"


def test_encode_rejects_unknown_characters(corpus):
    with pytest.raises(ValueError, match=r"2 character\(s\) not in the vocabulary of 65: 'éï'"):
        corpus.encode("naïve café")


def test_decode_rejects_bad_ids(corpus):
    with pytest.raises(ValueError, match=r"ids must be integers in \[0, 65\), got .* \[0, 65\]"):
        corpus.decode([0, 65])
    with pytest.raises(ValueError, match="got dtype float"):
        corpus.decode(np.array([1.0, 2.0]))


def test_missing_file_error(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        TinyShakespeare(root=tmp_path, download=False)
    message = str(info.value)
    assert f"missing from {tmp_path / 'tinyshakespeare'}" in message and "input.txt" in message
    url = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
    assert url in message

"""SST-2 on the real GLUE files, its word vocabulary and padding."""

import numpy as np
import pytest

from deepgrad.data.datasets import DatasetNotFoundError
from deepgrad.data.datasets.sst2 import SST2, Vocab, pad_sequences, tokenize


@pytest.fixture(scope="module")
def splits(datasets_root):
    return {split: SST2(split, datasets_root) for split in ("train", "dev", "test")}


def test_split_sizes_and_label_counts(splits):
    train, dev, test = splits["train"], splits["dev"], splits["test"]
    assert len(train) == 67349 and np.bincount(train.labels).tolist() == [29780, 37569]
    assert len(dev) == 872 and np.bincount(dev.labels).tolist() == [428, 444]
    assert len(test) == 1821 and test.labels is None  # GLUE keeps the test labels hidden
    assert train[0] == ("hide new secretions from the parental units", 0)
    assert dev[0] == ("it 's a charming and often affecting journey .", 1)
    assert test[0] == ("uneasy mishmash of styles and genres .", -1)
    assert train.labels.dtype == np.int64


def test_missing_files_and_bad_splits_are_clear_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="SST-2.zip"):
        SST2("train", tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        SST2("validation", tmp_path)


def test_vocab_orders_by_frequency_and_maps_rare_words_to_unk():
    vocab = Vocab.build([["b", "a", "b"], ["c", "a", "b"], ["d"]], min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "b", "a"]
    assert vocab.encode(["a", "zebra", "b"]) == [3, 1, 2]
    assert vocab.decode([2, 3, 0]) == ["b", "a", "<pad>"]
    assert Vocab.build([["y", "x"]]).itos == ["<pad>", "<unk>", "x", "y"]  # ties: alphabetical
    with pytest.raises(ValueError, match="ids must be in"):
        vocab.decode([4])
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build([["a"]], min_freq=0)


def test_vocab_of_the_training_text(splits):
    vocab = Vocab.build((tokenize(s) for s in splits["train"].sentences), min_freq=2)
    assert len(vocab) == 14311 and vocab.itos[2:5] == ["the", ",", "a"]
    unknown = sum(vocab.encode(tokenize(s)).count(vocab.unk_index)
                  for s in splits["dev"].sentences)
    assert 0 < unknown < 0.1 * sum(len(tokenize(s)) for s in splits["dev"].sentences)


def test_pad_sequences():
    batch, lengths = pad_sequences([[5, 6, 7], [8]], pad_index=0)
    np.testing.assert_array_equal(batch, [[5, 6, 7], [8, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1])
    assert batch.dtype == np.int64
    batch, lengths = pad_sequences([[5, 6, 7], [8]], max_length=2)
    np.testing.assert_array_equal(batch, [[5, 6], [8, 0]])
    with pytest.raises(ValueError, match="empty"):
        pad_sequences([[1], []])

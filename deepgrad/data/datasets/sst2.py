"""SST-2, binary sentiment of movie-review sentences, and a word vocabulary to feed it to a net.

``SST2(split)`` reads GLUE's tab-separated files: ``train`` (67,349 phrases and sentences) and
``dev`` (872 sentences) are labelled, ``test`` (1,821 sentences) is not (its labels are GLUE's
hidden answers). The text is already tokenized and lower-cased, so a sentence's tokens are its
words split on white space. ``Vocab`` maps words to ids (built from training text only), and
``pad_sequences`` makes one int64 batch and its lengths from id lists of different lengths.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable

import numpy as np

from deepgrad.data.dataset import Dataset
from deepgrad.data.datasets.files import DatasetNotFoundError, RemoteFile, data_root, fetch

__all__ = ["SST2", "Vocab", "pad_sequences", "tokenize"]

GLUE_ZIP = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"


class SST2(Dataset):
    """One split of GLUE's SST-2: ``sentences`` (list of str) and ``labels`` (int64, 1 =
    positive), or ``labels = None`` for the unlabelled test split.

    Files live in ``<root>/sst2/{train,dev,test}.tsv`` (root: the argument, else
    ``$DEEPGRAD_DATA``, else ``~/.cache/deepgrad``) and are checked against their SHA-256. They
    are the files of GLUE's ``SST-2.zip`` (Socher et al., EMNLP 2013, packaged by Wang et al.,
    2018; no explicit license, research use), which is a zip: unzip it into that folder. A sample
    is ``(sentence, label)``, the label -1 for the test split.
    """

    folder = "sst2"
    files = {
        "train": RemoteFile(
            "train.tsv", "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1", ()),
        "dev": RemoteFile(
            "dev.tsv", "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0", ()),
        "test": RemoteFile(
            "test.tsv", "69a938605609b3e6663b4487918fe1565eb293734e6e520d0366d1d412fd2a13", ()),
    }
    classes = ["negative", "positive"]

    def __init__(self, split: str = "train", root: str | os.PathLike | None = None) -> None:
        if split not in self.files:
            raise ValueError(f"SST2: split must be one of {sorted(self.files)}, got {split!r}")
        self.split = split
        folder = data_root(root) / self.folder
        try:
            (path,) = fetch("SST2", [self.files[split]], folder, download=False)
        except DatasetNotFoundError:
            raise DatasetNotFoundError(
                f"SST2: {folder / self.files[split].name} is missing. Download GLUE's SST-2 "
                f"from {GLUE_ZIP} and unzip its train.tsv, dev.tsv and test.tsv into {folder} "
                f"(or pass root=, or set DEEPGRAD_DATA, to a folder that holds sst2/)."
            ) from None
        self.sentences, self.labels = _read_tsv(path, labelled=split != "test")

    def __len__(self) -> int:
        return len(self.sentences)

    def __getitem__(self, index: int) -> tuple[str, int]:
        label = -1 if self.labels is None else int(self.labels[index])
        return self.sentences[index], label

    def __repr__(self) -> str:
        return f"SST2(split={self.split!r}, sentences={len(self)})"


def _read_tsv(path, labelled: bool) -> tuple[list[str], np.ndarray | None]:
    """GLUE's columns: ``sentence<TAB>label`` (train, dev) or ``index<TAB>sentence`` (test)."""
    lines = open(path, encoding="utf-8").read().split("\n")
    header = lines[0].split("\t")
    expected = ["sentence", "label"] if labelled else ["index", "sentence"]
    if header != expected:
        raise ValueError(f"SST2: {path} must have the header {expected}, got {header}")
    sentences, labels = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 2 or (labelled and fields[1] not in ("0", "1")):
            raise ValueError(f"SST2: line {number} of {path} is not '{expected[0]}<TAB>"
                             f"{expected[1]}': {line[:80]!r}")
        sentences.append((fields[0] if labelled else fields[1]).strip())
        if labelled:
            labels.append(int(fields[1]))
    return sentences, np.array(labels, dtype=np.int64) if labelled else None


def tokenize(sentence: str) -> list[str]:
    """The words of an SST-2 sentence (already tokenized and lower-cased by its authors)."""
    return sentence.split()


class Vocab:
    """Words <-> ids: ``<pad>`` is 0, ``<unk>`` 1, then the words seen at least ``min_freq`` times,
    most frequent first (ties in alphabetical order, so the ids do not depend on input order)."""

    pad, unk = "<pad>", "<unk>"

    def __init__(self, itos: list[str]) -> None:
        if itos[:2] != [self.pad, self.unk]:
            raise ValueError(f"Vocab: the first two words must be {[self.pad, self.unk]}, "
                             f"got {itos[:2]}")
        if len(set(itos)) != len(itos):
            raise ValueError("Vocab: the word list has duplicates")
        self.itos = list(itos)
        self.stoi = {word: i for i, word in enumerate(self.itos)}

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], min_freq: int = 1) -> Vocab:
        if min_freq < 1:
            raise ValueError(f"Vocab.build: min_freq must be >= 1, got {min_freq}")
        counts = Counter(word for tokens in token_lists for word in tokens)
        words = sorted((w for w, c in counts.items() if c >= min_freq and w not in
                        (cls.pad, cls.unk)), key=lambda w: (-counts[w], w))
        return cls([cls.pad, cls.unk, *words])

    pad_index, unk_index = 0, 1

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str]) -> list[int]:
        """The ids of ``tokens``; words not in the vocabulary become ``<unk>``."""
        return [self.stoi.get(word, self.unk_index) for word in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < len(self.itos)]
        if bad:
            raise ValueError(f"Vocab.decode: ids must be in [0, {len(self.itos)}), got {bad[:5]}")
        return [self.itos[i] for i in ids]


def pad_sequences(sequences: list[list[int]], pad_index: int = 0,
                  max_length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An int64 array (N, T) of the id lists padded with ``pad_index`` at the end, and their
    lengths (int64, (N,)); T is the longest length, or ``max_length`` (longer lists are cut)."""
    if not sequences:
        raise ValueError("pad_sequences: no sequences given")
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    if max_length is not None:
        if max_length < 1:
            raise ValueError(f"pad_sequences: max_length must be >= 1, got {max_length}")
        lengths = np.minimum(lengths, max_length)
    if lengths.min() < 1:
        raise ValueError(f"pad_sequences: sequence {int(lengths.argmin())} is empty")
    batch = np.full((len(sequences), int(lengths.max())), pad_index, dtype=np.int64)
    for row, (ids, n) in enumerate(zip(sequences, lengths)):
        batch[row, :n] = ids[:n]
    return batch, lengths

"""Tiny Shakespeare: 1.1 MB of Shakespeare's plays, the classic character-level language corpus."""

from __future__ import annotations

import os

import numpy as np

from deepgrad.data.datasets.files import RemoteFile, data_root, fetch
from deepgrad.tensor import Tensor

__all__ = ["TinyShakespeare"]


class TinyShakespeare:
    """The text, its sorted character vocabulary, and the encoded text split 90/10 for training.

    The file lives in ``<root>/tinyshakespeare/input.txt`` (root: the argument, else
    ``$DEEPGRAD_DATA``, else ``~/.cache/deepgrad``). ``stoi`` maps a character to its id and
    ``itos`` an id to its character; ``data`` is the whole text encoded (int64), ``train_data``
    its first 90% and ``val_data`` the rest, as in char-rnn and nanoGPT.
    """

    folder = "tinyshakespeare"
    file = RemoteFile(
        "input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",),
    )

    def __init__(self, root: str | os.PathLike | None = None, download: bool = True) -> None:
        self.root = data_root(root)
        (path,) = fetch(type(self).__name__, [self.file], self.root / self.folder, download)
        self.text = path.read_text(encoding="utf-8")
        self.itos = sorted(set(self.text))
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}
        self._codepoints = _codepoints(self.itos)  # sorted, so ids are found by binary search
        self.data = self.encode(self.text)
        n_train = int(0.9 * self.data.array.size)
        self.train_data = Tensor._make(self.data.array[:n_train], None)
        self.val_data = Tensor._make(self.data.array[n_train:], None)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> Tensor:
        """The ids (int64, one per character) of ``text``, whose characters must be in the vocab."""
        codes = _codepoints(text)
        ids = np.searchsorted(self._codepoints, codes)
        known = ids < len(self._codepoints)
        known[known] = self._codepoints[ids[known]] == codes[known]
        if not known.all():
            unknown = [chr(c) for c in np.unique(codes[~known])]
            raise ValueError(
                f"TinyShakespeare.encode: {len(unknown)} character(s) not in the vocabulary of "
                f"{self.vocab_size}: {''.join(unknown)!r}"
            )
        return Tensor._make(ids.astype(np.int64), None)

    def decode(self, ids) -> str:
        """The text of a sequence of ids (a tensor, an array or a list of ints)."""
        ids = np.asarray(ids.array if isinstance(ids, Tensor) else ids).reshape(-1)
        if ids.size == 0:
            return ""
        if ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(
                f"TinyShakespeare.decode: ids must be integers in [0, {self.vocab_size}), "
                f"got dtype {ids.dtype} with range [{ids.min()}, {ids.max()}]"
            )
        return "".join(np.asarray(self.itos)[ids])

    def __len__(self) -> int:
        return len(self.text)

    def __repr__(self) -> str:
        return f"TinyShakespeare(characters={len(self)}, vocab_size={self.vocab_size})"


def _codepoints(chars) -> np.ndarray:
    """The Unicode code points of a string (or a list of characters), as one array."""
    return np.frombuffer("".join(chars).encode("utf-32-le"), dtype=np.uint32)

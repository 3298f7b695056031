"""A character-level language model: embedding, LSTM, linear read-out (Karpathy's char-rnn).

The network reads characters as ids and predicts, at every position, the next character. Fed a
long text in consecutive chunks whose final state starts the next chunk, it learns dependencies
longer than a chunk; ``generate`` samples new text one character at a time, the temperature
sharpening (< 1) or flattening (> 1) the predicted distribution.
"""

from __future__ import annotations

import math

import numpy as np

from deepgrad import nn
from deepgrad.autograd import no_grad
from deepgrad.tensor import Tensor

__all__ = ["CharLSTM", "sample_index"]


class CharLSTM(nn.Module):
    """Embedding(vocab_size, embedding_dim) -> LSTM(num_layers x hidden_size) -> Dropout ->
    Linear(hidden_size, vocab_size).

    ``forward(ids, state=None)`` takes ids (B, T) (int64) and an optional LSTM state (h, c),
    each (num_layers, B, hidden_size), and returns the logits (B, T, vocab_size) and the new
    state.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 64, hidden_size: int = 512,
                 num_layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim),
                            ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"CharLSTM: {name} must be a positive int, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"CharLSTM: dropout must be in [0, 1), got {dropout}")
        self.vocab_size = int(vocab_size)
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        out, state = self.lstm(self.embedding(ids), state)
        return self.head(self.dropout(out)), state

    def generate(self, prompt_ids, length: int, temperature: float = 1.0,
                 generator: np.random.Generator | None = None) -> np.ndarray:
        """``length`` new ids (int64) sampled after ``prompt_ids`` (a non-empty 1-D sequence).

        Each next id is drawn from softmax(logits / temperature) with ``generator`` (default:
        deepgrad's generator), so a seeded generator repeats the same text. The model is put in
        eval mode for the sampling and returned to its previous mode after.
        """
        prompt = self._check_prompt(prompt_ids)
        if not isinstance(length, (int, np.integer)) or length < 0:
            raise ValueError(f"CharLSTM.generate: length must be a non-negative int, "
                             f"got {length!r}")
        if not (isinstance(temperature, (int, float)) and math.isfinite(temperature)
                and temperature > 0):
            raise ValueError(f"CharLSTM.generate: temperature must be a finite number > 0, "
                             f"got {temperature!r}")
        if generator is None:
            from deepgrad.backend import rng
            generator = rng()
        was_training = self.training
        self.eval()
        try:
            return self._sample(prompt, int(length), float(temperature), generator)
        finally:
            self.train(was_training)

    @no_grad()
    def _sample(self, prompt: np.ndarray, length: int, temperature: float, generator):
        out = np.empty(length, np.int64)
        logits, state = self(Tensor._make(prompt[None, :], None))
        for i in range(length):
            out[i] = sample_index(logits.array[0, -1], temperature, generator)
            logits, state = self(Tensor._make(out[None, i:i + 1], None), state)
        return out

    def _check_prompt(self, prompt_ids) -> np.ndarray:
        ids = np.asarray(prompt_ids.array if isinstance(prompt_ids, Tensor) else prompt_ids)
        if ids.ndim != 1 or ids.size == 0 or ids.dtype.kind not in "iu":
            raise ValueError(f"CharLSTM.generate: prompt_ids must be a non-empty 1-D sequence "
                             f"of integer ids, got shape {ids.shape} and dtype {ids.dtype}")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError(f"CharLSTM.generate: prompt ids must be in [0, {self.vocab_size}), "
                             f"got range [{ids.min()}, {ids.max()}]")
        return ids.astype(np.int64)


def sample_index(logits: np.ndarray, temperature: float, generator: np.random.Generator) -> int:
    """One index drawn from softmax(logits / temperature): the inverse of the cumulative
    distribution at one uniform number (float64, so rounding never skips the last class)."""
    z = np.asarray(logits, np.float64) / temperature
    p = np.exp(z - z.max())
    cdf = np.cumsum(p)
    return int(min(np.searchsorted(cdf, generator.random() * cdf[-1], side="right"),
                   len(cdf) - 1))

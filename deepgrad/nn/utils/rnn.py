"""Batches of variable-length sequences: padding, and packing for the recurrent modules.

A ``PackedSequence`` stores the steps of a batch of sequences sorted by decreasing length, time
step after time step: ``data`` (sum of lengths, *), and ``batch_sizes[t]``, how many sequences
are still running at step t. ``sorted_indices`` maps that order to the caller's batch order
(``unsorted_indices`` back). Packing and padding are differentiable (a gather and a scatter).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from deepgrad.ops.recurrent import PackRows, UnpackRows
from deepgrad.ops.shape import cat
from deepgrad.tensor import Tensor

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pad_packed_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence"]

_Fields = namedtuple("PackedSequence_", ["data", "batch_sizes", "sorted_indices",
                                         "unsorted_indices"])


def _int64(values) -> Tensor:
    return Tensor._make(np.asarray(values, np.int64), None)


def _array(values) -> np.ndarray:
    return np.asarray(values.array if isinstance(values, Tensor) else values)


class PackedSequence(_Fields):
    """Packed steps of a batch of sequences (see the module docstring); made by
    ``pack_padded_sequence`` or ``pack_sequence`` and accepted by RNN, LSTM and GRU."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:
            raise ValueError("PackedSequence: batch_sizes is required (build packed sequences "
                             "with pack_padded_sequence or pack_sequence)")
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _int64(np.argsort(_array(sorted_indices)))
        sorted_indices = None if sorted_indices is None else _int64(_array(sorted_indices))
        return super().__new__(cls, data, _int64(_array(batch_sizes)), sorted_indices,
                               unsorted_indices)

    def to(self, *args, **kwargs) -> PackedSequence:
        """The same sequence with ``data.to(*args, **kwargs)``."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    @property
    def is_cuda(self) -> bool:
        return False


def _positions(batch_sizes: np.ndarray, order, T: int, batch_first: bool) -> np.ndarray:
    """For each packed row (step t, sorted sequence j), its row in the padded (T, B) layout
    flattened (or (B, T) with batch_first); ``order[j]`` is sequence j's padded batch index."""
    B = int(batch_sizes[0])
    order = np.arange(B) if order is None else _array(order)
    t = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    j = np.concatenate([np.arange(n) for n in batch_sizes])
    b = order[j]
    return b * T + t if batch_first else t * B + b


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *) (or (B, T, *) with batch_first) of sequences of the
    given lengths. With ``enforce_sorted`` the lengths must be decreasing; otherwise the batch
    is sorted here and the order kept in ``sorted_indices``."""
    lengths = _array(lengths).astype(np.int64).reshape(-1)
    T, B = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    if len(lengths) != B:
        raise ValueError(f"pack_padded_sequence: got {len(lengths)} lengths for a batch of {B} "
                         f"sequences (input shape {input.shape}, batch_first={batch_first})")
    if B and (lengths.min() <= 0 or lengths.max() > T):
        raise ValueError(f"pack_padded_sequence: lengths must be in [1, {T}] (the padded "
                         f"length), got {lengths.tolist()}")
    sorted_indices = None
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError(f"pack_padded_sequence: lengths must be sorted in decreasing "
                               f"order when enforce_sorted=True, got {lengths.tolist()}; pass "
                               f"enforce_sorted=False to sort them here")
    else:
        sorted_indices = np.argsort(-lengths, kind="stable")
        lengths = lengths[sorted_indices]
    batch_sizes = (lengths[None, :] > np.arange(lengths[0])[:, None]).sum(1)
    index = _positions(batch_sizes, sorted_indices, T, batch_first)
    data = PackRows.apply(input, index=index, lead=2)
    return PackedSequence(data, batch_sizes, sorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None) -> tuple:
    """The inverse of ``pack_padded_sequence``: (padded batch, lengths), in the original batch
    order, padded with ``padding_value`` to the longest length (or ``total_length``)."""
    batch_sizes = _array(sequence.batch_sizes)
    T = len(batch_sizes)
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is shorter "
                             f"than the longest sequence ({T})")
        T = total_length
    B = int(batch_sizes[0])
    index = _positions(batch_sizes, sequence.sorted_indices, T, batch_first)
    lead = (B, T) if batch_first else (T, B)
    padded = UnpackRows.apply(sequence.data, index=index, lead=lead, value=padding_value)
    lengths = (batch_sizes[None, :] > np.arange(B)[:, None]).sum(1)
    if sequence.unsorted_indices is not None:
        lengths = lengths[_array(sequence.unsorted_indices)]
    return padded, _int64(lengths)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences (L_i, *) into (max L, B, *) (or (B, max L, *)), filling with
    ``padding_value`` on the ``padding_side`` ('right' or 'left')."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got "
                         f"{padding_side!r}")
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: got an empty list of sequences")
    trailing = {tuple(s.shape[1:]) for s in sequences}
    if len(trailing) > 1:
        raise ValueError(f"pad_sequence: sequences must agree in all dims but the first, got "
                         f"shapes {[tuple(s.shape) for s in sequences]}")
    lengths = np.array([s.shape[0] for s in sequences])
    T, B = int(lengths.max()), len(sequences)
    start = T - lengths if padding_side == "left" else np.zeros_like(lengths)
    b = np.repeat(np.arange(B), lengths)
    t = np.concatenate([np.arange(s, s + n) for s, n in zip(start, lengths)])
    index = b * T + t if batch_first else t * B + b
    lead = (B, T) if batch_first else (T, B)
    return UnpackRows.apply(cat(sequences, 0), index=index, lead=lead, value=padding_value)


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (L_i, *) (decreasing lengths unless enforce_sorted=False)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """The list of sequences (L_i, *) held by a right-padded batch."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :int(n)] for i, n in enumerate(_array(lengths))]


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of sequences held by a PackedSequence, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)

"""Training checkpoints: everything a run needs to go on exactly where it stopped.

A checkpoint is one ``deepgrad.save`` file (safetensors plus JSON, written atomically, never
pickled) holding the model's and the optimizer's state dicts, the scheduler's state, the number
of epochs completed, the state of ``deepgrad.backend.rng()`` (which drives dropout and data
shuffling), and any ``extra`` values. Restoring all of them makes the resumed run repeat,
bit for bit, the epochs that an uninterrupted run would have trained.
"""

from __future__ import annotations

import os

import numpy as np

from deepgrad import backend
from deepgrad.serialization import load, save

__all__ = ["save_checkpoint", "load_checkpoint", "get_rng_state", "set_rng_state"]

_KIND = "deepgrad.checkpoint"


def get_rng_state(generator: np.random.Generator | None = None) -> dict:
    """The state of ``generator`` (default: ``deepgrad.backend.rng()``) as plain Python values."""
    return (generator or backend.rng()).bit_generator.state


def set_rng_state(state: dict, generator: np.random.Generator | None = None) -> None:
    """Put ``generator`` (default: ``deepgrad.backend.rng()``) back into a saved state."""
    bit_generator = (generator or backend.rng()).bit_generator
    if state.get("bit_generator") != type(bit_generator).__name__:
        raise ValueError(f"set_rng_state: the state is for a {state.get('bit_generator')} "
                         f"generator, this one is {type(bit_generator).__name__}")
    bit_generator.state = state


def save_checkpoint(path: str | os.PathLike, model, optimizer, scheduler=None, epoch: int = 0,
                    extra: dict | None = None) -> None:
    """Write the whole training state to ``path`` atomically.

    ``epoch`` is the number of epochs completed: ``fit(..., resume_from=path)`` starts at it.
    ``extra`` holds anything else to keep (numbers, strings, tensors, nested dicts and lists).
    """
    if not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"save_checkpoint: epoch must be a non-negative int, got {epoch!r}")
    save({"kind": _KIND,
          "epoch": int(epoch),
          "model": model.state_dict(),
          "optimizer": optimizer.state_dict() if optimizer is not None else None,
          "scheduler": scheduler.state_dict() if scheduler is not None else None,
          "rng": get_rng_state(),
          "extra": extra or {}}, path)


def load_checkpoint(path: str | os.PathLike, model, optimizer=None, scheduler=None) -> dict:
    """Restore what ``save_checkpoint`` wrote into ``model``, ``optimizer``, ``scheduler`` and
    ``deepgrad.backend.rng()``; return the checkpoint (``epoch``, ``extra``, ...)."""
    ckpt = load(path)
    if not isinstance(ckpt, dict) or ckpt.get("kind") != _KIND:
        raise ValueError(f"load_checkpoint: {os.fspath(path)!r} is not a training checkpoint "
                         "(it was not written by save_checkpoint); load model weights with "
                         "model.load_state_dict(deepgrad.load(path))")
    model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        if ckpt["optimizer"] is None:
            raise ValueError(f"load_checkpoint: {os.fspath(path)!r} holds no optimizer state")
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None:
        if ckpt["scheduler"] is None:
            raise ValueError(f"load_checkpoint: {os.fspath(path)!r} holds no scheduler state, "
                             f"but a {type(scheduler).__name__} was given")
        scheduler.load_state_dict(ckpt["scheduler"])
    set_rng_state(ckpt["rng"])
    return ckpt


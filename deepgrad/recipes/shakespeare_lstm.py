"""shakespeare-lstm: a character-level LSTM language model of Tiny Shakespeare, which then writes.

The text's first 90% trains, the last 10% validates. Training reads the text as ``batch_size``
parallel streams cut into chunks of ``seq_len`` characters (truncated backpropagation through
time): each chunk starts from the previous chunk's final LSTM state, detached, so the network
carries context across chunks while gradients stop at the chunk boundary. Each epoch starts the
streams at a new random offset so the chunk boundaries move, and before each chunk a stream's
state is zeroed with probability ``reset_prob``: generation starts from a zero state, which a
network that only ever continues old states handles badly (a prompt read from scratch could
derail it into noise). Adam with a cosine learning-rate
decay and gradient-norm clipping. The validation loss is the mean cross-entropy (nats per
character) over every character of the validation split. ``deepgrad generate RUN`` samples text.
``init_from`` (a run folder) starts from that run's best weights, to train a finished run longer.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

import deepgrad as dg
from deepgrad import nn
from deepgrad.backend import generator
from deepgrad.data.datasets import TinyShakespeare
from deepgrad.models.char_rnn import CharLSTM
from deepgrad.recipes.base import EpochLog, Recipe, learning_curves
from deepgrad.train.checkpoint import save_checkpoint

DEFAULTS = dict(epochs=5, lr=3e-3, min_lr=1e-4, batch_size=64, seq_len=100, hidden=512, layers=1,
                embedding_dim=64, dropout=0.0, clip=1.0, reset_prob=0.05, seed=0, train_chars=None,
                val_chars=None, val_streams=64, log_every=20, init_from=None, data_dir=None)
CHECKPOINT = "best.safetensors"


def build_model(config: dict, vocab_size: int) -> CharLSTM:
    return CharLSTM(vocab_size, config["embedding_dim"], config["hidden"], config["layers"],
                    config["dropout"])


def run(config: dict, out: Path, log=print) -> dict:
    data = TinyShakespeare(config.get("data_dir"))
    train = _limit(data.train_data.array, config["train_chars"])
    val = _limit(data.val_data.array, config["val_chars"])
    model = build_model(config, data.vocab_size)
    if config["init_from"]:  # go on from an earlier run's best weights (a fresh optimizer)
        model.load_state_dict(load_model(config["init_from"])[0].state_dict())
    optimizer = dg.optim.Adam(model.parameters(), lr=config["lr"])
    if _chunks(len(train), config) < 1:
        raise ValueError(f"shakespeare-lstm: {len(train)} training characters are too few for "
                         f"batch_size={config['batch_size']} streams of seq_len="
                         f"{config['seq_len']}")
    total = config["epochs"] * _chunks(len(train), config)
    schedule = dg.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total,
                                                       eta_min=config["min_lr"])
    epochs, best, best_epoch = EpochLog(out / "log.csv"), math.inf, 0
    rng = generator(config["seed"])
    for epoch in range(1, config["epochs"] + 1):
        loss = _train_epoch(model, optimizer, schedule, train, config, rng, log, epoch)
        val_loss = evaluate(model, val, config["val_streams"])
        row = epochs.write(epoch, loss=loss, val_loss=val_loss,
                           lr=optimizer.param_groups[0]["lr"])
        if val_loss < best:
            best, best_epoch = val_loss, epoch
            save_checkpoint(out / CHECKPOINT, model, optimizer, epoch=epoch,
                            extra={"itos": data.itos, "val_loss": val_loss})
        log(f"epoch {epoch}: loss {loss:.4f}, val_loss {val_loss:.4f} "
            f"({val_loss / math.log(2):.3f} bits/char), {row['elapsed_s']:.0f} s"
            + (" (best)" if best_epoch == epoch else ""))
    history = epochs.history
    model, itos = load_model(out)
    sample = data.decode(model.generate(data.encode("ROMEO:").array, 500, 0.8,
                                        generator(0)))
    (out / "sample.txt").write_text("ROMEO:" + sample + "\n")
    return {"best_val_loss": round(best, 4), "best_epoch": best_epoch,
            "best_val_bits_per_char": round(best / math.log(2), 4),
            "final_train_loss": round(history["loss"][-1], 4), "epochs_run": config["epochs"],
            "train_chars": len(train), "val_chars": len(val),
            "parameters": sum(p.numel() for p in model.parameters()),
            "plots": learning_curves(history, out)}


def _limit(ids: np.ndarray, n) -> np.ndarray:
    return ids if n is None else ids[:int(n)]


def _chunks(n_chars: int, config: dict) -> int:
    """Chunks per epoch: the streams are (n_chars - 1) // batch_size long, less the offset."""
    return (n_chars // config["batch_size"] - 1 - config["seq_len"]) // config["seq_len"]


def _streams(ids: np.ndarray, batch_size: int, offset: int) -> np.ndarray:
    """``batch_size`` consecutive stretches of the text, one per row, starting at ``offset``."""
    length = (len(ids) - offset) // batch_size
    return ids[offset:offset + length * batch_size].reshape(batch_size, length)


def _train_epoch(model, optimizer, schedule, train, config, rng, log, epoch) -> float:
    model.train()
    seq_len = config["seq_len"]
    streams = _streams(train, config["batch_size"], int(rng.integers(seq_len)))
    state, total, count = None, 0.0, 0
    tick = time.perf_counter()
    for step in range(_chunks(len(train), config)):
        start = step * seq_len
        x = dg.tensor(streams[:, start:start + seq_len])
        y = dg.tensor(streams[:, start + 1:start + seq_len + 1])
        if state is not None:  # truncated BPTT: keep the state, cut the graph
            keep = (rng.random(len(x)) >= config["reset_prob"]).astype(np.float32)[:, None]
            state = tuple(s.detach() * dg.tensor(keep) for s in state)
        logits, state = model(x, state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config["clip"])
        optimizer.step()
        schedule.step()
        total, count = total + loss.item(), count + 1
        if config["log_every"] and (step + 1) % config["log_every"] == 0:
            rate = config["log_every"] / (time.perf_counter() - tick)
            tick = time.perf_counter()
            log(f"  epoch {epoch} step {step + 1}: loss {total / count:.4f} "
                f"({rate:.2f} steps/s)")
    return total / count


def evaluate(model: CharLSTM, ids, streams: int = 64, chunk: int = 1000) -> float:
    """Mean cross-entropy (nats) of predicting every character of ``ids`` from the ones before.

    The text is cut into ``streams`` consecutive stretches read in parallel (each from a zero
    state, in chunks carrying the state); the last stretch is padded with ignored targets, so
    every one of the len(ids) - 1 predictions counts once.
    """
    ids = np.asarray(ids.array if hasattr(ids, "array") else ids, np.int64)
    n = len(ids) - 1
    if n < 1:
        raise ValueError(f"evaluate: need at least 2 characters, got {len(ids)}")
    streams = max(1, min(streams, n))
    length = -(-n // streams)
    inputs = np.zeros(streams * length, np.int64)
    targets = np.full(streams * length, -100, np.int64)
    inputs[:n], targets[:n] = ids[:-1], ids[1:]
    inputs, targets = inputs.reshape(streams, length), targets.reshape(streams, length)
    was_training = model.training
    model.eval()
    total, state = 0.0, None
    with dg.no_grad():
        for start in range(0, length, chunk):
            logits, state = model(dg.tensor(inputs[:, start:start + chunk]), state)
            target = dg.tensor(targets[:, start:start + chunk].reshape(-1))
            total += nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target,
                                                 reduction="sum").item()
    model.train(was_training)
    return total / n


def load_model(folder: str | Path) -> tuple[CharLSTM, list]:
    """The best model of a finished shakespeare-lstm run (in eval mode) and its vocabulary."""
    import json

    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text())
    checkpoint = dg.load(folder / CHECKPOINT)
    itos = list(checkpoint["extra"]["itos"])
    model = build_model(config, len(itos))
    model.load_state_dict(checkpoint["model"])
    model.eval()
    return model, itos


def generate_text(folder: str | Path, prompt: str, length: int, temperature: float = 1.0,
                  seed: int | None = None) -> str:
    """``prompt`` followed by ``length`` characters sampled from a finished run's best model;
    the same seed gives the same text."""
    model, itos = load_model(folder)
    stoi = {ch: i for i, ch in enumerate(itos)}
    unknown = sorted({ch for ch in prompt if ch not in stoi})
    if not prompt or unknown:
        raise ValueError(f"generate: the prompt must be non-empty text in the model's "
                         f"vocabulary of {len(itos)} characters; unknown: {unknown}")
    ids = model.generate(np.array([stoi[ch] for ch in prompt], np.int64), length, temperature,
                         generator(seed))
    return prompt + "".join(itos[i] for i in ids)


recipe = Recipe(name="shakespeare-lstm", description=__doc__.strip().splitlines()[0],
                defaults=DEFAULTS, run=run)

"""sst2-lstm: a bidirectional LSTM learns the sentiment of SST-2 sentences, from scratch.

Words are ids in a vocabulary built from the training text only (words seen ``min_freq`` times;
the rest are ``<unk>``, and ``<pad>`` fills short rows). Embedding -> bidirectional LSTM ->
max over the valid time steps of both directions' outputs -> dropout -> Linear(2). Batches hold
phrases of similar length, so little padding is computed; the rows are packed
(``pack_padded_sequence``), so the backward direction starts at each row's own last word.

GLUE's test split has no labels, so the score reported is the accuracy on the labelled dev
split (872 sentences), computed once with the checkpoint chosen on ``n_val`` phrases held out
of the training file. The dev accuracy of each epoch is logged for the learning curves only.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import deepgrad as dg
from deepgrad import nn
from deepgrad.backend import generator
from deepgrad.data.datasets.sst2 import SST2, Vocab, pad_sequences, tokenize
from deepgrad.nn.utils import rnn as rnn_utils
from deepgrad.recipes.base import EpochLog, Recipe, learning_curves
from deepgrad.tensor import Tensor

DEFAULTS = dict(epochs=3, lr=2e-3, batch_size=64, embedding_dim=128, hidden=128,
                dropout=0.5, min_freq=2, n_val=3000, clip=5.0, max_train=None, seed=0,
                data_dir=None)
CHECKPOINT = "best.safetensors"


class SentimentLSTM(nn.Module):
    """Ids (B, T) and their lengths (B,) -> logits (B, num_classes)."""

    def __init__(self, vocab_size: int, embedding_dim: int = 128, hidden: int = 128,
                 dropout: float = 0.5, num_classes: int = 2, pad_index: int = 0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_index)
        self.lstm = nn.LSTM(embedding_dim, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden, num_classes)

    def forward(self, ids, lengths):
        ids = ids if isinstance(ids, Tensor) else dg.tensor(ids)
        lengths = np.asarray(lengths.array if isinstance(lengths, Tensor) else lengths)
        T = ids.shape[1]
        x = self.dropout(self.embedding(ids))
        packed = rnn_utils.pack_padded_sequence(x, lengths, batch_first=True,
                                                enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = rnn_utils.pad_packed_sequence(out, batch_first=True, total_length=T)
        pad = np.arange(T)[None, :] >= lengths[:, None]  # (B, T): True after a row's end
        out = out + Tensor._make(np.where(pad, -1e4, 0).astype(np.float32)[..., None], None)
        return self.head(self.dropout(out.amax(1)))


def encode(vocab: Vocab, sentences: list[str]) -> list[list[int]]:
    return [vocab.encode(tokenize(s)) for s in sentences]


def batches(ids: list[list[int]], labels: np.ndarray, batch_size: int,
            rng: np.random.Generator | None = None):
    """(ids (B, T), lengths (B,), labels (B,)) batches of rows of similar length.

    With ``rng`` (training): rows are shuffled, sorted by length within pools of 50 batches,
    cut into batches, and the batches shuffled. Without: in order of length.
    """
    lengths = np.array([len(s) for s in ids])
    if rng is None:
        order = np.argsort(lengths, kind="stable")
    else:
        order = rng.permutation(len(ids))
        pool = 50 * batch_size
        order = np.concatenate([chunk[np.argsort(lengths[chunk], kind="stable")]
                                for chunk in np.split(order, range(pool, len(order), pool))])
    cuts = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        cuts = [cuts[i] for i in rng.permutation(len(cuts))]
    for rows in cuts:
        batch, n = pad_sequences([ids[i] for i in rows])
        yield batch, n, labels[rows]


def accuracy(model, ids, labels, batch_size: int = 256) -> float:
    model.eval()
    correct = 0
    with dg.no_grad():
        for x, n, y in batches(ids, labels, batch_size):
            correct += int((model(x, n).numpy().argmax(1) == y).sum())
    return correct / len(ids)


def run(config: dict, out: Path, log=print) -> dict:
    train, dev = SST2("train", config.get("data_dir")), SST2("dev", config.get("data_dir"))
    rng = generator(config["seed"])
    order = rng.permutation(len(train))
    held, rest = order[:config["n_val"]], order[config["n_val"]:]
    if config["max_train"]:
        rest = rest[:config["max_train"]]
    vocab = Vocab.build((tokenize(train.sentences[i]) for i in rest), config["min_freq"])
    all_ids = encode(vocab, train.sentences)
    train_ids, train_y = [all_ids[i] for i in rest], train.labels[rest]
    val_ids, val_y = [all_ids[i] for i in held], train.labels[held]
    dev_ids = encode(vocab, dev.sentences)
    model = SentimentLSTM(len(vocab), config["embedding_dim"], config["hidden"],
                          config["dropout"])
    optimizer = dg.optim.Adam(model.parameters(), lr=config["lr"])
    epochs, best, best_epoch = EpochLog(out / "log.csv"), -1.0, 0
    log(f"vocabulary: {len(vocab)} words (min_freq {config['min_freq']}); "
        f"{len(train_ids)} training phrases, {len(val_ids)} held out, {len(dev_ids)} dev")
    for epoch in range(1, config["epochs"] + 1):
        loss, acc = _train_epoch(model, optimizer, train_ids, train_y, config, rng, log)
        val_acc = accuracy(model, val_ids, val_y)
        dev_acc = accuracy(model, dev_ids, dev.labels)
        row = epochs.write(epoch, loss=loss, accuracy=acc, val_accuracy=val_acc,
                           dev_accuracy=dev_acc)
        if val_acc > best:
            best, best_epoch = val_acc, epoch
            dg.save({"model": model.state_dict(), "epoch": epoch, "itos": vocab.itos},
                    out / CHECKPOINT)
        log(f"epoch {epoch}: loss {loss:.4f}, accuracy {acc:.4f}, held-out {val_acc:.4f},"
            f" dev {dev_acc:.4f}, {row['elapsed_s']:.0f} s"
            + (" (best)" if best_epoch == epoch else ""))
    history = epochs.history
    model.load_state_dict(dg.load(out / CHECKPOINT)["model"])
    dev_acc = accuracy(model, dev_ids, dev.labels)
    log(f"dev accuracy of the checkpoint chosen on held-out phrases (epoch {best_epoch}): "
        f"{dev_acc:.4f}")
    return {"dev_accuracy": round(dev_acc, 4), "best_val_accuracy": round(best, 4),
            "best_epoch": best_epoch, "vocab_size": len(vocab), "n_train": len(train_ids),
            "parameters": sum(p.numel() for p in model.parameters()),
            "plots": learning_curves(
                {k: v for k, v in history.items() if k != "dev_accuracy"}, out)}


def _train_epoch(model, optimizer, ids, labels, config, rng, log) -> tuple[float, float]:
    model.train()
    total, correct, seen, tick = 0.0, 0, 0, time.perf_counter()
    for step, (x, n, y) in enumerate(batches(ids, labels, config["batch_size"], rng), 1):
        logits = model(x, n)
        loss = nn.functional.cross_entropy(logits, dg.tensor(y))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config["clip"])
        optimizer.step()
        total += loss.item() * len(y)
        correct += int((logits.array.argmax(1) == y).sum())
        seen += len(y)
        if step % 200 == 0:
            log(f"  step {step}: loss {total / seen:.4f}, accuracy {correct / seen:.4f} "
                f"({200 / (time.perf_counter() - tick):.1f} steps/s)")
            tick = time.perf_counter()
    return total / seen, correct / seen


recipe = Recipe(name="sst2-lstm", description=__doc__.strip().splitlines()[0],
                defaults=DEFAULTS, run=run)

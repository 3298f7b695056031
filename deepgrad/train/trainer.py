"""``Trainer``: the training loop written once, Keras-style, for any deepgrad model.

    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                      metrics=["accuracy"], callbacks=[EarlyStopping(patience=3)])
    history = trainer.fit(train_loader, val_loader, epochs=20)
    history.history["val_accuracy"]

A loader is any iterable of batches (a ``DataLoader``, or a plain list). A batch is an
``(inputs, targets)`` tuple or list, or a dict with ``"input"`` and ``"target"`` entries;
``predict`` also takes batches that are the inputs alone. Inputs and targets are tensors (NumPy
arrays are wrapped). The loss is logged with ``.item()``, so no graph outlives its step, and
evaluation runs under ``no_grad`` in eval mode.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from deepgrad.autograd import no_grad
from deepgrad.tensor import Tensor
from deepgrad.train.callbacks import Callback, LRSchedulerCallback
from deepgrad.train.checkpoint import get_rng_state, load_checkpoint, save_checkpoint, set_rng_state

__all__ = ["Trainer", "History"]


class History(Callback):
    """What ``fit`` returns: ``history`` maps each logged name to its per-epoch values, and
    ``epoch`` lists the epochs (counting from 0) they belong to."""

    def __init__(self) -> None:
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.history, self.epoch = {}, []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def state_dict(self) -> dict:
        return {"history": {k: list(v) for k, v in self.history.items()},
                "epoch": list(self.epoch)}

    def load_state_dict(self, state: dict) -> None:
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = [int(e) for e in state["epoch"]]

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


class Trainer:
    """Trains ``model`` on ``loss_fn(model(inputs), targets)`` with ``optimizer``.

    ``metrics`` are metric objects (``update``, ``compute``, ``reset``, ``name``) or names for
    ``deepgrad.train.metrics.get_metric``; ``callbacks`` are ``Callback`` objects. A callback
    sets ``trainer.stop_training = True`` to end ``fit`` after the current epoch.
    """

    def __init__(self, model, loss_fn, optimizer, metrics: Iterable | None = None,
                 callbacks: Iterable[Callback] | None = None) -> None:
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.metrics = [_as_metric(m) for m in metrics or ()]
        self.callbacks = list(callbacks or ())
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"Trainer: callbacks must be Callback objects, got a "
                                f"{type(cb).__name__}")
        self.history = History()
        self.stop_training = False
        self.epoch = -1  # the epoch running, or the last one run
        self.epochs = 0
        self.steps_per_epoch: int | None = None
        self._train_loader = None

    @property
    def scheduler(self):
        """The scheduler of the first ``LRSchedulerCallback``, or None."""
        for cb in self.callbacks:
            if isinstance(cb, LRSchedulerCallback):
                return cb.scheduler
        return None

    # -- training -------------------------------------------------------------------------------
    def fit(self, train_loader: Iterable, val_loader: Iterable | None = None, epochs: int = 1,
            initial_epoch: int = 0, resume_from: str | os.PathLike | None = None) -> History:
        """Train for epochs ``initial_epoch`` to ``epochs - 1``, validating after each one.

        ``resume_from`` is a checkpoint (``ModelCheckpoint``, ``save_checkpoint``): it restores
        the model, optimizer, scheduler, random state and the callbacks' states (such as
        EarlyStopping's best value), and training goes on from the epoch after the saved one,
        so the run (and the History it returns) ends as an uninterrupted one would.
        """
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
        self._train_loader = train_loader
        ckpt = None
        if resume_from is not None:
            ckpt = self.load_checkpoint(resume_from)
            initial_epoch = ckpt["epoch"]
        callbacks = sorted([*self.callbacks, self.history], key=lambda cb: cb.order)
        for cb in callbacks:
            cb.set_trainer(self)
        self.epochs = epochs
        self.steps_per_epoch = len(train_loader) if hasattr(train_loader, "__len__") else None
        self.stop_training = False
        logs: dict = {}
        _call(callbacks, "on_train_begin", logs)
        if ckpt is not None:
            self._load_callback_states(ckpt["extra"].get("callbacks", {}))
        for epoch in range(initial_epoch, epochs):
            self.epoch = epoch
            _call(callbacks, "on_epoch_begin", epoch, {})
            logs = self._train_epoch(train_loader, callbacks)
            if val_loader is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(val_loader).items()})
            logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
            _call(callbacks, "on_epoch_end", epoch, logs)
            if self.stop_training:
                break
        _call(callbacks, "on_train_end", logs)
        return self.history

    def _train_epoch(self, loader: Iterable, callbacks: list) -> dict:
        self.model.train()
        for metric in self.metrics:
            metric.reset()
        total, count = 0.0, 0
        for index, batch in enumerate(loader):
            _call(callbacks, "on_batch_begin", index, {})
            inputs, targets = _split(batch, "fit")
            self.optimizer.zero_grad()
            outputs = self.model(inputs)
            loss = self.loss_fn(outputs, targets)
            loss.backward()
            _call(callbacks, "on_after_backward")
            self.optimizer.step()
            value, size = loss.item(), _size(targets)
            total, count = total + value * size, count + size
            for metric in self.metrics:
                metric.update(outputs.detach(), targets)
            _call(callbacks, "on_batch_end", index, {"loss": value, "size": size})
        if count == 0:
            raise ValueError("fit: the training loader gave no batches")
        return {"loss": total / count, **self._computed_metrics()}

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, loader: Iterable) -> dict:
        """The mean loss and the metrics over ``loader``, in eval mode without gradients, as
        ``{"loss": ..., "accuracy": ...}`` (floats; arrays for metrics such as a confusion
        matrix). The model's train/eval mode is restored after."""
        for metric in self.metrics:
            metric.reset()
        total, count = 0.0, 0
        with _eval_mode(self.model), no_grad():
            for batch in loader:
                inputs, targets = _split(batch, "evaluate")
                outputs = self.model(inputs)
                size = _size(targets)
                total += self.loss_fn(outputs, targets).item() * size
                count += size
                for metric in self.metrics:
                    metric.update(outputs, targets)
        if count == 0:
            raise ValueError("evaluate: the loader gave no batches")
        return {"loss": total / count, **self._computed_metrics()}

    def predict(self, loader: Iterable) -> Tensor:
        """The model's outputs for every batch of ``loader``, concatenated along dim 0, computed
        in eval mode without gradients. Batches may be inputs alone or carry targets."""
        outputs = []
        with _eval_mode(self.model), no_grad():
            for batch in loader:
                outputs.append(self.model(_inputs(batch)).array)
        if not outputs:
            raise ValueError("predict: the loader gave no batches")
        return Tensor._make(np.concatenate(outputs), None)

    def _computed_metrics(self) -> dict:
        return {metric.name: _number(metric.compute()) for metric in self.metrics}

    # -- checkpoints ----------------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Save model, optimizer, scheduler, random state and the epochs done to ``path``.

        The callbacks' states (EarlyStopping's best value and wait, say) are saved too, and so
        is the state of the training loader's own NumPy ``generator``, if it has one.
        """
        extra: dict = {"callbacks": {key: state for key, cb in self._callback_keys()
                                     if (state := cb.state_dict())}}
        generator = getattr(self._train_loader, "generator", None)
        if isinstance(generator, np.random.Generator):
            extra["loader_rng"] = get_rng_state(generator)
        save_checkpoint(path, self.model, self.optimizer, self.scheduler, self.epoch + 1, extra)

    def load_checkpoint(self, path: str | os.PathLike) -> dict:
        """Restore what ``save_checkpoint`` saved but the callbacks' states (``fit`` restores
        those after ``on_train_begin``); return the checkpoint."""
        ckpt = load_checkpoint(path, self.model, self.optimizer, self.scheduler)
        generator = getattr(self._train_loader, "generator", None)
        if "loader_rng" in ckpt["extra"] and isinstance(generator, np.random.Generator):
            set_rng_state(ckpt["extra"]["loader_rng"], generator)
        self.epoch = ckpt["epoch"] - 1
        return ckpt

    def _callback_keys(self):
        """(key, callback) pairs; the key (position and class) finds a callback's saved state.
        The History is one of them, so a resumed run's history holds every epoch."""
        return [("history", self.history)] + [(f"{i}:{type(cb).__name__}", cb)
                                               for i, cb in enumerate(self.callbacks)]

    def _load_callback_states(self, states: dict) -> None:
        for key, cb in self._callback_keys():
            if key in states:
                cb.load_state_dict(states[key])


def _call(callbacks: list, hook: str, *args) -> None:
    for cb in callbacks:
        getattr(cb, hook)(*args)


class _eval_mode:
    """Put a model in eval mode for a block, then back into the mode it was in."""

    def __init__(self, model) -> None:
        self.model = model

    def __enter__(self) -> None:
        self.was_training = self.model.training
        self.model.eval()

    def __exit__(self, *exc) -> None:
        self.model.train(self.was_training)


def _as_metric(metric):
    if isinstance(metric, str):
        from deepgrad.train.metrics import get_metric
        return get_metric(metric)
    for attr in ("update", "compute", "reset", "name"):
        if not hasattr(metric, attr):
            raise TypeError(f"Trainer: metric {metric!r} has no {attr!r}; pass a metric object "
                            "(update, compute, reset, name) or a metric name such as 'accuracy'")
    return metric


def _tensor(value):
    return Tensor._make(value, None) if isinstance(value, np.ndarray) else value


def _split(batch, fn: str) -> tuple:
    """(inputs, targets) of a batch given as a pair or as a dict."""
    if isinstance(batch, dict):
        missing = [k for k in ("input", "target") if k not in batch]
        if missing:
            raise ValueError(f"{fn}: a dict batch needs 'input' and 'target' entries; it lacks "
                             f"{missing} (it has {sorted(batch)})")
        return _tensor(batch["input"]), _tensor(batch["target"])
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return _tensor(batch[0]), _tensor(batch[1])
    kind = type(batch).__name__
    if isinstance(batch, (tuple, list)):
        kind = f"{len(batch)}-item {kind}"
    raise ValueError(f"{fn}: each batch must be (inputs, targets) or a dict with 'input' and "
                     f"'target', got a {kind}")


def _inputs(batch):
    """The inputs of a batch that is the inputs alone, a pair/1-tuple, or a dict."""
    if isinstance(batch, dict):
        if "input" not in batch:
            raise ValueError(f"predict: a dict batch needs an 'input' entry (it has "
                             f"{sorted(batch)})")
        return _tensor(batch["input"])
    if isinstance(batch, (tuple, list)):
        if len(batch) not in (1, 2):
            raise ValueError(f"predict: each batch must be inputs, (inputs,) or (inputs, "
                             f"targets), got a {len(batch)}-item {type(batch).__name__}")
        return _tensor(batch[0])
    return _tensor(batch)


def _size(targets) -> int:
    """The number of samples in a batch: the first dimension of its targets."""
    shape = getattr(targets, "shape", ())
    return int(shape[0]) if len(shape) else 1


def _number(value):
    """A metric's value: a float, or a NumPy array for metrics such as a confusion matrix."""
    array = np.asarray(value.array if isinstance(value, Tensor) else value)
    return array.item() if array.size == 1 else array

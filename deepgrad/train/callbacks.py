"""Callbacks: code that ``Trainer.fit`` runs at fixed points of training, Keras-style.

A callback overrides any of ``on_train_begin/end(logs)``, ``on_epoch_begin/end(epoch, logs)``,
``on_batch_begin/end(batch, logs)`` and ``on_after_backward()`` (between ``loss.backward()``
and ``optimizer.step()``, where gradients can be changed). ``epoch`` and ``batch`` count from
0. The epoch logs hold the mean training ``loss``, the metrics, their ``val_`` versions when
there is validation data, and ``lr``; batch logs hold that batch's ``loss`` and ``size``.

Callbacks run in the order of their ``order`` attribute, then as listed: schedulers step first
(so that a checkpoint holds the stepped schedule), checkpoints come after callbacks that change
state, and loggers come last (so they see every value the others added to the logs).
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
import warnings
from typing import IO

import numpy as np

from deepgrad.nn.utils import clip_grad_norm_, clip_grad_value_
from deepgrad.optim.lr_scheduler import ReduceLROnPlateau
from deepgrad.train.metrics import get_metric

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "LRSchedulerCallback",
           "GradientClipping", "ProgressBar", "CSVLogger", "JSONLinesLogger", "TensorBoard"]

class Callback:
    """Base class: every hook does nothing. ``self.trainer`` is set by ``Trainer.fit``."""

    order = 0
    trainer = None

    def set_trainer(self, trainer) -> None:
        self.trainer = trainer

    @property
    def model(self):
        return self.trainer.model

    def on_train_begin(self, logs: dict | None = None) -> None: ...

    def on_train_end(self, logs: dict | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def on_after_backward(self) -> None: ...

    def state_dict(self) -> dict:
        """What a checkpoint keeps of this callback (numbers, strings, arrays), so that a
        resumed run goes on as the uninterrupted one; stateless callbacks keep nothing."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()``; ``fit(resume_from=...)`` calls it after on_train_begin."""


class _Monitor:
    """Tracks the best value of one logged quantity (``monitor``) in mode min or max."""

    def __init__(self, owner: str, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        if mode not in ("min", "max", "auto"):
            raise ValueError(f"{owner}: mode must be 'min', 'max' or 'auto', got {mode!r}")
        if mode == "auto":
            mode = "max" if _higher_is_better(monitor.removeprefix("val_")) else "min"
        self.owner, self.monitor, self.mode, self.min_delta = owner, monitor, mode, abs(min_delta)
        self.best = math.inf if mode == "min" else -math.inf

    def value(self, logs: dict) -> float | None:
        """The monitored value in logs, or None (with a warning) if it is not there."""
        if self.monitor not in logs:
            warnings.warn(f"{self.owner}: {self.monitor!r} is not in the logs (they hold "
                          f"{sorted(logs)}); pass val_loader to fit to get val_ values",
                          RuntimeWarning, stacklevel=3)
            return None
        return float(logs[self.monitor])

    def improved(self, value: float) -> bool:
        """Whether value beats the best by more than min_delta (and then make it the best)."""
        if self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best = value
        return better


class EarlyStopping(Callback):
    """Stop training after ``patience`` epochs in which ``monitor`` did not improve by more
    than ``min_delta``.

    ``mode="auto"`` maximizes accuracy-like metrics and minimizes the rest. With
    ``restore_best_weights`` the model gets back the weights of its best epoch when training
    ends. ``baseline``: stop unless the monitored value beats it within ``patience`` epochs.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        self._tracker = _Monitor("EarlyStopping", monitor, mode, min_delta)
        self.monitor, self.mode = monitor, self._tracker.mode
        self.min_delta, self.patience, self.baseline = min_delta, patience, baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.on_train_begin()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._tracker.best = math.inf if self.mode == "min" else -math.inf
        if self.baseline is not None:
            self._tracker.best = float(self.baseline)
        self.wait = 0
        self.stopped_epoch = None
        self.best_epoch = None
        self.best_weights = None

    @property
    def best(self) -> float:
        return self._tracker.best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self._tracker.value(logs or {})
        if value is None or epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self._tracker.improved(value):
            self.wait = 0
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = {k: v.array.copy() for k, v in self.model.state_dict().items()}
        elif self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {"best": self.best, "wait": self.wait, "best_epoch": self.best_epoch,
                "best_weights": self.best_weights}

    def load_state_dict(self, state: dict) -> None:
        self._tracker.best = state["best"]
        self.wait, self.best_epoch = state["wait"], state["best_epoch"]
        self.best_weights = state["best_weights"]


class ModelCheckpoint(Callback):
    """Save the whole training state at the end of epochs, atomically (see ``save_checkpoint``).

    With ``save_best_only`` a file is written only when ``monitor`` improves, so ``path`` always
    holds the best epoch so far; otherwise every epoch. ``path`` may hold ``{epoch}`` (counting
    from 1) and logged names, as in ``"ckpt-{epoch:02d}-{val_loss:.3f}.safetensors"``.
    Resume with ``Trainer.fit(..., resume_from=path)``.
    """

    order = 10

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss", mode: str = "min",
                 save_best_only: bool = True) -> None:
        self.path = os.fspath(path)
        self.monitor, self.save_best_only = monitor, save_best_only
        self._tracker = _Monitor("ModelCheckpoint", monitor, mode)
        self.mode = self._tracker.mode

    @property
    def best(self) -> float:
        return self._tracker.best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.save_best_only:
            value = self._tracker.value(logs)
            if value is None or not self._tracker.improved(value):
                return
        try:
            path = self.path.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: cannot fill in the path {self.path!r} ({e!r}); "
                             f"it may use {{epoch}} and {sorted(logs)}") from None
        self.trainer.save_checkpoint(path)

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self._tracker.best = state["best"]


class LRSchedulerCallback(Callback):
    """Step a learning-rate scheduler once per epoch (``per="epoch"``) or per batch.

    ``ReduceLROnPlateau`` is stepped per epoch with the value of ``monitor`` from the logs.
    """

    order = -10

    def __init__(self, scheduler, per: str = "epoch", monitor: str = "val_loss") -> None:
        if per not in ("epoch", "batch"):
            raise ValueError(f"LRSchedulerCallback: per must be 'epoch' or 'batch', got {per!r}")
        self.plateau = isinstance(scheduler, ReduceLROnPlateau)
        if self.plateau and per != "epoch":
            raise ValueError("LRSchedulerCallback: ReduceLROnPlateau steps once per epoch, on "
                             "a monitored value; use per='epoch'")
        self.scheduler, self.per, self.monitor = scheduler, per, monitor

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.per == "batch":
            self.scheduler.step()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.per != "epoch":
            return
        if not self.plateau:
            self.scheduler.step()
            return
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"LRSchedulerCallback: ReduceLROnPlateau monitors {self.monitor!r}, "
                           f"which is not in the logs ({sorted(logs)}); pass val_loader to fit "
                           "or choose another monitor")
        self.scheduler.step(logs[self.monitor])


class GradientClipping(Callback):
    """Clip the gradients after backward, before the optimizer step: their joint norm to
    ``max_norm`` (``clip_grad_norm_``), or each element to ``[-value, value]``."""

    def __init__(self, max_norm: float | None = None, norm_type: float = 2.0,
                 value: float | None = None) -> None:
        if (max_norm is None) == (value is None):
            raise ValueError("GradientClipping: give exactly one of max_norm and value, got "
                             f"max_norm={max_norm!r}, value={value!r}")
        self.max_norm, self.norm_type, self.value = max_norm, norm_type, value

    def on_after_backward(self) -> None:
        params = [p for group in self.trainer.optimizer.param_groups for p in group["params"]]
        if self.max_norm is not None:
            clip_grad_norm_(params, self.max_norm, self.norm_type)
        else:
            clip_grad_value_(params, self.value)


def _format_logs(logs: dict) -> str:
    """The logged numbers as "loss: 0.1234 - accuracy: 0.9" (arrays are left out)."""
    return " - ".join(f"{k}: {v:.4g}" for k, v in logs.items() if _is_number(v))


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool)


class ProgressBar(Callback):
    """Show progress: a tqdm bar per epoch when ``tqdm`` is installed and ``stream`` is a
    terminal; otherwise one plain line per epoch (never per batch, so logs of CI runs and
    redirected output stay short)."""

    order = 20

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._out = self.stream if self.stream is not None else sys.stdout
        self._tqdm = None
        if getattr(self._out, "isatty", lambda: False)():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            self._tqdm = tqdm
        self._bar = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()
        if self._tqdm is not None:
            self._bar = self._tqdm(total=self.trainer.steps_per_epoch, file=self._out,
                                   desc=f"epoch {epoch + 1}/{self.trainer.epochs}", leave=True)

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{(logs or {}).get('loss', math.nan):.4g}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._start
        text = _format_logs(logs or {})
        if self._bar is not None:
            self._bar.set_postfix_str(text)
            self._bar.close()
            self._bar = None
            return
        self._out.write(f"epoch {epoch + 1}/{self.trainer.epochs} - {seconds:.1f}s - {text}\n")
        self._out.flush()


class CSVLogger(Callback):
    """Append one row per epoch to a CSV file: ``epoch`` and every logged value.

    The columns are those of the first epoch written; a later missing value is left empty.
    With ``append`` an existing file is continued (a resumed run) instead of replaced.
    """

    order = 20

    def __init__(self, filename: str | os.PathLike, separator: str = ",",
                 append: bool = False) -> None:
        self.filename, self.separator, self.append = os.fspath(filename), separator, append

    def on_train_begin(self, logs: dict | None = None) -> None:
        continuing = self.append and os.path.exists(self.filename)
        self._keys = None
        if continuing:
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            self._keys = header[1:] if header else None
        self._file = open(self.filename, "a" if continuing else "w", newline="")
        self._writer = csv.writer(self._file, delimiter=self.separator)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self._keys is None:
            self._keys = list(logs)
            self._writer.writerow(["epoch", *self._keys])
        self._writer.writerow([epoch, *(_csv_value(logs.get(k, "")) for k in self._keys)])
        self._file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._file.close()


def _csv_value(v):
    return json.dumps(v.tolist()) if isinstance(v, np.ndarray) else v


class JSONLinesLogger(Callback):
    """Append one JSON object per epoch (``{"epoch": 0, "loss": ..., ...}``) to a file;
    non-finite numbers are written as null. ``append`` continues an existing file."""

    order = 20

    def __init__(self, path: str | os.PathLike, append: bool = False) -> None:
        self.path, self.append = os.fspath(path), append

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._file = open(self.path, "a" if self.append else "w")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row = {"epoch": epoch, **{k: _json_value(v) for k, v in (logs or {}).items()}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._file.close()


def _json_value(v):
    """v as JSON can hold it: NumPy values as Python ones, NaN and infinities as None."""
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


class TensorBoard(Callback):
    """Write every logged number per epoch as a TensorBoard scalar (event files in
    ``log_dir``). Needs the ``tensorboard`` package (``pip install tensorboard``)."""

    order = 20

    def __init__(self, log_dir: str | os.PathLike = "logs") -> None:
        try:
            from tensorboard.compat.proto.event_pb2 import Event
            from tensorboard.compat.proto.summary_pb2 import Summary
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError:
            raise ImportError("TensorBoard: the callback needs the 'tensorboard' package; "
                              "install it with `pip install tensorboard`") from None
        self._event, self._summary, self._writer_class = Event, Summary, EventFileWriter
        self.log_dir = os.fspath(log_dir)

    def on_train_begin(self, logs: dict | None = None) -> None:
        os.makedirs(self.log_dir, exist_ok=True)
        self._writer = self._writer_class(self.log_dir)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        values = [self._summary.Value(tag=k, simple_value=float(v))
                  for k, v in (logs or {}).items() if _is_number(v)]
        self._writer.add_event(self._event(wall_time=time.time(), step=epoch,
                                           summary=self._summary(value=values)))
        self._writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._writer.close()


def _higher_is_better(name: str) -> bool:
    """Whether a logged value improves upwards: asked of the metric it names (loss: no)."""
    try:
        return get_metric(name).higher_is_better
    except (KeyError, ValueError, TypeError):
        return False  # the loss, and anything that is not a metric

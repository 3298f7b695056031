"""Each callback's behaviour, driven through Trainer.fit on small blobs."""

import io
import json
import math
import os
import sys
import types

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.optim import lr_scheduler
from deepgrad.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    GradientClipping,
    JSONLinesLogger,
    LRSchedulerCallback,
    ModelCheckpoint,
    ProgressBar,
    TensorBoard,
)
from deepgrad.train.checkpoint import load_checkpoint
from deepgrad.train.trainer import Trainer


def data(n=48, size=16, seed=0):
    g = np.random.default_rng(seed)
    centers = np.array([[3, 3], [-3, -3], [3, -3]], np.float32)
    y = g.integers(0, 3, n)
    x = (centers[y] + g.normal(0, 0.8, (n, 2))).astype(np.float32)
    x, y = dg.tensor(x), dg.tensor(y)
    return [(x[i:i + size], y[i:i + size]) for i in range(0, n, size)]


def mlp():
    dg.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))


def make_trainer(callbacks, lr=0.05, model=None, **kwargs):
    model = model or mlp()
    opt = optim.SGD(model.parameters(), lr=lr)
    return Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=callbacks, **kwargs)


class Script(Callback):
    """Overwrites logged values with scripted ones, before the other callbacks see them."""

    order = -100

    def __init__(self, **values):
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        for key, seq in self.values.items():
            logs[key] = seq[epoch]


class Weights(Callback):
    """Keeps a copy of the weights at the end of each epoch."""

    def __init__(self):
        self.per_epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.per_epoch.append({k: v.numpy().copy() for k, v in self.model.state_dict().items()})


# -- EarlyStopping --------------------------------------------------------------------------------
@pytest.mark.parametrize("patience, stops_at", [(0, 2), (1, 2), (2, 3), (3, 4)])
def test_early_stopping_patience(patience, stops_at):
    losses = [1.0, 0.8, 0.9, 0.85, 0.95, 0.99, 0.99]  # best at epoch 1
    stop = EarlyStopping(patience=patience)
    history = make_trainer([Script(val_loss=losses), stop]).fit(data(), epochs=7)
    assert history.epoch[-1] == stops_at == stop.stopped_epoch
    assert stop.best == 0.8 and stop.best_epoch == 1


def test_early_stopping_min_delta_and_max_mode():
    stop = EarlyStopping(min_delta=0.05, patience=1)
    history = make_trainer([Script(val_loss=[1.0, 0.97, 0.96, 0.5]), stop]).fit(data(), epochs=4)
    assert history.epoch == [0, 1]  # 0.97 is not better than 1.0 by more than 0.05
    stop = EarlyStopping(monitor="val_accuracy", patience=0)
    assert stop.mode == "max"
    acc = [0.5, 0.6, 0.7, 0.65, 0.9]
    history = make_trainer([Script(val_accuracy=acc), stop]).fit(data(), epochs=5)
    assert history.epoch == [0, 1, 2, 3]


def test_early_stopping_baseline():
    stop = EarlyStopping(patience=1, baseline=0.5)
    history = make_trainer([Script(val_loss=[0.9, 0.8, 0.7, 0.6]), stop]).fit(data(), epochs=4)
    assert history.epoch == [0]


def test_early_stopping_restores_best_weights():
    weights = Weights()
    stop = EarlyStopping(patience=1, restore_best_weights=True)
    trainer = make_trainer([Script(val_loss=[1.0, 0.5, 0.7, 0.8]), stop, weights])
    trainer.fit(data(), epochs=4)
    assert len(weights.per_epoch) == 3
    for key, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), weights.per_epoch[1][key])
        assert not np.array_equal(value.numpy(), weights.per_epoch[2][key])


def test_early_stopping_warns_without_the_monitored_value():
    with pytest.warns(RuntimeWarning, match="'val_loss' is not in the logs"):
        history = make_trainer([EarlyStopping()]).fit(data(), epochs=2)
    assert history.epoch == [0, 1]


def test_monitor_options_are_checked():
    with pytest.raises(ValueError, match="EarlyStopping: mode must be"):
        EarlyStopping(mode="lowest")
    with pytest.raises(ValueError, match="patience must be"):
        EarlyStopping(patience=-1)


# -- ModelCheckpoint ------------------------------------------------------------------------------
def test_model_checkpoint_keeps_the_best_epoch(tmp_path):
    path = tmp_path / "best.safetensors"
    weights = Weights()
    writes = []

    class Count(Callback):  # runs after the checkpoint: sees whether the file changed
        order = 15

        def on_epoch_end(self, epoch, logs=None):
            writes.append(os.stat(path).st_mtime_ns if path.exists() else None)

    ckpt = ModelCheckpoint(path)
    trainer = make_trainer([Script(val_loss=[1.0, 0.6, 0.9, 0.7]), ckpt, weights, Count()])
    trainer.fit(data(), epochs=4)
    assert writes[0] is not None and writes[1] != writes[0] and writes[3] == writes[2] == writes[1]
    model = mlp()
    saved = load_checkpoint(path, model)
    assert saved["epoch"] == 2  # epochs completed: the best was epoch index 1
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), weights.per_epoch[1][key])
    assert [p.name for p in tmp_path.iterdir()] == ["best.safetensors"]  # no temporary files


def test_model_checkpoint_every_epoch_with_formatted_path(tmp_path):
    ckpt = ModelCheckpoint(str(tmp_path / "ckpt-{epoch:02d}-{loss:.2f}.safetensors"),
                           save_best_only=False)
    history = make_trainer([ckpt]).fit(data(), epochs=3)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"ckpt-{e + 1:02d}-{loss:.2f}.safetensors"
                     for e, loss in enumerate(history.history["loss"])]


def test_model_checkpoint_bad_path_placeholder(tmp_path):
    ckpt = ModelCheckpoint(str(tmp_path / "{val_acc}.safetensors"), monitor="loss")
    with pytest.raises(ValueError, match="cannot fill in the path"):
        make_trainer([ckpt]).fit(data(), epochs=1)


# -- LRSchedulerCallback --------------------------------------------------------------------------
def test_lr_scheduler_per_epoch():
    trainer = make_trainer([], lr=0.1)
    sched = lr_scheduler.StepLR(trainer.optimizer, step_size=2, gamma=0.5)
    trainer.callbacks.append(LRSchedulerCallback(sched))
    history = trainer.fit(data(), epochs=5)
    np.testing.assert_allclose(history.history["lr"], [0.1, 0.1, 0.05, 0.05, 0.025])
    assert trainer.scheduler is sched


def test_lr_scheduler_per_batch():
    trainer = make_trainer([], lr=0.1)
    sched = lr_scheduler.ExponentialLR(trainer.optimizer, gamma=0.9)
    trainer.callbacks.append(LRSchedulerCallback(sched, per="batch"))
    history = trainer.fit(data(), epochs=2)  # 3 batches per epoch
    np.testing.assert_allclose(history.history["lr"], [0.1 * 0.9 ** 3, 0.1 * 0.9 ** 6])


def test_reduce_lr_on_plateau_gets_the_monitored_value():
    trainer = make_trainer([], lr=0.1)
    sched = lr_scheduler.ReduceLROnPlateau(trainer.optimizer, patience=1, factor=0.5)
    trainer.callbacks += [Script(val_loss=[1.0, 1.0, 1.0, 1.0, 1.0]), LRSchedulerCallback(sched)]
    history = trainer.fit(data(), epochs=5)
    # "lr" is the rate the epoch trained with; the third flat epoch halves it
    np.testing.assert_allclose(history.history["lr"], [0.1, 0.1, 0.1, 0.05, 0.05])


def test_lr_scheduler_errors():
    opt = optim.SGD(mlp().parameters(), lr=0.1)
    plateau = lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.raises(ValueError, match="per must be 'epoch' or 'batch'"):
        LRSchedulerCallback(lr_scheduler.StepLR(opt, 1), per="step")
    with pytest.raises(ValueError, match="ReduceLROnPlateau steps once per epoch"):
        LRSchedulerCallback(plateau, per="batch")
    trainer = make_trainer([])
    trainer.callbacks.append(LRSchedulerCallback(
        lr_scheduler.ReduceLROnPlateau(trainer.optimizer)))
    with pytest.raises(KeyError, match="monitors 'val_loss', which is not in the logs"):
        trainer.fit(data(), epochs=1)


# -- GradientClipping -----------------------------------------------------------------------------
class Deltas(Callback):
    """The parameter changes of the first step (SGD with lr=1: minus the gradients used)."""

    def on_batch_begin(self, batch, logs=None):
        self.before = [p.detach().numpy().copy() for p in self.model.parameters()]

    def on_batch_end(self, batch, logs=None):
        if batch == 0 and not hasattr(self, "deltas"):
            after = [p.detach().numpy() for p in self.model.parameters()]
            self.deltas = [b - a for b, a in zip(self.before, after)]


def test_gradient_clipping_by_norm_and_by_value():
    deltas = Deltas()
    make_trainer([deltas], lr=1.0).fit(data(), epochs=1)
    raw = np.sqrt(sum((d.astype(np.float64) ** 2).sum() for d in deltas.deltas))
    assert raw > 0.2
    deltas = Deltas()
    make_trainer([GradientClipping(max_norm=0.1), deltas], lr=1.0).fit(data(), epochs=1)
    clipped = np.sqrt(sum((d.astype(np.float64) ** 2).sum() for d in deltas.deltas))
    np.testing.assert_allclose(clipped, 0.1, rtol=1e-4)
    deltas = Deltas()
    make_trainer([GradientClipping(value=0.01), deltas], lr=1.0).fit(data(), epochs=1)
    biggest = max(np.abs(d).max() for d in deltas.deltas)
    np.testing.assert_allclose(biggest, 0.01, rtol=1e-4)


def test_gradient_clipping_needs_one_bound():
    with pytest.raises(ValueError, match="exactly one of max_norm and value"):
        GradientClipping()
    with pytest.raises(ValueError, match="exactly one of max_norm and value"):
        GradientClipping(max_norm=1.0, value=1.0)


# -- ProgressBar ----------------------------------------------------------------------------------
class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_prints_one_line_per_epoch_when_not_a_terminal():
    out = io.StringIO()
    make_trainer([ProgressBar(out)]).fit(data(), data(), epochs=3)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    for e, line in enumerate(lines):
        assert line.startswith(f"epoch {e + 1}/3 - ")
        assert " - loss: " in line and " - val_loss: " in line and " - lr: 0.05" in line


def test_progress_bar_uses_tqdm_on_a_terminal(monkeypatch):
    bars = []

    class FakeTqdm:
        def __init__(self, total, file, desc, leave):
            self.total, self.desc, self.updates, self.closed = total, desc, 0, False
            bars.append(self)

        def update(self, n):
            self.updates += n

        def set_postfix(self, **kwargs):
            self.postfix = kwargs

        def set_postfix_str(self, text):
            self.final = text

        def close(self):
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeTqdm))
    out = Terminal()
    make_trainer([ProgressBar(out)]).fit(data(), epochs=2)
    assert out.getvalue() == ""
    assert [(b.total, b.desc, b.updates, b.closed) for b in bars] == [
        (3, "epoch 1/2", 3, True), (3, "epoch 2/2", 3, True)]
    assert "loss: " in bars[0].final


def test_progress_bar_on_a_terminal_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    out = Terminal()
    make_trainer([ProgressBar(out)]).fit(data(), epochs=2)
    assert len(out.getvalue().splitlines()) == 2


# -- loggers --------------------------------------------------------------------------------------
def test_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    history = make_trainer([CSVLogger(path)]).fit(data(), data(), epochs=2)
    rows = [line.split(",") for line in path.read_text().splitlines()]
    assert rows[0] == ["epoch", "loss", "val_loss", "lr"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1]
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], history.history["loss"])
    make_trainer([CSVLogger(path, append=True)]).fit(data(), data(), epochs=3, initial_epoch=2)
    rows = path.read_text().splitlines()
    assert len(rows) == 4 and rows[3].startswith("2,")


def test_json_lines_logger(tmp_path):
    path = tmp_path / "log.jsonl"
    nan_second = Script(val_loss=[0.5, math.nan])
    history = make_trainer([JSONLinesLogger(path), nan_second]).fit(data(), epochs=2)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert rows[0]["loss"] == history.history["loss"][0]
    assert rows[0]["val_loss"] == 0.5 and rows[1]["val_loss"] is None


def test_tensorboard_needs_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        TensorBoard("logs")


def test_tensorboard_writes_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    history = make_trainer([TensorBoard(tmp_path)]).fit(data(), epochs=2)
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    scalars = events.Scalars("loss")
    assert [s.step for s in scalars] == [0, 1]
    np.testing.assert_allclose([s.value for s in scalars], history.history["loss"], rtol=1e-6)


def test_loggers_handle_array_metrics(tmp_path):
    from deepgrad.train.metrics import ConfusionMatrix

    out = io.StringIO()
    callbacks = [ProgressBar(out), CSVLogger(tmp_path / "log.csv"),
                 JSONLinesLogger(tmp_path / "log.jsonl")]
    history = make_trainer(callbacks, metrics=[ConfusionMatrix(3)]).fit(data(), epochs=1)
    matrix = history.history["confusion_matrix"][0]
    assert matrix.shape == (3, 3) and matrix.sum() == 48
    assert "confusion_matrix" not in out.getvalue() and "loss: " in out.getvalue()
    row = json.loads((tmp_path / "log.jsonl").read_text())
    assert row["confusion_matrix"] == matrix.tolist()
    assert json.dumps(matrix.tolist()) in (tmp_path / "log.csv").read_text()

"""Trainer: fit/evaluate/predict, History, batch formats, train/eval mode, callback hooks."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.train.callbacks import Callback
from deepgrad.train.trainer import History, Trainer


def blobs(n=96, seed=0):
    """Three well separated 2-D Gaussian blobs, float32 inputs and int64 labels."""
    g = np.random.default_rng(seed)
    centers = np.array([[3, 3], [-3, -3], [3, -3]], np.float32)
    y = g.integers(0, 3, n)
    x = (centers[y] + g.normal(0, 0.8, (n, 2))).astype(np.float32)
    return dg.tensor(x), dg.tensor(y)


def batches(x, y, size=16):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, x.shape[0], size)]


def mlp(dropout=0.0):
    dg.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3))


def make_trainer(model=None, **kwargs):
    model = model or mlp()
    return Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), **kwargs)


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")

    def on_train_end(self, logs=None):
        self.calls.append("train_end")

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(f"epoch_begin {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(f"epoch_end {epoch}")

    def on_batch_begin(self, batch, logs=None):
        self.calls.append(f"batch_begin {batch}")

    def on_batch_end(self, batch, logs=None):
        self.calls.append(f"batch_end {batch}")

    def on_after_backward(self):
        self.calls.append("after_backward")


def test_fit_learns_blobs_and_returns_history():
    x, y = blobs()
    train, val = batches(x[:64], y[:64]), batches(x[64:], y[64:])
    trainer = make_trainer(metrics=["accuracy"])
    history = trainer.fit(train, val, epochs=8)
    assert isinstance(history, History) and history is trainer.history
    assert history.epoch == list(range(8))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert all(len(v) == 8 for v in history.history.values())
    assert all(type(v) is float for v in history.history["loss"])
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["val_accuracy"][-1] >= 0.95
    assert history.history["lr"] == [0.1] * 8


def test_outputs_params_and_grads_stay_float32():
    x, y = blobs(32)
    trainer = make_trainer()
    trainer.fit(batches(x, y), epochs=1)
    for p in trainer.model.parameters():
        assert p.dtype == dg.float32 and p.grad.dtype == dg.float32
    assert trainer.predict(batches(x, y)).dtype == dg.float32


def test_evaluate_is_sample_weighted_mean_without_grad_and_keeps_mode():
    x, y = blobs(40)
    loader = batches(x, y, size=16)  # batches of 16, 16, 8
    model = mlp(dropout=0.5)
    trainer = make_trainer(model, metrics=["accuracy"])
    loss_fn = nn.CrossEntropyLoss()
    model.eval()
    expected = loss_fn(model(x), y).item()
    model.train()
    result = trainer.evaluate(loader)
    assert set(result) == {"loss", "accuracy"}
    np.testing.assert_allclose(result["loss"], expected, rtol=1e-5)
    assert all(p.grad is None for p in model.parameters())
    assert model.training
    model.eval()
    trainer.evaluate(loader)
    assert not model.training


class Probe(nn.Module):
    """Records the mode and grad mode of each forward call."""

    def __init__(self):
        super().__init__()
        self.net = nn.Linear(2, 3)
        self.seen = []

    def forward(self, x):
        self.seen.append((self.training, dg.is_grad_enabled()))
        return self.net(x)


def test_train_and_eval_mode_switch_around_validation():
    x, y = blobs(32)
    model = Probe()
    model.eval()  # fit must switch to train mode itself
    trainer = make_trainer(model)
    trainer.fit(batches(x, y, 16), batches(x, y, 32), epochs=2)
    # per epoch: two training batches in train mode with grad, one validation batch without
    assert model.seen == [(True, True), (True, True), (False, False)] * 2


def test_dict_batches_and_numpy_arrays():
    x, y = blobs(32)
    as_dicts = [{"input": a.numpy(), "target": b.numpy()} for a, b in batches(x, y)]
    trainer = make_trainer()
    history = trainer.fit(as_dicts, as_dicts, epochs=2)
    assert len(history.history["val_loss"]) == 2
    assert trainer.predict(as_dicts).shape == (32, 3)


def test_predict_concatenates_in_eval_mode_without_graph():
    x, y = blobs(40)
    model = mlp(dropout=0.5)
    trainer = make_trainer(model)
    model.eval()
    expected = model(x).numpy(force=True)
    model.train()
    for loader in (batches(x, y), [a for a, _ in batches(x, y)], [(a,) for a, _ in batches(x, y)]):
        out = trainer.predict(loader)
        assert not out.requires_grad and out.grad_fn is None
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert model.training


def test_callback_hooks_run_in_order():
    x, y = blobs(32)
    rec = Recorder()
    make_trainer(callbacks=[rec]).fit(batches(x, y, 16), epochs=2)
    epoch = ["batch_begin 0", "after_backward", "batch_end 0",
             "batch_begin 1", "after_backward", "batch_end 1"]
    assert rec.calls == ["train_begin", "epoch_begin 0", *epoch, "epoch_end 0",
                         "epoch_begin 1", *epoch, "epoch_end 1", "train_end"]


def test_batch_logs_hold_float_loss_and_size():
    x, y = blobs(40)
    logged = []

    class Batches(Callback):
        def on_batch_end(self, batch, logs=None):
            logged.append(logs)

    make_trainer(callbacks=[Batches()]).fit(batches(x, y, 16), epochs=1)
    assert [entry["size"] for entry in logged] == [16, 16, 8]
    assert all(type(entry["loss"]) is float for entry in logged)


def test_stop_training_ends_after_the_epoch():
    class StopAtOne(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.trainer.stop_training = True

    x, y = blobs(32)
    history = make_trainer(callbacks=[StopAtOne()]).fit(batches(x, y), epochs=5)
    assert history.epoch == [0, 1]


def test_initial_epoch():
    x, y = blobs(32)
    history = make_trainer().fit(batches(x, y), epochs=3, initial_epoch=1)
    assert history.epoch == [1, 2]


def test_metric_objects_and_names():
    from deepgrad.train.metrics import TopKAccuracy

    x, y = blobs(32)
    trainer = make_trainer(metrics=["accuracy", TopKAccuracy(k=3)])
    history = trainer.fit(batches(x, y), batches(x, y), epochs=1)
    assert {"accuracy", "top3", "val_accuracy", "val_top3"} <= set(history.history)
    assert history.history["val_top3"] == [1.0]  # 3 classes: the top 3 always hold the target


def test_clear_errors():
    x, y = blobs(32)
    trainer = make_trainer()
    with pytest.raises(ValueError, match=r"fit: each batch must be \(inputs, targets\).*3-item"):
        trainer.fit([(x, y, y)], epochs=1)
    with pytest.raises(ValueError, match="lacks \\['target'\\]"):
        trainer.fit([{"input": x}], epochs=1)
    with pytest.raises(ValueError, match="fit: the training loader gave no batches"):
        trainer.fit([], epochs=1)
    with pytest.raises(ValueError, match="evaluate: the loader gave no batches"):
        trainer.evaluate([])
    with pytest.raises(ValueError, match="epochs must be"):
        trainer.fit(batches(x, y), epochs=-1)
    with pytest.raises(TypeError, match="callbacks must be Callback objects, got a str"):
        make_trainer(callbacks=["early_stopping"])
    with pytest.raises(TypeError, match="has no 'update'"):
        make_trainer(metrics=[object()])

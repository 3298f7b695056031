"""Exact resume: 2 epochs + checkpoint + fresh objects + 2 more == 4 epochs straight, bitwise."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import backend, nn, optim
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.optim import lr_scheduler
from deepgrad.train.callbacks import Callback, EarlyStopping, LRSchedulerCallback, ModelCheckpoint
from deepgrad.train.checkpoint import get_rng_state, load_checkpoint, save_checkpoint
from deepgrad.train.trainer import Trainer


def blobs(n, seed):
    g = np.random.default_rng(seed)
    centers = np.array([[2, 2], [-2, -2], [2, -2]], np.float32)
    y = g.integers(0, 3, n)
    x = (centers[y] + g.normal(0, 1.0, (n, 2))).astype(np.float32)
    return TensorDataset(dg.tensor(x), dg.tensor(y))


SCHEDULERS = {
    "step": (lambda opt: lr_scheduler.StepLR(opt, step_size=1, gamma=0.7), "epoch"),
    "plateau": (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5), "epoch"),
    "onecycle": (lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=24), "batch"),
}


def build(seed, scheduler, path=None, generator=None):
    """Fresh model (with dropout), Adam, scheduler, shuffling loaders and trainer."""
    dg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = optim.Adam(model.parameters(), lr=0.01)
    make, per = SCHEDULERS[scheduler]
    callbacks = [LRSchedulerCallback(make(opt), per=per)]
    if path is not None:
        callbacks.append(ModelCheckpoint(path, save_best_only=False))
    train = DataLoader(blobs(45, 0), batch_size=8, shuffle=True, generator=generator)  # 6 batches
    val = DataLoader(blobs(20, 1), batch_size=8)
    return Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=callbacks), train, val


def state(trainer):
    params = [p.detach().numpy().copy() for p in trainer.model.parameters()]
    opt = trainer.optimizer.state_dict()
    moments = [v.numpy().copy() for s in opt["state"].values() for v in s.values()]
    return params, moments, [g["lr"] for g in opt["param_groups"]]


def assert_same(a, b):
    for x, y in zip(a[0] + a[1], b[0] + b[1], strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    assert a[2] == b[2]


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_resumed_run_matches_uninterrupted_run_bitwise(tmp_path, scheduler):
    straight, train, val = build(0, scheduler)
    full = straight.fit(train, val, epochs=4)
    expected, expected_rng = state(straight), get_rng_state()

    path = tmp_path / "ckpt.safetensors"
    first, train, val = build(0, scheduler, path)
    first.fit(train, val, epochs=2)
    resumed, train, val = build(123, scheduler)  # a new process: other seed, other init
    history = resumed.fit(train, val, epochs=4, resume_from=path)

    assert history.epoch == [0, 1, 2, 3]  # the saved epochs' history comes back too
    assert history.history == full.history
    assert_same(state(resumed), expected)
    assert get_rng_state() == expected_rng
    assert state(resumed)[0][0].dtype == np.float32


def test_resume_restores_the_loaders_own_generator(tmp_path):
    straight, train, val = build(0, "step", generator=np.random.default_rng(7))
    straight.fit(train, val, epochs=4)
    path = tmp_path / "ckpt.safetensors"
    first, train, val = build(0, "step", path, generator=np.random.default_rng(7))
    first.fit(train, val, epochs=2)
    resumed, train, val = build(5, "step", generator=np.random.default_rng(99))
    resumed.fit(train, val, epochs=4, resume_from=path)
    assert_same(state(resumed), state(straight))


def test_resume_without_the_random_state_differs(tmp_path):
    """The check above can fail: losing only the RNG state changes dropout and shuffling."""
    straight, train, val = build(0, "step")
    straight.fit(train, val, epochs=4)
    path = tmp_path / "ckpt.safetensors"
    first, train, val = build(0, "step", path)
    first.fit(train, val, epochs=2)
    resumed, train, val = build(123, "step")
    resumed.load_checkpoint(path)
    dg.manual_seed(1)
    resumed.fit(train, val, epochs=4, initial_epoch=2)
    assert not np.array_equal(state(resumed)[0][0], state(straight)[0][0])


def test_checkpoint_round_trips_the_rng_state_and_extra(tmp_path):
    dg.manual_seed(2**63 + 12345)
    backend.rng().random(7)
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    path = tmp_path / "c.safetensors"
    saved_state = get_rng_state()
    save_checkpoint(path, model, opt, epoch=3, extra={"note": "hi", "best": 0.25})
    after_save = backend.rng().random(5)
    dg.manual_seed(0)
    fresh = nn.Linear(3, 2)
    ckpt = load_checkpoint(path, fresh, optim.SGD(fresh.parameters(), lr=0.5))
    assert get_rng_state() == saved_state
    np.testing.assert_array_equal(backend.rng().random(5), after_save)
    assert ckpt["epoch"] == 3 and ckpt["extra"] == {"note": "hi", "best": 0.25}
    np.testing.assert_array_equal(fresh.weight.detach().numpy(), model.weight.detach().numpy())


def test_checkpoint_errors(tmp_path):
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    weights = tmp_path / "w.safetensors"
    dg.save(model.state_dict(), weights)
    with pytest.raises(ValueError, match="not a training checkpoint"):
        load_checkpoint(weights, model)
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, model, opt, epoch=1)
    with pytest.raises(ValueError, match="holds no scheduler state, but a StepLR was given"):
        load_checkpoint(path, model, opt, lr_scheduler.StepLR(opt, 1))
    with pytest.raises(ValueError, match="epoch must be a non-negative int"):
        save_checkpoint(path, model, opt, epoch=-1)


class Script(Callback):
    """Replaces val_loss with scripted values, before the other callbacks see it."""

    order = -100

    def __init__(self, values):
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


def test_resume_restores_early_stopping_and_best_checkpoint_state(tmp_path):
    losses = [1.0, 0.5, 0.7, 0.8, 0.9, 0.95]  # best at epoch 1; patience 2 stops at epoch 3

    def run(epochs, callbacks, **kwargs):
        trainer, train, _ = build(0, "step")
        trainer.callbacks = [Script(losses), *callbacks, *trainer.callbacks]
        return trainer.fit(train, epochs=epochs, **kwargs)

    assert run(6, [EarlyStopping(patience=2)]).epoch == [0, 1, 2, 3]
    best, last = tmp_path / "best.safetensors", tmp_path / "last.safetensors"
    run(3, [EarlyStopping(patience=2), ModelCheckpoint(best),
            ModelCheckpoint(last, save_best_only=False)])
    stop = EarlyStopping(patience=2)
    history = run(6, [stop, ModelCheckpoint(best), ModelCheckpoint(last, save_best_only=False)],
                  resume_from=last)
    assert history.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 3 and stop.best_epoch == 1
    assert dg.load(best)["epoch"] == 2  # epoch 3 (0.8) did not replace the best (0.5)

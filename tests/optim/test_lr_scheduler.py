"""Learning-rate schedules against PyTorch: the same rates (and momenta), step by step."""

import copy
import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deepgrad as dg  # noqa: E402
from deepgrad import optim  # noqa: E402
from deepgrad.optim import lr_scheduler  # noqa: E402

STEPS = 30


def _optimizers(opt_name="SGD", **options):
    """One optimizer per framework, two parameter groups with different rates."""
    def make(lib, module):
        a, b = lib.tensor([1.0], requires_grad=True), lib.tensor([2.0], requires_grad=True)
        return getattr(module, opt_name)([{"params": [a]}, {"params": [b], "lr": 0.05}],
                                         lr=0.1, **options)
    return make(dg, optim), make(torch, torch.optim)


CASES = [
    ("StepLR", dict(step_size=3)),
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11, 25])),
    ("MultiStepLR", dict(milestones=[9, 3], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.9, total_iters=12)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=20)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=STEPS)),
    ("OneCycleLR", dict(max_lr=[1.0, 0.5], epochs=3, steps_per_epoch=10, pct_start=0.25,
                        anneal_strategy="linear", base_momentum=0.8, max_momentum=[0.9, 0.99])),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=STEPS, three_phase=True, div_factor=10.0,
                        final_div_factor=100.0)),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=STEPS, three_phase=True,
                        anneal_strategy="linear", cycle_momentum=False)),
]


def _trace(opt, sched, steps, key="momentum"):
    """The rates (and momenta or beta1) after construction and after each step."""
    def snapshot():
        momenta = [g["betas"][0] if key == "betas" else g.get(key) for g in opt.param_groups]
        return list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups], momenta
    seen = [snapshot()]
    for _ in range(steps):
        opt.step()
        sched.step()
        seen.append(snapshot())
    return seen


def _assert_same_trace(mine, theirs):
    assert len(mine) == len(theirs)
    for i, (a, b) in enumerate(zip(mine, theirs)):
        for x, y in zip(a, b):
            assert x == pytest.approx(y, rel=1e-12, abs=1e-15), f"step {i}: {a} != {b}"


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_sequence_matches_torch(name, kwargs):
    dg_opt, torch_opt = _optimizers(momentum=0.9)
    mine = getattr(lr_scheduler, name)(dg_opt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(torch_opt, **kwargs)
    steps = kwargs.get("total_steps", STEPS) if name == "OneCycleLR" else STEPS
    _assert_same_trace(_trace(dg_opt, mine, steps), _trace(torch_opt, theirs, steps))
    assert mine.last_epoch == theirs.last_epoch
    assert mine.base_lrs == pytest.approx(theirs.base_lrs)


def test_one_cycle_cycles_adam_beta1_like_torch():
    dg_opt, torch_opt = _optimizers("Adam", betas=(0.9, 0.99))
    kwargs = dict(max_lr=0.5, total_steps=25, base_momentum=0.7)
    mine = lr_scheduler.OneCycleLR(dg_opt, **kwargs)
    theirs = torch.optim.lr_scheduler.OneCycleLR(torch_opt, **kwargs)
    _assert_same_trace(_trace(dg_opt, mine, 25, "betas"), _trace(torch_opt, theirs, 25, "betas"))
    assert dg_opt.param_groups[0]["betas"][1] == 0.99


def test_one_cycle_trains_sgd_with_cycled_momentum_like_torch():
    """The optimizer reads the scheduled lr and momentum at every step."""
    rng = np.random.default_rng(0)
    x0, target = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    p, q = dg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    opt, topt = optim.SGD([p], lr=0.1), torch.optim.SGD([q], lr=0.1)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=20)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.5, total_steps=20)
    for _ in range(20):
        p.grad = dg.tensor(p.array - target + 0.3 * p.array ** 3)
        q.grad = q.detach() - torch.from_numpy(target) + 0.3 * q.detach() ** 3
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        np.testing.assert_allclose(p.array, q.detach().numpy(), rtol=1e-10, atol=1e-12)


METRICS = [10, 9, 9, 9, 9.5, 8, 8, 8, 8, 8, 7.9999, 8, 7, 7, 7.5, 7, 7, 7, 7, 6, 6.0001, 6,
           6, 6, 6, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4.9999, 5, 5, 5, 5]

PLATEAU_CASES = [
    dict(),
    dict(patience=2),
    dict(patience=0, factor=0.5),
    dict(patience=1, cooldown=2, factor=0.5),
    dict(patience=1, threshold=0.05),
    dict(patience=1, threshold=0.5, threshold_mode="abs"),
    dict(patience=1, threshold_mode="abs", threshold=1e-6),
    dict(patience=1, threshold=0.0),  # an equal metric is no improvement
    dict(patience=1, threshold=0.0, threshold_mode="abs", mode="max"),
    dict(patience=0, factor=0.5, min_lr=0.01),
    dict(patience=0, factor=0.5, min_lr=[0.02, 0.001]),
    dict(patience=0, factor=0.9, eps=0.005),
    dict(mode="max", patience=1),
    dict(mode="max", patience=1, cooldown=1, threshold_mode="abs", threshold=0.5),
    dict(mode="max", patience=2, threshold=0.1, factor=0.3),
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=[str(k) for k in PLATEAU_CASES])
def test_reduce_on_plateau_matches_torch(kwargs):
    dg_opt, torch_opt = _optimizers()
    mine = lr_scheduler.ReduceLROnPlateau(dg_opt, **kwargs)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(torch_opt, **kwargs)
    for i, metric in enumerate(METRICS):
        if kwargs.get("mode") == "max":
            metric = 20 - metric  # rising, with the same plateaus
        dg_opt.step()
        torch_opt.step()
        mine.step(dg.tensor(np.float64(metric)) if i % 2 else metric)
        theirs.step(metric)
        assert mine.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12), i
        assert (mine.best, mine.num_bad_epochs, mine.cooldown_counter, mine.last_epoch) == (
            theirs.best, theirs.num_bad_epochs, theirs.cooldown_counter, theirs.last_epoch)
    assert mine.get_last_lr() != [0.1, 0.05]  # the scripted metrics do trigger reductions


@pytest.mark.parametrize("name,kwargs", [CASES[0], CASES[2], CASES[4], CASES[6], CASES[8],
                                         CASES[11]])
def test_state_dict_round_trip_continues_the_sequence(name, kwargs):
    opt, _ = _optimizers(momentum=0.9)
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    for _ in range(8):
        opt.step()
        sched.step()
    saved_opt = copy.deepcopy(opt.state_dict())
    saved = json.loads(json.dumps(sched.state_dict()))  # survives a plain-JSON checkpoint
    opt2, _ = _optimizers(momentum=0.9)
    sched2 = getattr(lr_scheduler, name)(opt2, **kwargs)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved)
    _assert_same_trace(_trace(opt2, sched2, 15), _trace(opt, sched, 15))


def test_reduce_on_plateau_state_dict_round_trip():
    opt, _ = _optimizers()
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=1)
    for metric in METRICS[:12]:
        sched.step(metric)
    opt2, _ = _optimizers()
    opt2.load_state_dict(opt.state_dict())
    sched2 = lr_scheduler.ReduceLROnPlateau(opt2)
    sched2.load_state_dict(json.loads(json.dumps(sched.state_dict())))
    for metric in METRICS[12:]:
        sched.step(metric)
        sched2.step(metric)
        assert sched2.get_last_lr() == sched.get_last_lr()


@pytest.mark.parametrize("name,kwargs", CASES[:10], ids=[f"{n}-{k}" for n, k in CASES[:10]])
def test_deprecated_step_with_an_epoch_uses_the_closed_form_like_torch(name, kwargs):
    dg_opt, torch_opt = _optimizers()
    mine = getattr(lr_scheduler, name)(dg_opt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(torch_opt, **kwargs)
    dg_opt.step()
    torch_opt.step()
    for epoch in (4, 9, 13, 2):
        with pytest.warns(UserWarning, match="deprecated"):
            mine.step(epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.step(epoch)
        assert mine.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)


def test_resuming_with_last_epoch():
    opt, _ = _optimizers()
    with pytest.raises(KeyError, match=r"needs 'initial_lr' in param_groups\[0\]"):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=3)
    for group in opt.param_groups:
        group["initial_lr"] = group["lr"]
    sched = lr_scheduler.StepLR(opt, step_size=2, last_epoch=3)
    assert sched.last_epoch == 4 and sched.get_last_lr() == pytest.approx([0.01, 0.005])


def test_warns_when_the_scheduler_steps_before_the_optimizer():
    opt, _ = _optimizers()
    sched = lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match=r"before optimizer.step\(\)"):
        sched.step()
    opt2, _ = _optimizers()
    sched2 = lr_scheduler.StepLR(opt2, step_size=2)
    opt2.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched2.step()


def test_one_cycle_refuses_to_step_past_the_end():
    opt, _ = _optimizers(momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(2):
        opt.step()
        sched.step()
    with pytest.raises(ValueError, match="tried to step 4 times, but total_steps is 3"):
        sched.step()
        sched.step()


@pytest.mark.parametrize("make,error,message", [
    (lambda o: lr_scheduler.StepLR(o, step_size=0), ValueError, "step_size must be a positive"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), ValueError, "T_max must be positive"),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0), ValueError, r"start_factor .* \(0, 1\]"),
    (lambda o: lr_scheduler.LinearLR(o, end_factor=2), ValueError, r"end_factor"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0), ValueError,
     "give total_steps, or both epochs and steps_per_epoch"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError,
     "total_steps must be a positive integer"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=1), ValueError,
     "pct_start must be a float"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="exp"),
     ValueError, "anneal_strategy must be 'cos' or 'linear'"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[1.0], total_steps=5), ValueError,
     "max_lr has 1 values, but the optimizer has 2 parameter groups"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor must be < 1"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="up"), ValueError, "mode must be"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError,
     "threshold_mode must be"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "min_lr has 1"),
    (lambda o: lr_scheduler.ExponentialLR(object(), gamma=0.5), TypeError,
     "expected an Optimizer, got object"),
])
def test_bad_arguments_raise_clear_errors(make, error, message):
    opt, _ = _optimizers()
    with pytest.raises(error, match=message):
        make(opt)


def test_one_cycle_needs_an_optimizer_with_momentum_to_cycle_it():
    opt = optim.Adagrad([dg.tensor([1.0], requires_grad=True)])
    with pytest.raises(ValueError, match="Adagrad has neither; pass cycle_momentum=False"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5)
    lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5, cycle_momentum=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.04)

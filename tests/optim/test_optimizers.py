"""Optimizers against PyTorch: trajectories for every option, groups, state dicts, allocation."""

import copy
import itertools
import tracemalloc

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deepgrad as dg  # noqa: E402
from deepgrad import optim  # noqa: E402

SHAPES = [(3, 4), (), (4,)]  # the last parameter never gets a gradient
LR = {"SGD": 0.05, "Adam": 0.05, "AdamW": 0.05, "RMSprop": 0.01, "Adagrad": 0.1,
      "Adadelta": 1.0}


def _grid(**options):
    """Every combination of the listed option values, as dicts."""
    keys = list(options)
    return [dict(zip(keys, values)) for values in itertools.product(*options.values())]


CASES = (
    [("SGD", o) for o in _grid(momentum=[0, 0.9], dampening=[0, 0.3], nesterov=[False, True],
                                weight_decay=[0, 0.1], maximize=[False, True])
     if not o["nesterov"] or (o["momentum"] and not o["dampening"])]
    + [("Adam", o) for o in _grid(amsgrad=[False, True], weight_decay=[0, 0.1],
                                   maximize=[False, True], decoupled_weight_decay=[False, True])]
    + [("Adam", {"betas": (0.5, 0.8), "eps": 1e-3})]
    + [("AdamW", o) for o in _grid(amsgrad=[False, True], weight_decay=[0.01, 0.2],
                                    maximize=[False, True])]
    + [("RMSprop", o) for o in _grid(centered=[False, True], momentum=[0, 0.9],
                                      weight_decay=[0, 0.1], maximize=[False, True])]
    + [("RMSprop", {"alpha": 0.5, "eps": 1e-4})]
    + [("Adagrad", o) for o in _grid(lr_decay=[0, 0.1], initial_accumulator_value=[0, 0.5],
                                      weight_decay=[0, 0.1], maximize=[False, True])]
    + [("Adagrad", {"eps": 1e-3})]
    + [("Adadelta", o) for o in _grid(rho=[0.9, 0.5], weight_decay=[0, 0.1],
                                       maximize=[False, True])]
    + [("Adadelta", {"eps": 1e-3, "lr": 0.5})]
)


def _problem(dtype=np.float64, seed=0):
    """Initial values and loss coefficients: f(x) = sum(a * (x - t)**2 / 2 + 0.1 * x**4)."""
    rng = np.random.default_rng(seed)
    inits = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    coefs = [(rng.uniform(0.5, 2, size=s).astype(dtype), rng.normal(size=s).astype(dtype))
             for s in SHAPES]
    return inits, coefs


def _set_dg_grads(params, coefs, skip_last=True):
    """Gradients of f at deepgrad's parameters, computed in NumPy (the last param gets none)."""
    for i, (p, (a, t)) in enumerate(zip(params, coefs)):
        x = p.array
        p.grad = None if skip_last and i == len(params) - 1 else dg.tensor(a * (x - t) + 0.4 * x**3)


def _set_torch_grads(params, coefs, skip_last=True):
    for p in params:
        p.grad = None
    used = params[:-1] if skip_last else params
    loss = sum(((torch.from_numpy(a) * (p - torch.from_numpy(t)) ** 2) / 2 + 0.1 * p**4).sum()
               for p, (a, t) in zip(used, coefs))
    loss.backward()


def _pair(name, options, dtype=np.float64, groups=None, seed=0):
    """The same parameters and optimizer in deepgrad and torch."""
    inits, coefs = _problem(dtype, seed)
    dg_params = [dg.tensor(x, requires_grad=True) for x in inits]
    torch_params = [torch.tensor(x, requires_grad=True) for x in inits]
    options = {"lr": LR[name], **options}
    if groups is None:
        dg_opt = getattr(optim, name)(dg_params, **options)
        torch_opt = getattr(torch.optim, name)(torch_params, **options)
    else:
        dg_opt = getattr(optim, name)(
            [{**g, "params": [dg_params[i] for i in idx]} for idx, g in groups], **options)
        torch_opt = getattr(torch.optim, name)(
            [{**g, "params": [torch_params[i] for i in idx]} for idx, g in groups], **options)
    return dg_params, dg_opt, torch_params, torch_opt, coefs


def _run(dg_params, dg_opt, torch_params, torch_opt, coefs, steps, rtol, atol):
    for _ in range(steps):
        _set_dg_grads(dg_params, coefs)
        _set_torch_grads(torch_params, coefs)
        dg_opt.step()
        torch_opt.step()
        for p, q in zip(dg_params, torch_params):
            np.testing.assert_allclose(p.array, q.detach().numpy(), rtol=rtol, atol=atol)


def _assert_same_state(dg_opt, torch_opt, rtol, atol):
    """Same state keys per parameter and close values; same option keys per group."""
    mine, theirs = dg_opt.state_dict(), torch_opt.state_dict()
    assert mine["state"].keys() == theirs["state"].keys()
    for index, state in theirs["state"].items():
        assert mine["state"][index].keys() == state.keys()
        for key, value in state.items():
            np.testing.assert_allclose(mine["state"][index][key].array, value.numpy(),
                                       rtol=rtol, atol=atol, err_msg=key)
    for g, h in zip(mine["param_groups"], theirs["param_groups"]):
        assert g.keys() == h.keys()
        assert g["params"] == h["params"]


@pytest.mark.parametrize("name,options", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_trajectory_matches_torch_float64(name, options):
    pair = _pair(name, options)
    _run(*pair, steps=6, rtol=1e-9, atol=1e-12)
    _assert_same_state(pair[1], pair[3], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(pair[0][-1].array, pair[2][-1].detach().numpy())


FLOAT32_CASES = [
    ("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("SGD", {"momentum": 0.9, "dampening": 0.3, "maximize": True}),
    ("Adam", {"amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"amsgrad": False}),
    ("RMSprop", {"centered": True, "momentum": 0.9, "weight_decay": 0.1}),
    ("Adagrad", {"lr_decay": 0.1, "initial_accumulator_value": 0.5}),
    ("Adadelta", {"weight_decay": 0.1}),
]


@pytest.mark.parametrize("name,options", FLOAT32_CASES)
def test_float32_trajectory_and_dtypes(name, options):
    pair = _pair(name, options, dtype=np.float32)
    _run(*pair, steps=6, rtol=1e-5, atol=1e-6)
    dg_params, dg_opt = pair[0], pair[1]
    assert all(p.array.dtype == np.float32 for p in dg_params)
    for state in dg_opt.state.values():
        assert all(v.array.dtype == np.float32 for v in state.values())
    _assert_same_state(dg_opt, pair[3], rtol=1e-5, atol=1e-6)


GROUP_CASES = [
    ("SGD", {"momentum": 0.9}, [([0], {"lr": 0.1, "nesterov": True}),
                                ([1, 2], {"momentum": 0.5, "dampening": 0.2,
                                          "weight_decay": 0.1})]),
    ("Adam", {}, [([0], {"amsgrad": True, "betas": (0.8, 0.9)}),
                  ([1, 2], {"lr": 0.01, "weight_decay": 0.1, "maximize": True})]),
    ("AdamW", {}, [([0, 2], {"weight_decay": 0.3}), ([1], {"eps": 1e-2})]),
    ("RMSprop", {"momentum": 0.5}, [([0], {"centered": True}), ([1, 2], {"alpha": 0.9})]),
    ("Adagrad", {}, [([0], {"lr_decay": 0.2}), ([1, 2], {"lr": 0.3, "weight_decay": 0.1})]),
    ("Adadelta", {}, [([0], {"rho": 0.5}), ([1, 2], {"lr": 0.3, "eps": 1e-4})]),
]


@pytest.mark.parametrize("name,options,groups", GROUP_CASES, ids=[c[0] for c in GROUP_CASES])
def test_param_groups_with_their_own_options(name, options, groups):
    pair = _pair(name, options, groups=groups)
    assert len(pair[1].param_groups) == 2
    _run(*pair, steps=5, rtol=1e-9, atol=1e-12)
    _assert_same_state(pair[1], pair[3], rtol=1e-9, atol=1e-12)


ROUND_TRIP_CASES = [
    ("SGD", {"momentum": 0.9, "weight_decay": 0.1, "nesterov": True}),
    ("Adam", {"amsgrad": True}),
    ("AdamW", {"weight_decay": 0.1}),
    ("RMSprop", {"centered": True, "momentum": 0.9}),
    ("Adagrad", {"lr_decay": 0.1}),
    ("Adadelta", {"rho": 0.8}),
]


@pytest.mark.parametrize("name,options", ROUND_TRIP_CASES)
def test_state_dict_round_trip_continues_the_same_trajectory(name, options):
    inits, coefs = _problem()
    params = [dg.tensor(x, requires_grad=True) for x in inits]
    opt = getattr(optim, name)(params, lr=LR[name], **options)
    for _ in range(3):
        _set_dg_grads(params, coefs)
        opt.step()
    saved = copy.deepcopy(opt.state_dict())
    clones = [dg.tensor(p.array.copy(), requires_grad=True) for p in params]
    restored = getattr(optim, name)(clones, lr=123.0)  # options come from the state dict
    restored.load_state_dict(saved)
    assert restored.param_groups[0]["lr"] == LR[name]
    assert restored.param_groups[0]["params"][0] is clones[0]
    for _ in range(3):
        for ps, o in ((params, opt), (clones, restored)):
            _set_dg_grads(ps, coefs)
            o.step()
        for p, q in zip(params, clones):
            np.testing.assert_array_equal(p.array, q.array)
    # the restored optimizer owns copies, not the dict's arrays
    for index, state in restored.state_dict()["state"].items():
        for key, value in state.items():
            assert value.array is not saved["state"][index][key].array


@pytest.mark.parametrize("name,options", ROUND_TRIP_CASES)
def test_state_dicts_move_between_torch_and_deepgrad(name, options):
    """torch's state dict loads into deepgrad (tensors read through __array__) and back."""
    dg_params, dg_opt, torch_params, torch_opt, coefs = _pair(name, options)
    for _ in range(3):
        _set_torch_grads(torch_params, coefs)
        torch_opt.step()
    for p, q in zip(dg_params, torch_params):
        p.array[...] = q.detach().numpy()
    dg_opt.load_state_dict(torch_opt.state_dict())
    _run(dg_params, dg_opt, torch_params, torch_opt, coefs, steps=3, rtol=1e-9, atol=1e-12)

    mine = dg_opt.state_dict()
    as_torch = {"param_groups": mine["param_groups"],
                "state": {i: {k: torch.from_numpy(v.array.copy()) for k, v in s.items()}
                          for i, s in mine["state"].items()}}
    fresh = [torch.tensor(p.array.copy(), requires_grad=True) for p in dg_params]
    torch_again = getattr(torch.optim, name)(fresh, lr=LR[name], **options)
    torch_again.load_state_dict(as_torch)
    _run(dg_params, dg_opt, fresh, torch_again, coefs, steps=3, rtol=1e-9, atol=1e-12)


def _big_param(n=100_000):
    p = dg.tensor(np.linspace(-1, 1, n, dtype=np.float32).reshape(250, -1), requires_grad=True)
    p.grad = dg.tensor(np.cos(np.arange(n, dtype=np.float32)).reshape(p.shape))
    return p


ALLOC_CASES = [
    ("SGD", {"lr": 0.01}),
    ("SGD", {"lr": 0.01, "momentum": 0.9}),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "dampening": 0.1, "maximize": True}),
    ("Adam", {"amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"maximize": True}),
    ("RMSprop", {"centered": True, "momentum": 0.9, "weight_decay": 0.1}),
    ("Adagrad", {"lr_decay": 0.1, "weight_decay": 0.1}),
    ("Adadelta", {"weight_decay": 0.1, "maximize": True}),
]


@pytest.mark.parametrize("name,options", ALLOC_CASES, ids=[f"{n}-{o}" for n, o in ALLOC_CASES])
def test_a_step_allocates_nothing(name, options):
    p = _big_param()
    opt = getattr(optim, name)([p], **options)
    opt.step()  # creates the state and the scratch arrays
    array = p.array
    buffers = {k: v.array for k, v in opt.state[p].items()}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(3):
            opt.step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak - before < p.array.nbytes // 20  # a temporary would cost a whole nbytes
    assert p.array is array and p.array.dtype == np.float32
    assert all(opt.state[p][k].array is buf for k, buf in buffers.items())


def test_scratch_memory_is_shared_between_parameters():
    params = [_big_param(), _big_param(1000), _big_param(10_000)]
    opt = optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1)
    opt.step()
    flat = opt._scratch._flat[np.dtype(np.float32)]
    assert flat.size == 2 * params[0].numel()


def test_zero_grad():
    p = dg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = dg.tensor([3.0, 4.0])
    grad_array = p.grad.array
    opt.zero_grad(set_to_none=False)
    assert p.grad.array is grad_array and (grad_array == 0).all()
    opt.zero_grad()
    assert p.grad is None


def test_step_with_a_closure_returns_the_loss_and_computes_with_grad():
    p = dg.tensor([1.0, -2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with dg.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0
    np.testing.assert_allclose(p.array, [0.8, -1.6], rtol=1e-6)


def test_trains_a_small_mlp_like_torch():
    """Real backward passes in both frameworks, SGD with momentum then Adam."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(16, 5)), rng.normal(size=(16, 1))
    shapes = [(5, 8), (8,), (8, 1), (1,)]
    inits = [rng.normal(size=s) * 0.5 for s in shapes]
    for name, options in [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.01})]:
        ps = [dg.tensor(a, requires_grad=True) for a in inits]
        qs = [torch.tensor(a, requires_grad=True) for a in inits]
        opt, topt = getattr(optim, name)(ps, **options), getattr(torch.optim, name)(qs, **options)
        for _ in range(5):
            for params, o, lib in ((ps, opt, dg), (qs, topt, torch)):
                o.zero_grad()
                xt, yt = lib.tensor(x), lib.tensor(y)
                h = (xt @ params[0] + params[1]).relu()
                ((h @ params[2] + params[3] - yt) ** 2).mean().backward()
                o.step()
            for p, q in zip(ps, qs):
                np.testing.assert_allclose(p.array, q.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_params_as_named_pairs_keep_their_names():
    p, q = dg.tensor([1.0], requires_grad=True), dg.tensor([2.0], requires_grad=True)
    opt = optim.Adam([("w", p), ("b", q)])
    assert [id(t) for t in opt.param_groups[0]["params"]] == [id(p), id(q)]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]


def test_add_param_group():
    p, q = dg.tensor([1.0], requires_grad=True), dg.tensor([2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": q, "lr": 0.5})
    assert opt.param_groups[1]["params"][0] is q
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.SGD([p], lr=-1), r"SGD: invalid lr -1"),
    (lambda p: optim.SGD([p], momentum=-0.5), r"SGD: invalid momentum"),
    (lambda p: optim.SGD([p], nesterov=True), r"Nesterov momentum requires a momentum > 0"),
    (lambda p: optim.SGD([p], momentum=0.9, dampening=0.1, nesterov=True), r"zero dampening"),
    (lambda p: optim.SGD([{"params": [p], "lr": -2}]), r"SGD: invalid lr -2"),
    (lambda p: optim.Adam([p], betas=(0.9, 1.0)), r"beta parameter at index 1 1.0"),
    (lambda p: optim.Adam([p], betas=(0.9,)), r"betas"),
    (lambda p: optim.Adam([p], eps=-1e-8), r"Adam: invalid eps"),
    (lambda p: optim.AdamW([p], weight_decay=-0.1), r"AdamW: invalid weight_decay"),
    (lambda p: optim.RMSprop([p], alpha=-0.1), r"RMSprop: invalid alpha"),
    (lambda p: optim.Adagrad([p], lr_decay=-1), r"Adagrad: invalid lr_decay"),
    (lambda p: optim.Adagrad([p], initial_accumulator_value=-1), r"initial_accumulator_value"),
    (lambda p: optim.Adadelta([p], rho=1.5), r"Adadelta: invalid rho 1.5"),
    (lambda p: optim.SGD([], lr=0.1), r"empty parameter list"),
    (lambda p: optim.SGD([p, p], lr=0.1), r"same tensor twice"),
    (lambda p: optim.SGD([p * 2], lr=0.1), r"non-leaf tensor"),
    (lambda p: optim.Adam([p], differentiable=True), r"differentiable=True is not supported"),
])
def test_invalid_options_raise_value_errors_naming_the_optimizer(make, message):
    p = dg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match=message):
        make(p)


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.SGD(p, lr=0.1), r"got one Tensor"),
    (lambda p: optim.SGD({p}, lr=0.1), r"not a set"),
    (lambda p: optim.SGD([p, np.zeros(1)], lr=0.1), r"parameter 1 of the group is a ndarray"),
])
def test_wrong_parameter_containers_raise_type_errors(make, message):
    p = dg.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match=message):
        make(p)


def _trained_sgd(params):
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    for p in params:
        p.grad = dg.ones_like(p)
    opt.step()
    return opt


@pytest.mark.parametrize("change,message", [
    (lambda sd: sd["param_groups"].append({**sd["param_groups"][0], "params": []}),
     r"the state dict has 2 parameter groups, this optimizer has 1"),
    (lambda sd: sd["param_groups"][0]["params"].pop(),
     r"parameter group 0 has 1 parameters in the state dict, 2 here"),
    (lambda sd: sd["param_groups"][0].pop("momentum"),
     r"lacks \['momentum'\]; was it saved from another optimizer class"),
    (lambda sd: sd["state"].update({7: {}}), r"state for parameter 7"),
    (lambda sd: sd["state"][1].update(momentum_buffer=np.zeros((2, 2))),
     r"state 'momentum_buffer' of parameter 1 has shape \(2, 2\), but the parameter has shape"),
    (lambda sd: sd.pop("state"), r"'state' and 'param_groups'"),
])
def test_load_state_dict_names_what_does_not_match(change, message):
    params = [dg.tensor([1.0, 2.0], requires_grad=True), dg.tensor([3.0], requires_grad=True)]
    sd = copy.deepcopy(_trained_sgd(params).state_dict())
    change(sd)
    with pytest.raises(ValueError, match=message):
        optim.SGD(params, lr=0.1, momentum=0.9).load_state_dict(sd)


def test_load_state_dict_casts_state_to_the_parameter_dtype():
    p = dg.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.Adam([p])
    opt.load_state_dict({"state": {0: {"step": 2, "exp_avg": np.ones(3), "exp_avg_sq": np.ones(3)}},
                         "param_groups": [{**opt.state_dict()["param_groups"][0]}]})
    assert opt.state[p]["exp_avg"].array.dtype == np.float32
    assert opt.state[p]["step"].array.dtype == np.float32 and float(opt.state[p]["step"]) == 2
    p.grad = dg.ones_like(p)
    opt.step()
    assert float(opt.state[p]["step"]) == 3


def test_adagrad_uses_each_groups_initial_accumulator_value():
    """torch fills every group from the constructor's value; deepgrad honours the group's."""
    p, q = dg.tensor([1.0], requires_grad=True), dg.tensor([1.0], requires_grad=True)
    opt = optim.Adagrad([{"params": [p]}, {"params": [q], "initial_accumulator_value": 2.0}])
    assert opt.state[p]["sum"].array[0] == 0 and opt.state[q]["sum"].array[0] == 2.0


def test_deepcopy_of_an_optimizer_with_a_scheduler_steps_its_own_parameters():
    p = dg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    optim.lr_scheduler.StepLR(opt, step_size=1)
    twin = copy.deepcopy(opt)
    q = twin.param_groups[0]["params"][0]
    q.grad = dg.ones_like(q)
    twin.step()
    assert p.array[0] == 1.0 and q.array[0] != 1.0

"""Module, Parameter and the containers: registration, traversal, modes, hooks, dtypes,
state dicts and reprs, checked against PyTorch where it has the same thing."""

import copy
from collections import OrderedDict

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn

torch = pytest.importorskip("torch")
tnn = torch.nn


class ReLU(nn.Module):
    """A stand-in with the repr of torch's ReLU, so these tests need no activation module."""

    def forward(self, x):
        return dg.relu(x)


# -- the same models in both frameworks ---------------------------------------------------------
def mlp(lib, act):
    return lib.Sequential(lib.Linear(4, 8), act(), lib.Linear(8, 3))


def build_net(lib, act, ones):
    """A custom module with a parameter, buffers (one non-persistent), nested containers."""

    class Block(lib.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.Linear(3, 3, bias=False)
            self.register_buffer("scale", ones(3))

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.encoder = lib.Sequential(OrderedDict(fc1=lib.Linear(4, 3), act=act()))
            self.register_buffer("running", ones(3))
            self.register_buffer("cache", ones(2), persistent=False)
            self.alpha = lib.Parameter(ones(3))
            self.blocks = lib.ModuleList([Block(), Block()])
            self.heads = lib.ModuleDict({"cls": lib.Linear(3, 2), "reg": lib.Linear(3, 1)})
            self.note = None

        def forward(self, x):
            h = self.encoder(x) * self.alpha
            for b in self.blocks:
                h = b.fc(h) * b.scale
            return self.heads["cls"](h)

    return Net()


def net():
    return build_net(nn, ReLU, dg.ones)


def torch_net():
    return build_net(tnn, tnn.ReLU, torch.ones)


# -- Parameter ----------------------------------------------------------------------------------
def test_parameter_is_a_leaf_tensor_that_requires_grad():
    t = dg.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, dg.Tensor) and p.requires_grad and p.is_leaf
    assert p.array is t.array  # shares memory, as torch's Parameter(t) does
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,) and nn.Parameter().dtype == dg.float32
    y = p * 2
    assert type(y) is dg.Tensor and y.grad_fn is not None


def test_parameter_repr_matches_torch():
    ours = nn.Parameter(dg.tensor([1.0, 2.5]))
    assert repr(ours) == repr(tnn.Parameter(torch.tensor([1.0, 2.5])))


# -- registration -------------------------------------------------------------------------------
def test_attributes_register_and_move_between_kinds():
    m = nn.Module()
    m.w = nn.Parameter(dg.ones(2))
    m.sub = nn.Linear(2, 2)
    m.register_buffer("b", dg.zeros(2))
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"]
    assert list(m._buffers) == ["b"] and m.plain == 3
    assert m.w is m._parameters["w"] and m.sub is m._modules["sub"]
    m.plain = nn.Linear(1, 1)  # a plain attribute's name reused for a module
    assert "plain" not in m.__dict__ and isinstance(m.plain, nn.Linear)
    m.sub = nn.Parameter(dg.ones(1))  # a module's name reused for a parameter
    assert "sub" not in m._modules and list(m._parameters) == ["w", "sub"]
    m.plain = None
    assert m.plain is None and list(m.children()) == []
    with pytest.raises(TypeError, match="cannot assign 'Linear' as parameter 'w'"):
        m.w = nn.Linear(1, 1)  # as in torch: only a Parameter or None replaces a parameter
    del m.b
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'b'"):
        _ = m.b


def test_registration_errors():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        m.weight = dg.ones(2, 2)
    with pytest.raises(TypeError, match="child module"):
        m.register_module("child", nn.Identity())
        m.child = 3
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("in_features", dg.ones(1))
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", dg.ones(1))
    with pytest.raises(TypeError, match="buffer 'x'"):
        m.register_buffer("x", np.ones(2))
    with pytest.raises(TypeError, match="Parameter or None"):
        m.register_parameter("p", dg.ones(2))

    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Forgot()


def test_module_without_forward_says_so():
    with pytest.raises(NotImplementedError, match=r"Module \[ModuleList\] is missing"):
        nn.ModuleList()(dg.ones(1))


# -- traversal ----------------------------------------------------------------------------------
def test_named_parameters_buffers_and_modules_match_torch():
    ours, theirs = net(), torch_net()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [n for n, _ in ours.named_parameters(prefix="net", recurse=False)] == ["net.alpha"]
    assert len(list(ours.parameters())) == 1 + 2 + 2 + 4
    assert len(list(ours.modules())) == len(list(theirs.modules()))


def test_shared_parameters_and_modules_come_once():
    shared = nn.Linear(2, 2)
    m = nn.Sequential(shared, ReLU(), shared)
    assert len(list(m.parameters())) == 2
    assert len(list(m.modules())) == 3  # Sequential, Linear, ReLU
    named = [n for n, _ in m.named_parameters(remove_duplicate=False)]
    assert named == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(m.state_dict()) == named  # torch also keeps both keys


def test_apply_visits_children_first():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2)))
    seen = []
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    assert seen == ["Linear", "Linear", "Sequential", "Sequential"]

    def init(mod):
        if isinstance(mod, nn.Linear):
            mod.weight.array[...] = 1.0

    m.apply(init)
    assert all(np.all(mod.weight.array == 1) for mod in (m[0], m[1][0]))


# -- modes, gradients, dtypes -------------------------------------------------------------------
def test_train_and_eval_reach_every_module():
    m = net()
    assert m.training and all(mod.training for mod in m.modules())
    assert m.eval() is m
    assert not any(mod.training for mod in m.modules())
    m.blocks.train()
    assert m.blocks[0].training and not m.training
    with pytest.raises(ValueError, match="bool"):
        m.train("yes")


def test_zero_grad_and_requires_grad():
    m = mlp(nn, ReLU)
    m(dg.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.array.any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    assert m[0].requires_grad_(False) is m[0]
    m(dg.randn(5, 4)).sum().backward()
    assert m[0].weight.grad is None and m[2].weight.grad is not None


def test_to_float64_casts_in_place_keeping_the_parameter_objects():
    m = net()
    params_before = list(m.parameters())
    m(dg.randn(2, 4)).sum().backward()
    m.register_buffer("steps", dg.tensor(3))
    assert m.to(dg.float64) is m
    assert [id(p) for p in m.parameters()] == [id(p) for p in params_before]
    assert all(p.dtype == dg.float64 for p in m.parameters())
    grads = [p.grad for p in m.parameters() if p.grad is not None]
    assert len(grads) == 7 and all(g.dtype == dg.float64 for g in grads)  # heads.reg has none
    assert m.running.dtype == dg.float64 and m.cache.dtype == dg.float64
    assert m.steps.dtype == dg.int64  # only floating tensors are cast
    assert m(dg.randn(2, 4, dtype=dg.float64)).dtype == dg.float64
    assert m.float().alpha.dtype == dg.float32 and m.double().alpha.dtype == dg.float64
    assert m.to("cpu") is m and m.to("float32").alpha.dtype == dg.float32
    assert m.to(dg.zeros(1, dtype=dg.float64)).alpha.dtype == dg.float64
    with pytest.raises(TypeError, match="floating"):
        m.to(dg.int64)
    with pytest.raises(RuntimeError, match="cuda"):
        m.to("cuda")


# -- hooks --------------------------------------------------------------------------------------
def test_forward_hooks_see_and_may_replace_inputs_and_outputs():
    m = nn.Linear(2, 3)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: calls.append(("pre", args[0].shape)))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(("post", out.shape)))
    x = dg.randn(4, 2)
    m(x)
    assert calls == [("pre", (4, 2)), ("post", (4, 3))]
    h1.remove()
    h2.remove()
    h2.remove()  # removing twice is harmless
    m(x)
    assert len(calls) == 2
    with m.register_forward_pre_hook(lambda mod, args: args[0] * 0):  # a single value: the arg
        with m.register_forward_hook(lambda mod, args, out: out + 1):
            y = m(x)
    np.testing.assert_allclose(y.array, np.broadcast_to(m.bias.array + 1, (4, 3)), rtol=1e-6)
    assert not m._forward_hooks and not m._forward_pre_hooks


# -- state dicts --------------------------------------------------------------------------------
@pytest.mark.parametrize("make, make_torch", [
    (lambda: mlp(nn, ReLU), lambda: mlp(tnn, tnn.ReLU)),
    (net, torch_net),
])
def test_state_dict_keys_match_torch(make, make_torch):
    ours, theirs = make(), make_torch()
    sd = ours.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == list(theirs.state_dict())
    assert all(tuple(sd[k].shape) == tuple(v.shape) for k, v in theirs.state_dict().items())


def test_state_dict_values_are_detached_and_share_memory():
    m = mlp(nn, ReLU)
    sd = m.state_dict()
    assert not sd["0.weight"].requires_grad and type(sd["0.weight"]) is dg.Tensor
    assert sd["0.weight"].array is m[0].weight.array
    assert m.state_dict(keep_vars=True)["0.weight"] is m[0].weight
    assert list(m.state_dict(prefix="model."))[0] == "model.0.weight"


def test_load_torch_state_dict_copies_in_place():
    ours, theirs = net(), torch_net()
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(-1, 1)
        theirs.running.fill_(7.0)
    params = {n: (p, p.array) for n, p in ours.named_parameters()}
    result = ours.load_state_dict(theirs.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for name, tp in theirs.named_parameters():
        p, array = params[name]
        assert getattr_path(ours, name) is p and p.array is array  # the same objects, in place
        np.testing.assert_array_equal(p.array, tp.detach().numpy())
        assert p.dtype == dg.float32 and p.requires_grad
    np.testing.assert_array_equal(ours.running.array, 7.0)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(dg.tensor(x)).array, theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def getattr_path(m, name):
    for part in name.split("."):
        m = m[part] if isinstance(m, nn.ModuleDict) else getattr(m, part)
    return m


def test_load_state_dict_accepts_numpy_and_casts_to_the_parameter_dtype():
    m = nn.Linear(2, 3)
    w = np.arange(6, dtype=np.float64).reshape(3, 2)
    m.load_state_dict({"weight": w, "bias": [1, 2, 3]})
    assert m.weight.dtype == dg.float32 and m.bias.dtype == dg.float32
    np.testing.assert_array_equal(m.weight.array, w)
    np.testing.assert_array_equal(m.bias.array, [1, 2, 3])
    other = nn.Linear(2, 3)
    other.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(other.weight.array, w)
    assert other.weight.array is not m.weight.array


def test_load_state_dict_strict_and_non_strict():
    m = mlp(nn, ReLU)
    sd = m.state_dict()
    partial = OrderedDict((k, v) for k, v in sd.items() if k != "2.bias")
    partial["extra.weight"] = dg.ones(1)
    with pytest.raises(RuntimeError, match=r"missing keys: 2\.bias") as err:
        m.load_state_dict(partial)
    assert "unexpected keys: extra.weight" in str(err.value)
    result = m.load_state_dict(partial, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["extra.weight"]
    assert result == (["2.bias"], ["extra.weight"])
    # the non-persistent buffer is not saved, so a key for it is unexpected (as in torch)
    assert net().load_state_dict({"cache": dg.ones(2)}, strict=False).unexpected_keys == ["cache"]


def test_load_state_dict_shape_mismatch_names_key_and_shapes_and_copies_nothing():
    m = mlp(nn, ReLU)
    before = m[0].weight.array.copy()
    sd = {k: dg.zeros(*v.shape) for k, v in m.state_dict().items()}
    sd["2.weight"] = dg.zeros(3, 7)
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"2\.weight.*\(3, 7\).*\(3, 8\)"):
            m.load_state_dict(sd, strict=strict)
    np.testing.assert_array_equal(m[0].weight.array, before)


def test_deepcopy_gives_an_independent_model():
    m = net()
    c = copy.deepcopy(m)
    assert isinstance(c.alpha, nn.Parameter) and c.alpha.requires_grad
    assert list(c.state_dict()) == list(m.state_dict())
    c.alpha.array[...] = 5
    assert not np.any(m.alpha.array == 5)
    x = dg.randn(2, 4)
    np.testing.assert_allclose(copy.deepcopy(m)(x).array, m(x).array)


# -- repr ---------------------------------------------------------------------------------------
def test_repr_matches_torch():
    assert repr(mlp(nn, ReLU)) == repr(mlp(tnn, tnn.ReLU))
    assert repr(net()) == repr(torch_net())
    layers = [nn.Linear(2, 2) for _ in range(3)] + [ReLU(), nn.Linear(2, 2, bias=False)]
    tlayers = [tnn.Linear(2, 2) for _ in range(3)] + [tnn.ReLU(), tnn.Linear(2, 2, bias=False)]
    assert repr(nn.ModuleList(layers)) == repr(tnn.ModuleList(tlayers))
    nested = nn.ModuleList([mlp(nn, ReLU), mlp(nn, ReLU)])
    assert repr(nested) == repr(tnn.ModuleList([mlp(tnn, tnn.ReLU), mlp(tnn, tnn.ReLU)]))
    assert repr(nn.ModuleList()) == repr(tnn.ModuleList()) == "ModuleList()"
    m, t = nn.Linear(2, 3), tnn.Linear(2, 3)
    m.register_module("extra", None)
    t.register_module("extra", None)
    assert repr(m) == repr(t)  # a setting line and a child: the multi-line form


# -- summary ------------------------------------------------------------------------------------
def test_summary_tabulates_shapes_and_parameter_counts(capsys):
    m = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), ReLU(), nn.Sequential(nn.Linear(5, 2)))
    m[1].requires_grad_(False)
    s = m.summary((3, 4))
    printed = capsys.readouterr().out
    assert printed.strip() == str(s).strip()
    assert [(r.name, r.type, r.output_shape, r.num_params) for r in s.layers] == [
        ("0", "Flatten", (1, 12), 0), ("1", "Linear", (1, 5), 65),
        ("2", "ReLU", (1, 5), 0), ("3.0", "Linear", (1, 2), 12)]
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (77, 12, 65)
    assert "1 (Linear)" in printed and "(1, 5)" in printed and "Total params: 77" in printed
    assert "Non-trainable params: 65" in printed
    assert m.training and m[3][0].training  # modes restored
    assert m[1].weight.grad is None and not m._forward_hooks and not m[1]._forward_hooks


def test_summary_of_a_single_layer_and_a_model_with_own_parameters():
    s = nn.Linear(3, 2).summary(3, print_fn=None)
    assert [(r.name, r.type, r.output_shape, r.num_params) for r in s.layers] == [
        ("", "Linear", (1, 2), 8)]
    assert "Linear" in str(s)
    s = net().summary((4,), print_fn=None)
    assert s.total_params == sum(p.numel() for p in net().parameters())
    assert sum(r.num_params for r in s.layers) == s.total_params - 4  # heads.reg is not called
    names = [r.name for r in s.layers]
    assert names[:2] == ["encoder.fc1", "encoder.act"] and names[-1] == ""


# -- containers ---------------------------------------------------------------------------------
def test_sequential_indexing_and_editing():
    a, b, c = nn.Linear(2, 3), ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and list(s) == [a, b, c] and s[0] is a and s[-1] is c
    tail = s[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c]
    assert list(tail._modules) == ["1", "2"]  # slices keep the names, as in torch
    with pytest.raises(IndexError, match="index 3 is out of range"):
        _ = s[3]
    x = dg.randn(4, 2)
    np.testing.assert_allclose(s(x).array, c(b(a(x))).array)
    d = ReLU()
    s.append(d)
    s.insert(0, nn.Identity())
    assert [type(m).__name__ for m in s] == ["Identity", "Linear", "ReLU", "Linear", "ReLU"]
    assert s.pop(0).__class__ is nn.Identity and list(s._modules) == ["0", "1", "2", "3"]
    del s[-1]
    s[1] = nn.Identity()
    assert [type(m).__name__ for m in s] == ["Linear", "Identity", "Linear"]
    assert len(list(s.parameters())) == 4
    assert len(s + nn.Sequential(d)) == 4


def test_sequential_from_ordered_dict_names_its_layers():
    s = nn.Sequential(OrderedDict(fc1=nn.Linear(2, 3), act=ReLU(), fc2=nn.Linear(3, 1)))
    t = tnn.Sequential(OrderedDict(fc1=tnn.Linear(2, 3), act=tnn.ReLU(), fc2=tnn.Linear(3, 1)))
    assert isinstance(s.fc1, nn.Linear) and s[2] is s.fc2
    assert list(s.state_dict()) == list(t.state_dict()) == [
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert repr(s) == repr(t)
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.Linear(1, 1), 3)


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2)])
    layers.append(nn.Linear(2, 3))
    layers.extend([ReLU()])
    layers.insert(1, nn.Identity())
    layers += [nn.Linear(3, 1)]
    assert [type(m).__name__ for m in layers] == ["Linear", "Identity", "Linear", "ReLU", "Linear"]
    assert layers[-1] is layers[4] and isinstance(layers[1:3], nn.ModuleList)
    assert [n for n, _ in layers.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    del layers[1]
    assert list(layers._modules) == ["0", "1", "2", "3"]
    assert [type(m).__name__ for m in layers] == ["Linear", "Linear", "ReLU", "Linear"]
    x = dg.randn(3, 2)
    for m in layers:
        x = m(x)
    assert x.shape == (3, 1)
    with pytest.raises(IndexError, match="ModuleList"):
        _ = layers[10]


def test_module_dict():
    d = nn.ModuleDict({"a": nn.Linear(1, 2)})
    d["b"] = ReLU()
    d.update([("c", nn.Identity())])
    assert list(d) == list(d.keys()) == ["a", "b", "c"] and len(d) == 3
    assert "b" in d and "z" not in d and d["a"] is d.a
    assert [type(v).__name__ for v in d.values()] == ["Linear", "ReLU", "Identity"]
    assert dict(d.items())["c"] is d["c"]
    assert isinstance(d.pop("b"), ReLU) and list(d) == ["a", "c"]
    del d["c"]
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias"]
    with pytest.raises(KeyError):
        _ = d["missing"]
    with pytest.raises(KeyError, match="already exists"):
        d["train"] = nn.Identity()
    d.clear()
    assert len(d) == 0 and list(d.parameters()) == []

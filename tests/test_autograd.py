"""Autograd: graph walk, accumulation, freeing, grad modes, in-place ops in a graph (vs torch)."""

import gc
import weakref

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.autograd import Function

torch = pytest.importorskip("torch")


def _leaf(lib, values, dtype=None):
    return lib.tensor(values, dtype=dtype, requires_grad=True)


# -- the graph walk -----------------------------------------------------------------------------
def test_diamond_graph_gets_every_contribution():
    a = dg.tensor(2.0, requires_grad=True)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad.item() == 4.0


def test_value_used_in_several_branches_matches_torch():
    values = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]

    def f(lib, x):
        y = x * x
        z = y.exp() + y * 3 + y.sin() - x
        return (z * y).sum() + (y / (1 + x * x)).sum()

    ours, theirs = _leaf(dg, values), _leaf(torch, values)
    f(dg, ours).backward()
    f(torch, theirs).backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert ours.grad.dtype == dg.float32


def test_broadcast_gradients_are_summed_back_to_each_shape():
    a, b = _leaf(dg, np.ones((4, 1))), _leaf(dg, np.arange(20.0).reshape(4, 5))
    (a * b).sum().backward()
    assert a.grad.shape == (4, 1) and b.grad.shape == (4, 5)
    np.testing.assert_allclose(a.grad.numpy()[:, 0], np.arange(20.0).reshape(4, 5).sum(1))


def test_output_that_is_a_leaf():
    x = dg.tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_long_chain_backpropagates_without_recursion():
    x = dg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_deleting_a_long_unused_chain_is_fine():
    x = dg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 0.0
    ref = weakref.ref(y.grad_fn)
    del y
    gc.collect()
    assert ref() is None


# -- accumulation, retain_graph, freeing --------------------------------------------------------
def test_gradients_accumulate_across_backward_calls():
    x = _leaf(dg, [1.0, 2.0])
    (x * x).sum().backward()
    first = x.grad
    assert isinstance(first, dg.Tensor) and first.tolist() == [2.0, 4.0]
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]
    assert x.grad.dtype == dg.float32 and not x.grad.requires_grad
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_grad_of_a_leaf_is_a_fresh_array():
    x = _leaf(dg, [1.0, 2.0])
    g = dg.tensor([5.0, 6.0])
    (x * 1).backward(g)
    g.array[0] = 100.0
    assert x.grad.tolist() == [5.0, 6.0]
    x.grad.array[1] = 0.0
    assert g.array[1] == 6.0


def test_retain_graph_allows_a_second_backward():
    x = _leaf(dg, [1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    t = _leaf(torch, [1.0, 2.0])
    (t.exp() * t).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * t.grad.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="already freed.*retain_graph=True"):
        y.backward()


def test_second_backward_through_a_freed_graph_is_an_error():
    x = _leaf(dg, [1.0, 2.0])
    y = x * 2
    z = y.sum()
    z.backward()
    with pytest.raises(RuntimeError, match="freed"):
        z.backward()
    with pytest.raises(RuntimeError, match="freed"):
        (y * 1).sum().backward()  # a new graph on top of the freed part


def test_graph_memory_is_freed_after_backward():
    x = _leaf(dg, [1.0, 2.0])
    y = x * 2
    z = y.exp()
    loss = z.sum()
    inner = weakref.ref(y.grad_fn), weakref.ref(z.grad_fn)
    del y, z
    gc.collect()
    assert all(r() is not None for r in inner)  # the graph keeps them alive until backward
    loss.backward()
    gc.collect()
    assert all(r() is None for r in inner)
    assert loss.grad_fn.next_functions is None


def test_graph_is_kept_with_retain_graph():
    x = _leaf(dg, [1.0])
    y = x * 2
    loss = y.exp().sum()
    ref = weakref.ref(y.grad_fn)
    del y
    loss.backward(retain_graph=True)
    gc.collect()
    assert ref() is not None


def test_non_scalar_backward_needs_a_gradient():
    x = _leaf(dg, [[1.0, 2.0], [3.0, 4.0]])
    y = x * x
    with pytest.raises(RuntimeError, match=r"shape \(2, 2\).*single-element.*gradient="):
        y.backward()
    y.backward(gradient=dg.tensor([[1.0, 0.0], [2.0, 1.0]]))
    t = _leaf(torch, [[1.0, 2.0], [3.0, 4.0]])
    (t * t).backward(gradient=torch.tensor([[1.0, 0.0], [2.0, 1.0]]))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


def test_single_element_non_scalar_backward_is_implicit():
    x = _leaf(dg, [[2.0]])
    (x * x).backward()
    assert x.grad.tolist() == [[4.0]]


def test_gradient_of_the_wrong_shape_is_an_error():
    x = _leaf(dg, [1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\), expected \(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_of_a_tensor_without_graph_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        dg.tensor([1.0]).sum().backward()
    x = _leaf(dg, [1.0])
    with dg.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="no_grad"):
        y.backward()


def test_create_graph_is_a_clear_error():
    x = _leaf(dg, [1.0])
    with pytest.raises(NotImplementedError, match="create_graph"):
        (x * x).sum().backward(create_graph=True)


def test_backward_inputs_limits_accumulation():
    a, b = _leaf(dg, [1.0]), _leaf(dg, [2.0])
    (a * b).sum().backward(inputs=[a])
    assert a.grad.tolist() == [2.0] and b.grad is None


def test_zero_dim_and_empty_tensors():
    x = dg.tensor(3.0, requires_grad=True)
    (x * x).backward()
    assert x.grad.shape == () and x.grad.item() == 6.0
    e = dg.zeros(0, 3, requires_grad=True)
    (e * 2).sum().backward()
    assert e.grad.shape == (0, 3)


# -- autograd.grad ------------------------------------------------------------------------------
def test_autograd_grad_returns_gradients_and_leaves_dot_grad_alone():
    a, b = _leaf(dg, [1.0, 2.0]), _leaf(dg, [3.0, 4.0])
    out = (a * b * b).sum()
    ga, gb = dg.autograd.grad(out, [a, b])
    assert a.grad is None and b.grad is None
    assert ga.tolist() == [9.0, 16.0] and gb.tolist() == [6.0, 16.0]
    assert ga.dtype == dg.float32 and not ga.requires_grad


def test_autograd_grad_allow_unused():
    a, b = _leaf(dg, [1.0]), _leaf(dg, [2.0])
    out = (a * 3).sum()
    with pytest.raises(RuntimeError, match="input 1 was not used.*allow_unused=True"):
        dg.autograd.grad(out, [a, b], retain_graph=True)
    ga, gb = dg.autograd.grad(out, [a, b], allow_unused=True)
    assert ga.tolist() == [3.0] and gb is None


def test_autograd_grad_wrt_a_non_leaf_and_with_grad_outputs():
    x = _leaf(dg, [1.0, 2.0])
    y = x * 3
    z = y * y
    (gy,) = dg.autograd.grad(z, y, grad_outputs=dg.tensor([1.0, 0.5]))
    assert gy.tolist() == [6.0, 6.0]


# -- retain_grad, detach, requires_grad ---------------------------------------------------------
def test_retain_grad_on_a_non_leaf():
    x = _leaf(dg, [1.0, 2.0])
    y = x * 3
    z = x * 4
    y.retain_grad()
    assert y.retains_grad and not z.retains_grad
    (y * y + z).sum().backward()
    assert y.grad.tolist() == [6.0, 12.0]
    assert z.grad is None  # non-leaf without retain_grad, as in torch
    assert x.grad.tolist() == [22.0, 40.0]


def test_retain_grad_on_a_tensor_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="retain_grad"):
        dg.tensor([1.0]).retain_grad()


def test_leaf_and_grad_fn():
    x = _leaf(dg, [1.0])
    c = dg.tensor([2.0])
    assert x.is_leaf and x.grad_fn is None and c.is_leaf
    y = x * c
    assert not y.is_leaf and y.requires_grad and repr(y.grad_fn) == "<MulBackward>"
    z = c * 2
    assert z.is_leaf and z.grad_fn is None and not z.requires_grad


def test_detach_shares_memory_and_cuts_the_graph():
    x = _leaf(dg, [1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.array, y.array)
    (y + d).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    y2 = x * 2
    y2.detach_()
    assert y2.is_leaf and not y2.requires_grad


def test_data_is_detached():
    x = _leaf(dg, [1.0])
    assert not x.data.requires_grad and np.shares_memory(x.data.array, x.array)


def test_requires_grad_flag():
    x = dg.tensor([1.0])
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad = False
    assert not x.requires_grad
    y = _leaf(dg, [1.0]) * 2
    with pytest.raises(RuntimeError, match="non-leaf.*detach"):
        y.requires_grad_(False)


@pytest.mark.parametrize("dtype", [dg.int64, dg.bool, dg.int32])
def test_requires_grad_on_a_non_float_tensor_is_an_error(dtype):
    with pytest.raises(RuntimeError, match=f"floating point.*{dtype.name}"):
        dg.tensor([1], dtype=dtype, requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        dg.tensor([1], dtype=dtype).requires_grad_()


# -- grad modes ---------------------------------------------------------------------------------
def test_no_grad_and_enable_grad_as_nested_context_managers():
    x = _leaf(dg, [1.0])
    with dg.no_grad():
        assert not dg.is_grad_enabled()
        assert (x * 2).grad_fn is None
        with dg.enable_grad():
            assert dg.is_grad_enabled() and (x * 2).grad_fn is not None
            with dg.no_grad():
                assert (x * 2).grad_fn is None
            assert dg.is_grad_enabled()
        assert not dg.is_grad_enabled()
    assert dg.is_grad_enabled()


def test_grad_modes_as_decorators():
    x = _leaf(dg, [1.0])

    @dg.no_grad()
    def evaluate():
        return inner(), x * 2

    @dg.enable_grad()
    def inner():
        return x * 2

    @dg.set_grad_enabled(False)
    def off():
        return dg.is_grad_enabled()

    assert dg.is_grad_enabled()  # decorating changed nothing
    trained, evaluated = evaluate()
    assert trained.requires_grad and not evaluated.requires_grad
    assert off() is False and dg.is_grad_enabled()
    assert evaluate.__name__ == "evaluate"


def test_set_grad_enabled_as_context_manager_and_call():
    with dg.set_grad_enabled(False):
        assert not dg.is_grad_enabled()
        with dg.set_grad_enabled(True):
            assert dg.is_grad_enabled()
        assert not dg.is_grad_enabled()
    assert dg.is_grad_enabled()
    dg.set_grad_enabled(False)
    try:
        assert not dg.is_grad_enabled()
    finally:
        dg.set_grad_enabled(True)
    assert dg.is_grad_enabled()


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ValueError), dg.no_grad():
        raise ValueError
    assert dg.is_grad_enabled()

    @dg.no_grad()
    def fails():
        raise ValueError

    with pytest.raises(ValueError):
        fails()
    assert dg.is_grad_enabled()


# -- in place -----------------------------------------------------------------------------------
LEAF_INPLACE = {
    "add_": lambda x: x.add_(1), "iadd": lambda x: x.__iadd__(1), "mul_": lambda x: x.mul_(2),
    "zero_": lambda x: x.zero_(), "fill_": lambda x: x.fill_(3), "copy_": lambda x: x.copy_(x * 1),
    "setitem": lambda x: x.__setitem__(0, 5.0), "clamp_": lambda x: x.clamp_(0, 1),
    "exp_": lambda x: x.exp_(), "masked_fill_": lambda x: x.masked_fill_(x > 0, 0.0),
}


@pytest.mark.parametrize("name", LEAF_INPLACE)
def test_in_place_change_of_a_leaf_that_requires_grad_is_an_error(name):
    x = _leaf(dg, [1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad.*no_grad"):
        LEAF_INPLACE[name](x)
    assert x.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("name", LEAF_INPLACE)
def test_in_place_change_of_a_leaf_under_no_grad_writes_its_memory(name):
    x = _leaf(dg, [1.0, 2.0])
    array = x.array
    with dg.no_grad():
        LEAF_INPLACE[name](x)
    assert x.array is array and x.is_leaf and x.requires_grad
    t = _leaf(torch, [1.0, 2.0])
    with torch.no_grad():
        LEAF_INPLACE[name](t)
    np.testing.assert_allclose(x.numpy(force=True), t.detach().numpy(), rtol=1e-6)


def test_in_place_without_graph_is_seen_through_views():
    y = dg.zeros(4)
    v = y[:2]
    v += 1
    y.view(2, 2)[1] = 5.0
    assert y.tolist() == [1.0, 1.0, 5.0, 5.0]


# (in place op on dg, the same maths out of place in torch: torch refuses some of these because
# it saves values that the in-place op overwrites; deepgrad keeps them valid)
IN_GRAPH = {
    "add_mul_self": (lambda x: _chain(x), lambda x: ((x * 2 + 1) * (x * 2 + 1))),
    "operators": (lambda x: _operators(x), lambda x: (((x * 2 + 1) * 3 - x) / 2) ** 2),
    "exp_add_sigmoid": (lambda x: x.exp().add_(x).sigmoid_(), lambda x: (x.exp() + x).sigmoid()),
    "clamp_masked_fill": (
        lambda x: (x * 1).clamp_(-0.5, 1.5).masked_fill_(x > 1.2, 0.0) * x,
        lambda x: x.clamp(-0.5, 1.5).masked_fill(x > 1.2, 0.0) * x),
    "neg_abs_sqrt": (lambda x: (x * 1).neg_().abs_().add_(1).sqrt_().log_(),
                     lambda x: ((-x).abs() + 1).sqrt().log()),
    "tanh_relu_pow": (lambda x: (x * 3).tanh_().relu_().pow_(2),
                      lambda x: (x * 3).tanh().relu() ** 2),
    "copy_": (lambda x: dg.zeros(3).copy_(x * x), lambda x: x * x),
    "fill_": (lambda x: (x * 2).fill_(4.0) * x, lambda x: torch.full_like(x, 4.0) * x),
}


def _chain(x):
    y = x * 2
    y += 1
    y.mul_(y)
    return y


def _operators(x):
    y = x * 2
    y += 1
    y *= 3
    y -= x
    y /= 2
    y **= 2
    return y


@pytest.mark.parametrize("name", IN_GRAPH)
def test_in_place_ops_inside_a_graph_match_torch(name):
    ours_fn, torch_fn = IN_GRAPH[name]
    values = [-1.0, 0.5, 1.25]
    x, t = _leaf(dg, values), _leaf(torch, values)
    out, ref = ours_fn(x), torch_fn(t)
    weights = [1.0, -2.0, 0.5]
    (out * dg.tensor(weights)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert out.dtype == dg.float32 and x.grad.dtype == dg.float32


def test_in_place_keeps_values_saved_for_backward_valid():
    x = _leaf(dg, [0.5, 2.0])
    y = x * 1
    z = y * y  # saves y
    y.add_(100.0)
    z.sum().backward()
    assert x.grad.tolist() == [1.0, 4.0]


SETITEM = {
    "int": lambda lib, x, w: _set(x, 1, w[0] * 3),
    "slice": lambda lib, x, w: _set(x, slice(1, 3), w[:2] ** 2),
    "scalar_slice": lambda lib, x, w: _set(x, slice(0, None, 2), 7.0),
    "int_tensor": lambda lib, x, w: _set(x, lib.tensor([0, 3]), w[1:3].exp()),
    "bool_mask": lambda lib, x, w: _set(x, x > 0.5, 0.0),
    "broadcast_row": lambda lib, x, w: _set(x.reshape(2, 2) * 1, (slice(None), 0), w[:1] * 2),
    "augmented": lambda lib, x, w: _iadd_slice(x),
}


def _set(x, key, value):
    y = x * 1
    y[key] = value
    return y * x.reshape(y.shape) if y.shape == x.shape else y * y


def _iadd_slice(x):
    y = x * 1
    y[0:2] += x[2:] * 4
    return y * y


@pytest.mark.parametrize("name", SETITEM)
def test_setitem_inside_a_graph_matches_torch(name):
    fn = SETITEM[name]
    xs, ws = [0.25, 1.0, -0.5, 2.0], [1.5, -1.0, 0.5, 3.0]
    x, w, t, tw = _leaf(dg, xs), _leaf(dg, ws), _leaf(torch, xs), _leaf(torch, ws)
    out, ref = fn(dg, x, w), fn(torch, t, tw)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-6)
    for ours, theirs in ((x, t), (w, tw)):
        if theirs.grad is None:
            assert ours.grad is None
        else:
            np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6)


def test_setitem_of_a_plain_tensor_with_a_value_that_requires_grad():
    w = _leaf(dg, [2.0])
    y = dg.zeros(3)
    y[1] = w * 3
    assert y.requires_grad and not y.is_leaf
    (y * dg.tensor([1.0, 5.0, 1.0])).sum().backward()
    assert w.grad.tolist() == [15.0]


def test_in_place_on_a_view_inside_a_graph_changes_the_base():
    x = _leaf(dg, [1.0, 2.0, 3.0])
    y = x * 1
    v = y[:2]
    v.mul_(2)
    assert y.tolist() == [2.0, 4.0, 3.0]


# -- custom primitives and gradcheck ------------------------------------------------------------
class Cube(Function):
    __slots__ = ("x",)

    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, g):
        return g * 3 * self.x ** 2


class WrongCube(Cube):
    __slots__ = ()

    def backward(self, g):
        return g * 2 * self.x ** 2


class Scale(Function):
    __slots__ = ()

    def forward(self, x, y, factor):
        return x * y * factor

    def backward(self, g):
        assert self.needs_input_grad == (True, False)
        return g, None


def test_custom_function_and_gradcheck():
    x = dg.tensor([[0.5, -1.2], [2.0, 0.3]], dtype=dg.float64, requires_grad=True)
    assert dg.autograd.gradcheck(Cube.apply, [x])
    assert repr(Cube.apply(x).grad_fn) == "<CubeBackward>"
    with pytest.raises(AssertionError, match="Jacobian mismatch"):
        dg.autograd.gradcheck(WrongCube.apply, [x])
    assert dg.autograd.gradcheck(WrongCube.apply, [x], raise_exception=False) is False


def test_apply_with_plain_values_and_options():
    x = _leaf(dg, [1.0, 2.0])
    y = Scale.apply(x, 3.0, factor=2)
    assert y.tolist() == [6.0, 12.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_gradcheck_wants_float64_inputs_that_require_grad():
    with pytest.raises(TypeError, match="float64"):
        dg.autograd.gradcheck(Cube.apply, [_leaf(dg, [1.0])])
    with pytest.raises(ValueError, match="no input requires grad"):
        dg.autograd.gradcheck(Cube.apply, [dg.tensor([1.0], dtype=dg.float64)])


def test_saved_arrays_are_released_after_backward():
    x = _leaf(dg, [1.0, 2.0])
    y = Cube.apply(x)
    node = y.grad_fn
    y.sum().backward()
    assert node.x is None and node.next_functions is None

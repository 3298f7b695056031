"""Pooling: primitives (gradcheck + torch oracle, indices included), modules vs torch, reprs,
NaN and ties, errors."""

import numpy as np
import pytest
from harness import Case, OpSpec, assert_same, make_tests, optional_torch

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn

torch = optional_torch()
TF = torch.nn.functional if torch else None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

X = (2, 3, 7, 8)  # odd and even sizes: uneven windows, ceil_mode differences


def max_pool2d_cases() -> list:
    return [
        Case(X, kernel_size=2),
        Case(X, kernel_size=3, stride=2, padding=1),
        Case(X, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
        Case(X, kernel_size=2, stride=1),                       # overlapping windows
        Case(X, kernel_size=3, stride=2, ceil_mode=True),
        Case(X, kernel_size=2, stride=2, padding=1, ceil_mode=True),
        Case(X, kernel_size=3, stride=1, padding=1, dilation=2),
        Case(X, kernel_size=(2, 3), stride=(3, 2), dilation=(2, 1), ceil_mode=True),
        Case((3, 5, 6), kernel_size=2),                          # unbatched
        Case((1, 1, 4, 4), kernel_size=4),                       # one window: global max
        Case(X, kernel_size=3, stride=2, padding=1, return_indices=True),
        Case(X, kernel_size=2, stride=1, ceil_mode=True, dilation=2, return_indices=True),
    ]


def avg_pool2d_cases() -> list:
    return [
        Case(X, kernel_size=2),
        Case(X, kernel_size=3, stride=2, padding=1),
        Case(X, kernel_size=3, stride=2, padding=1, count_include_pad=False),
        Case(X, kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True),
        Case(X, kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        Case(X, kernel_size=2, stride=1),
        Case(X, kernel_size=2, divisor_override=3),
        Case((3, 5, 6), kernel_size=2, stride=1),
    ]


def unpool(x, padding=0):
    out, idx = F.max_pool2d(x, 2, padding=padding, return_indices=True)
    return F.max_unpool2d(out, idx, 2, padding=padding, output_size=x.shape[-2:])


def torch_unpool(x, padding=0):
    out, idx = TF.max_pool2d(x, 2, padding=padding, return_indices=True)
    return TF.max_unpool2d(out, idx, 2, padding=padding, output_size=x.shape[-2:])


SPECS = [
    OpSpec("max_pool2d", F.max_pool2d, max_pool2d_cases(),
           torch_fn=lambda x, **kw: TF.max_pool2d(x, **kw)),
    OpSpec("max_pool1d", F.max_pool1d, [
        Case((2, 3, 9), kernel_size=2),
        Case((2, 3, 9), kernel_size=3, stride=2, padding=1, return_indices=True),
        Case((2, 3, 9), kernel_size=2, stride=1, dilation=3, ceil_mode=True),
        Case((3, 8), kernel_size=3, stride=2, ceil_mode=True, return_indices=True),
    ], torch_fn=lambda x, **kw: TF.max_pool1d(x, **kw)),
    OpSpec("avg_pool2d", F.avg_pool2d, avg_pool2d_cases(),
           torch_fn=lambda x, **kw: TF.avg_pool2d(x, **kw)),
    OpSpec("adaptive_avg_pool2d", F.adaptive_avg_pool2d, [
        Case(X, output_size=1), Case(X, output_size=(7, 4)), Case(X, output_size=(3, 5)),
        Case(X, output_size=(5, 8)), Case(X, output_size=(None, 3)), Case((3, 5, 6), output_size=4),
        Case(X, output_size=(9, 11), label="larger-than-input"),
    ], torch_fn=lambda x, **kw: TF.adaptive_avg_pool2d(x, **kw)),
    OpSpec("adaptive_max_pool2d", F.adaptive_max_pool2d, [
        Case(X, output_size=1), Case(X, output_size=(7, 4)), Case(X, output_size=(3, 5)),
        Case(X, output_size=(5, 8), return_indices=True), Case(X, output_size=(None, 3)),
        Case((3, 5, 6), output_size=4, return_indices=True),
    ], torch_fn=lambda x, **kw: TF.adaptive_max_pool2d(x, **kw)),
    OpSpec("max_unpool2d", unpool, [Case(X), Case((3, 6, 5), padding=1)],
           torch_fn=torch_unpool),
]
test_gradcheck, test_oracle = make_tests(SPECS)


# -- modules ------------------------------------------------------------------------------------
MODULES = [
    ("MaxPool2d", (2,), {}, X),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True), X),
    ("MaxPool2d", ((2, 3),), dict(stride=1, dilation=(2, 1), return_indices=True), X),
    ("MaxPool1d", (3,), dict(stride=2, padding=1, return_indices=True), (2, 3, 9)),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, count_include_pad=False), X),
    ("AvgPool2d", (2,), dict(ceil_mode=True, divisor_override=2), X),
    ("AdaptiveAvgPool2d", ((3, 5),), {}, X),
    ("AdaptiveAvgPool2d", ((None, 2),), {}, X),
    ("AdaptiveMaxPool2d", (3,), dict(return_indices=True), X),
]


@needs_torch
@pytest.mark.parametrize("name, args, kwargs, shape", MODULES,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(MODULES)])
def test_module_matches_torch(name, args, kwargs, shape):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x, t = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, ref = ours(x), theirs(t)
    if kwargs.get("return_indices"):
        assert_same(out[1], ref[1], what=f"{name} indices")
        out, ref = out[0], ref[0]
    assert_same(out, ref, what=f"{name} output")
    w = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    (out * dg.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    assert_same(x.grad, t.grad, what=f"{name} grad")


@needs_torch
def test_max_unpool_module_and_reprs():
    for ours, theirs in [(nn.MaxPool2d(3), torch.nn.MaxPool2d(3)),
                         (nn.MaxPool1d(2, 1, 1, 2, True, True), torch.nn.MaxPool1d(2, 1, 1, 2, True,
                                                                                   True)),
                         (nn.AvgPool2d((2, 3), 1, 1), torch.nn.AvgPool2d((2, 3), 1, 1)),
                         (nn.AdaptiveMaxPool2d((None, 3)), torch.nn.AdaptiveMaxPool2d((None, 3))),
                         (nn.MaxUnpool2d(2), torch.nn.MaxUnpool2d(2))]:
        assert repr(ours) == repr(theirs)
    a = np.random.default_rng(2).standard_normal(X).astype(np.float32)
    out, idx = nn.MaxPool2d(2, return_indices=True)(dg.tensor(a))
    ref, ridx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(a))
    assert_same(nn.MaxUnpool2d(2)(out, idx), torch.nn.MaxUnpool2d(2)(ref, ridx))


def test_cnn_stack_keeps_float32_and_shapes():
    model = nn.Sequential(nn.MaxPool2d(2), nn.AvgPool2d(2, ceil_mode=True),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten())
    x = dg.randn(4, 3, 16, 10, requires_grad=True)
    y = model(x)
    assert y.shape == (4, 3) and y.dtype == dg.float32
    y.sum().backward()
    assert x.grad.dtype == dg.float32 and x.grad.shape == x.shape


@needs_torch
def test_ties_pick_the_first_maximum_and_nan_propagates():
    a = np.array([[[[1.0, 1.0, 0.0], [1.0, 0.0, np.nan], [0.0, 2.0, 2.0]]]], np.float32)
    for kw in [dict(kernel_size=2, stride=1), dict(kernel_size=3, padding=1)]:
        out, idx = F.max_pool2d(dg.tensor(a), return_indices=True, **kw)
        ref, ridx = TF.max_pool2d(torch.tensor(a), return_indices=True, **kw)
        assert_same(out, ref)
        assert_same(idx, ridx)
    out, idx = F.adaptive_max_pool2d(dg.tensor(np.nan_to_num(a)), 2, return_indices=True)
    ref, ridx = TF.adaptive_max_pool2d(torch.tensor(np.nan_to_num(a)), 2, return_indices=True)
    assert_same(out, ref)
    assert_same(idx, ridx)


def test_overlapping_windows_accumulate_gradients():
    x = dg.tensor([[[[0.0, 5.0, 1.0], [2.0, 3.0, 4.0]]]], requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()  # 5 is the max of both windows
    np.testing.assert_array_equal(x.grad.array, [[[[0, 2, 0], [0, 0, 0]]]])


@pytest.mark.parametrize("call, match", [
    (lambda x: F.max_pool2d(x, 0), "kernel_size must be at least 1"),
    (lambda x: F.max_pool2d(x, 2, padding=2), "padding"),
    (lambda x: F.max_pool2d(x, 9), r"input of shape \(2, 3, 7, 8\) is too small"),
    (lambda x: F.max_pool2d(x[0, 0, 0], 2), r"max_pool2d: expected .* got shape \(8,\)"),
    (lambda x: F.max_pool2d(x, (2, 2, 2)), "tuple of 2 ints"),
    (lambda x: F.avg_pool2d(x, 2, stride=0), "stride must be at least 1"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), "divisor_override"),
    (lambda x: F.max_pool1d(x, 2), r"max_pool1d: expected .* got shape \(2, 3, 7, 8\)"),
    (lambda x: F.adaptive_avg_pool2d(x, 0), "output_size must hold positive ints"),
    (lambda x: F.adaptive_max_pool2d(x, (1, 2, 3)), "output_size must be an int or a pair"),
    (lambda x: F.max_unpool2d(x, dg.zeros(2, 3, 7, 8, dtype=dg.int64) + 300, 2),
     r"indices must lie in \[0, 224\)"),
    (lambda x: F.max_unpool2d(x, dg.zeros(2, 3, 7, 8, dtype=dg.int64), 2, output_size=(9, 9)),
     r"output_size \(9, 9\).*between \(13, 15\) and \(15, 17\)"),
])
def test_errors_name_the_operation_and_values(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(dg.randn(*X))


def test_integer_input_is_refused():
    with pytest.raises(TypeError, match="max_pool2d: needs a floating point input, got"):
        F.max_pool2d(dg.zeros(1, 1, 4, 4, dtype=dg.int64), 2)


@pytest.mark.parametrize("call", [
    lambda x: F.max_pool2d(x, 2), lambda x: F.max_pool2d(x, 3, 1), lambda x: F.avg_pool2d(x, 2),
    lambda x: F.adaptive_avg_pool2d(x, (4, 5)), lambda x: F.adaptive_max_pool2d(x, (4, 5)),
    lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2),
])
def test_empty_batch(call):
    x = dg.randn(0, 3, 6, 6, requires_grad=True)
    y = call(x)
    assert y.shape[:2] == (0, 3)
    y.sum().backward()
    assert x.grad.shape == x.shape


# -- the compiled kernel (deepgrad.ops.fused.max_pool): channels-last batches, windows that
# neither overlap nor need padding, as after a convolution ------------------------------------
KERNEL_CASES = [  # (options, whether the kernel takes them)
    (dict(kernel_size=2), True), (dict(kernel_size=3), True),
    (dict(kernel_size=2, stride=3), True),
    (dict(kernel_size=(3, 2), stride=(3, 2), ceil_mode=True), True),  # every window inside
    (dict(kernel_size=(2, 3), stride=(2, 4), ceil_mode=True), False),  # the last reaches past
    (dict(kernel_size=2, stride=1), False), (dict(kernel_size=2, padding=1), False)]


def channels_last_batch(dtype=np.float32, seed=0):
    """A (2, 5, 9, 8) batch laid out (N, H, W, C), with a NaN, an inf and ties."""
    x = np.random.default_rng(seed).standard_normal((2, 9, 8, 5)).astype(dtype)
    x[0, 1, 1, 2], x[1, 4, 4, 0], x[1, 0, :2, 3] = np.nan, np.inf, 7.0
    return np.moveaxis(x, -1, 1)


@needs_torch
@pytest.mark.parametrize("options, taken", KERNEL_CASES)
def test_compiled_max_pool_matches_torch_and_numpy(options, taken, monkeypatch):
    from deepgrad.ops import fused

    if not fused.available():
        pytest.skip("Numba is not installed")
    x = channels_last_batch()
    results = []
    for kernels in (True, False):
        if not kernels:
            monkeypatch.setattr(fused, "available", lambda: False)
        tx = dg.tensor(x, requires_grad=True)
        y, idx = F.max_pool2d(tx, return_indices=True, **options)
        assert y.grad_fn.by_kernel == (kernels and taken)
        g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
        y.backward(dg.tensor(g))
        results.append((y, idx, tx.grad))
    ref_x = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    ref, ref_idx = TF.max_pool2d(ref_x, return_indices=True, **options)
    ref.backward(torch.tensor(g))
    for y, idx, gx in results:
        assert_same(y, ref)
        assert_same(idx, ref_idx)
        assert_same(gx, ref_x.grad)


def test_compiled_max_pool_gradcheck():
    from deepgrad.ops import fused

    if not fused.available():
        pytest.skip("Numba is not installed")
    x = dg.tensor(np.moveaxis(np.random.default_rng(2).standard_normal((2, 6, 6, 3)), -1, 1),
                  requires_grad=True)  # float64, channels-last, no ties
    assert F.max_pool2d(x, 2).grad_fn.by_kernel
    assert dg.autograd.gradcheck(lambda t: F.max_pool2d(t, 2, stride=3), (x,))

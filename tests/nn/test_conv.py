"""Convolutions: the ConvNd / ConvTransposeNd primitives through F.conv*d and
F.conv_transpose*d (gradcheck and torch oracle for every option), the layers, and the errors."""

import math

import numpy as np
import pytest
from harness import Case, OpSpec, assert_same, make_tests

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _spec(name, ours, theirs, cases):
    """An OpSpec for a convolution: inputs (x, w) or (x, w, bias), options as keywords."""
    return OpSpec(name, lambda *t, **kw: ours(*t, **kw), cases,
                  torch_fn=lambda *t, **kw: theirs(*t, **kw), rtol=1e-4, atol=1e-5)


SPECS = [
    _spec("conv1d", F.conv1d, TF.conv1d, [
        Case((2, 3, 7), (4, 3, 3), (4,)),
        Case((2, 3, 7), (4, 3, 3), (4,), stride=2, padding=1),
        Case((2, 3, 8), (4, 3, 4), stride=1, padding="same", dilation=2),
        Case((2, 3, 7), (4, 3, 2), (4,), padding="valid", dilation=3),
        Case((2, 3, 7), (6, 1, 3), (6,), groups=3, padding=2, stride=3),  # depthwise
        Case((3, 7), (4, 3, 3), (4,), padding=1),  # unbatched
        Case((2, 3, 7), (4, 3, 1), (4,)),  # pointwise: the image is the im2col matrix
        Case((2, 4, 7), (2, 4, 3), padding=2, dilation=2),  # input gradient by convolution
    ]),
    _spec("conv2d", F.conv2d, TF.conv2d, [
        Case((2, 3, 6, 5), (4, 3, 3, 3), (4,)),
        Case((2, 3, 7, 6), (4, 3, 3, 2), (4,), stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
        Case((2, 3, 6, 5), (4, 3, 2, 4), (4,), padding="same", dilation=(2, 1)),
        Case((2, 3, 5, 5), (4, 3, 3, 3), padding="same"),
        Case((2, 3, 6, 5), (4, 3, 3, 3), (4,), padding="valid", stride=2),
        Case((2, 4, 5, 5), (6, 2, 3, 3), (6,), groups=2, padding=1),
        Case((2, 3, 6, 6), (6, 1, 3, 3), (6,), groups=3, stride=2, padding=1),  # depthwise
        Case((2, 3, 5, 5), (3, 1, 3, 3), groups=3, dilation=2, padding=2),
        Case((2, 3, 5, 4), (4, 3, 1, 1), (4,), stride=2),
        Case((3, 5, 5), (4, 3, 3, 3), (4,), padding=1),  # unbatched
        Case((2, 3, 5, 4), (4, 3, 1, 1), (4,)),  # pointwise
        Case((2, 3, 5, 4), (4, 3, 1, 1), padding=(1, 0)),  # pointwise, padded
        Case((2, 3, 5, 5), (4, 3, 3, 3), padding=(3, 1)),  # padding beyond the kernel's reach
        Case((2, 3, 6, 5), (4, 3, 3, 3), dilation=(1, 2), padding=(2, 1), stride=(1, 2)),
        Case((2, 1, 6, 5), (4, 1, 3, 3), (4,)),  # one input channel (its stride is arbitrary)
        # input gradient by convolution (stride 1, out_channels <= in_channels)
        Case((2, 4, 6, 5), (3, 4, 3, 3), (3,), padding=1),
        Case((2, 4, 6, 5), (4, 4, 3, 3), padding="same", dilation=(2, 1)),
        Case((2, 4, 5, 4), (3, 4, 1, 1)),  # pointwise
        Case((2, 4, 6, 5), (2, 4, 2, 3), padding=(2, 1)),  # padding beyond the reach: col2im
        Case((2, 3, 6, 5), (1, 3, 3, 3), padding=1),  # one output channel
    ]),
    _spec("conv3d", F.conv3d, TF.conv3d, [
        Case((1, 2, 4, 5, 3), (3, 2, 2, 3, 2), (3,), stride=(1, 2, 1), padding=1),
    ]),
    _spec("conv_transpose1d", F.conv_transpose1d, TF.conv_transpose1d, [
        Case((2, 4, 5), (4, 3, 3), (3,), stride=2, padding=1, output_padding=1),
        Case((2, 4, 5), (4, 1, 2), groups=4, stride=3, output_padding=2, dilation=2),
    ]),
    _spec("conv_transpose2d", F.conv_transpose2d, TF.conv_transpose2d, [
        Case((2, 4, 4, 3), (4, 3, 3, 3), (3,)),
        Case((2, 4, 4, 3), (4, 3, 3, 3), (3,), stride=2, padding=1, output_padding=1),
        Case((2, 4, 3, 4), (4, 2, 3, 2), (4,), stride=(2, 3), padding=(0, 1),
             output_padding=(1, 2), groups=2, dilation=(1, 2)),
        Case((2, 4, 3, 3), (4, 2, 2, 2), dilation=3, output_padding=2),  # op < dilation
        Case((2, 3, 3, 3), (3, 2, 3, 3), (6,), groups=3, stride=2),  # depthwise
        Case((4, 3, 3), (4, 3, 2, 2), (3,), stride=2, padding=1),  # unbatched
    ]),
    _spec("conv_transpose3d", F.conv_transpose3d, TF.conv_transpose3d, [
        Case((1, 2, 2, 3, 2), (2, 3, 2, 2, 3), (3,), stride=2, padding=(0, 1, 1),
             output_padding=(1, 0, 1)),
    ]),
]

test_gradcheck, test_oracle = make_tests(SPECS)


# The same convolutions with the kernel-offsets path opened to every stride-1, one-group case
# (it is otherwise taken only where it pays: many channels, images large against the kernel).
OFFSET_SPECS = [_spec(f"{s.name}-by-offsets", s.fn, s.torch_fn, list(s.cases)) for s in SPECS
                if s.name in ("conv1d", "conv2d", "conv3d")]
OFFSET_SPECS[-1].cases.append(Case((2, 3, 4, 5, 4), (2, 3, 2, 3, 3), (2,), padding=(1, 0, 1),
                                   dilation=(1, 1, 2)))


@pytest.fixture
def offsets_everywhere(monkeypatch, without_onednn):
    from deepgrad.ops import conv as conv_ops

    monkeypatch.setattr(conv_ops, "_OFFSETS_MIN_CHANNELS", 1)
    monkeypatch.setattr(conv_ops, "_OFFSETS_MAX_WASTE", math.inf)


test_gradcheck_by_offsets, test_oracle_by_offsets = (
    pytest.mark.usefixtures("offsets_everywhere")(t) for t in make_tests(OFFSET_SPECS))


# Where oneDNN is installed it runs the float32 convolutions above (gradcheck, in float64, runs
# deepgrad's own code): the oracle again with it turned off.
@pytest.fixture
def onednn_off(monkeypatch):
    from deepgrad import onednn

    if not onednn.available():
        pytest.skip("oneDNN is not installed: test_oracle already ran deepgrad's own code")
    monkeypatch.setattr(onednn, "available", lambda: False)


test_oracle_without_onednn = pytest.mark.usefixtures("onednn_off")(make_tests(
    [_spec(s.name, s.fn, s.torch_fn, list(s.cases)) for s in SPECS])[1])


def rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# -- layers against PyTorch ---------------------------------------------------------------------
LAYERS = [
    ("Conv1d", (3, 4, 3), {}, (2, 3, 9)),
    ("Conv1d", (4, 8, 3), dict(stride=2, padding="valid", groups=4, bias=False), (2, 4, 9)),
    ("Conv2d", (3, 4, 3), {}, (2, 3, 7, 6)),
    ("Conv2d", (4, 6, (3, 2)), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
     (2, 4, 7, 6)),
    ("Conv2d", (3, 4, 4), dict(padding="same"), (2, 3, 6, 5)),
    ("Conv2d", (3, 3, 3), dict(padding=1, groups=3, bias=False), (3, 5, 5)),
    ("Conv2d", (3, 4, 3), dict(padding=2, padding_mode="reflect"), (2, 3, 6, 5)),
    ("Conv2d", (3, 4, 3), dict(padding="same", padding_mode="replicate"), (2, 3, 6, 5)),
    ("Conv2d", (3, 4, 3), dict(padding=1, padding_mode="circular"), (2, 3, 6, 5)),
    ("ConvTranspose2d", (4, 3, 3), {}, (2, 4, 4, 5)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2),
     (2, 4, 4, 5)),
    ("ConvTranspose2d", (4, 3, 2), dict(dilation=2, bias=False), (4, 3, 3)),
]


@pytest.mark.parametrize("name, args, kwargs, shape", LAYERS,
                         ids=[f"{n}-{i}" for i, (n, *_) in enumerate(LAYERS)])
def test_layer_matches_torch(name, args, kwargs, shape):
    """Torch's weights through load_state_dict: same output, input and parameter gradients,
    all float32, and the same repr."""
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    result = ours.load_state_dict(theirs.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    x, tx = dg.tensor(rand(*shape), requires_grad=True), torch.tensor(rand(*shape),
                                                                     requires_grad=True)
    y, ty = ours(x), theirs(tx)
    g = rand(*ty.shape, seed=1)
    y.backward(dg.tensor(g))
    ty.backward(torch.tensor(g))
    assert_same(y, ty, 1e-5, 1e-5, "output")
    assert_same(x.grad, tx.grad, 1e-5, 1e-5, "input grad")
    for (key, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        assert_same(p.grad, tp.grad, 1e-4, 1e-4, f"{key} grad")


def test_conv_transpose_output_size():
    """output_size picks the output_padding, as in torch; an unreachable size is an error."""
    ours, theirs = nn.ConvTranspose2d(2, 3, 3, stride=3), torch.nn.ConvTranspose2d(2, 3, 3,
                                                                                 stride=3)
    ours.load_state_dict(theirs.state_dict())
    x = rand(1, 2, 4, 4)
    y = ours(dg.tensor(x), output_size=(1, 3, 12, 14))
    assert_same(y, theirs(torch.tensor(x), output_size=(12, 14)), 1e-5, 1e-5)
    with pytest.raises(ValueError, match="output size"):
        ours(dg.tensor(x), output_size=(15, 12))


def test_layer_parameters_and_init():
    """PyTorch's shapes and default init: weight and bias in +-1/sqrt(fan_in), float32."""
    dg.manual_seed(0)
    conv = nn.Conv2d(8, 16, 3, groups=2)
    deconv = nn.ConvTranspose2d(8, 6, (2, 3), groups=2, dtype=dg.float64)
    assert conv.weight.shape == (16, 4, 3, 3) and conv.bias.shape == (16,)
    assert deconv.weight.shape == (8, 3, 2, 3) and deconv.bias.shape == (6,)
    assert conv.weight.dtype == dg.float32 and deconv.weight.dtype == dg.float64
    for layer, fan_in in ((conv, 4 * 9), (deconv, 3 * 6)):
        bound = 1 / math.sqrt(fan_in)
        for p in (layer.weight, layer.bias):
            assert np.abs(p.array).max() <= bound
            assert np.abs(p.array).max() > 0.7 * bound  # drawn from the whole range
    assert [k for k, _ in conv.named_parameters()] == ["weight", "bias"]


def test_cnn_trains_like_torch():
    """Three SGD steps of conv -> relu -> transposed conv: the same weights as torch's."""
    ours = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(),
                         nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, stride=2, padding=1), torch.nn.ReLU(),
                                 torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1,
                                                          output_padding=1))
    ours.load_state_dict(theirs.state_dict())
    x = rand(3, 2, 6, 6)
    for _ in range(3):
        for model, X, lib in ((ours, dg.tensor(x), dg), (theirs, torch.tensor(x), torch)):
            loss = ((model(X) - X) ** 2).mean()
            model.zero_grad()
            loss.backward()
            with lib.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        assert_same(p, tp, 1e-5, 1e-6)


def test_gradient_of_any_layout():
    """Backward takes broadcast, transposed or channels-last gradients (BLAS needs real
    strides), and a conv output feeds another conv."""
    w1, w2 = dg.tensor(rand(4, 3, 3, 3), requires_grad=True), dg.tensor(rand(2, 4, 3, 3))
    x = dg.tensor(rand(2, 3, 8, 8), requires_grad=True)
    y = F.conv2d(F.conv2d(x, w1, padding=1).relu(), w2)
    y.sum().backward()
    tw1, tx = torch.tensor(rand(4, 3, 3, 3), requires_grad=True), torch.tensor(
        rand(2, 3, 8, 8), requires_grad=True)
    TF.conv2d(TF.conv2d(tx, tw1, padding=1).relu(), torch.tensor(rand(2, 4, 3, 3))).sum()\
        .backward()
    assert_same(x.grad, tx.grad, 1e-4, 1e-4)
    assert_same(w1.grad, tw1.grad, 1e-4, 1e-4)


@pytest.mark.usefixtures("without_onednn")
@pytest.mark.parametrize("shape, channels, padding", [((2, 16, 28, 28), 16, 1),
                                                      ((2, 32, 26, 26), 64, 0)])
def test_offsets_path_where_it_pays(shape, channels, padding):
    """A ResNet's first-stage convolution and the MNIST network's second run by kernel
    offsets (forward, weight and input gradients) and match torch and the im2col path."""
    from deepgrad.ops import conv as conv_ops

    x, w, g = rand(*shape), rand(channels, shape[1], 3, 3, seed=1), None
    results = []
    for waste in (conv_ops._OFFSETS_MAX_WASTE, 0.0):  # as configured; then im2col only
        conv_ops_waste, conv_ops._OFFSETS_MAX_WASTE = conv_ops._OFFSETS_MAX_WASTE, waste
        try:
            tx, tw = dg.tensor(x, requires_grad=True), dg.tensor(w, requires_grad=True)
            y = F.conv2d(tx, tw, padding=padding)
            assert y.grad_fn.offsets == (waste > 0)
            g = rand(*y.shape, seed=2) if g is None else g
            y.backward(dg.tensor(g))
        finally:
            conv_ops._OFFSETS_MAX_WASTE = conv_ops_waste
        results.append((y, tx.grad, tw.grad))
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = TF.conv2d(tx, tw, padding=padding)
    ty.backward(torch.tensor(g))
    for ours in results:
        for got, expected, what in zip(ours, (ty, tx.grad, tw.grad), ("out", "gx", "gw")):
            assert_same(got, expected, 1e-4, 1e-3, what)


def test_no_grad_records_nothing():
    x, w = dg.tensor(rand(1, 2, 4, 4), requires_grad=True), dg.tensor(rand(3, 2, 3, 3))
    with dg.no_grad():
        y = F.conv2d(x, w)
    assert y.grad_fn is None and not y.requires_grad


@pytest.mark.usefixtures("without_onednn")
def test_repeated_steps_reuse_buffers_exactly():
    """The im2col matrices saved for backward go back to a pool when the graph is freed and are
    reused by the next step: repeated steps give identical gradients, and a no_grad forward in
    between (which uses scratch memory) does not disturb a recorded graph."""
    from deepgrad.ops import conv as conv_ops

    x = dg.tensor(rand(2, 3, 9, 8), requires_grad=True)
    w = dg.tensor(rand(5, 3, 3, 3, seed=1), requires_grad=True)
    g = rand(2, 5, 9, 8, seed=2)
    grads = []
    for _ in range(3):
        x.grad = w.grad = None
        y = F.conv2d(x, w, padding=1)
        with dg.no_grad():
            F.conv2d(dg.tensor(rand(2, 3, 9, 8, seed=3)), w, padding=1)
        y.backward(dg.tensor(g))
        grads.append((x.grad.numpy().copy(), w.grad.numpy().copy()))
        assert conv_ops._POOL.held > 0  # this step's matrix went back to the pool
    for gx, gw in grads[1:]:
        np.testing.assert_array_equal(gx, grads[0][0])
        np.testing.assert_array_equal(gw, grads[0][1])
    tx, tw = torch.tensor(rand(2, 3, 9, 8), requires_grad=True), torch.tensor(
        rand(5, 3, 3, 3, seed=1), requires_grad=True)
    TF.conv2d(tx, tw, padding=1).backward(torch.tensor(g))
    assert_same(dg.tensor(grads[0][0]), tx.grad, 1e-5, 1e-5)
    assert_same(dg.tensor(grads[0][1]), tw.grad, 1e-4, 1e-4)


@pytest.mark.usefixtures("without_onednn")
@pytest.mark.parametrize("groups,stride", [(1, 1), (2, 2)])
def test_saved_cols_limit_recomputes_the_same_gradients(groups, stride):
    """Past the limit a convolution keeps its input and rebuilds the im2col matrix in
    backward: the same gradients, and the bytes counted as saved go back to 0 whether the
    graph is backpropagated or just dropped."""
    from deepgrad.ops import conv as conv_ops

    x = rand(2, 4, 9, 8)
    w = rand(6, 4 // groups, 3, 3, seed=1)
    g = rand(2, 6, *((9, 8) if stride == 1 else (5, 4)), seed=2)
    limit = conv_ops.get_saved_cols_limit()
    results = []
    try:
        for cap in (1 << 30, 0):
            conv_ops.set_saved_cols_limit(cap)
            tx, tw = dg.tensor(x, requires_grad=True), dg.tensor(w, requires_grad=True)
            y = F.conv2d(tx, tw, padding=1, stride=stride, groups=groups)
            assert (y.grad_fn.cols is None) == (cap == 0)
            assert conv_ops._SAVED.held == (0 if cap == 0 else y.grad_fn.cols.nbytes)
            y.backward(dg.tensor(g))
            results.append((y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()))
            assert conv_ops._SAVED.held == 0
        conv_ops.set_saved_cols_limit(1 << 30)
        y = F.conv2d(dg.tensor(x, requires_grad=True), dg.tensor(w), padding=1, groups=groups)
        assert conv_ops._SAVED.held > 0
        del y  # a graph never backpropagated
        assert conv_ops._SAVED.held == 0
    finally:
        conv_ops.set_saved_cols_limit(limit)
    for kept, rebuilt in zip(*results):
        np.testing.assert_array_equal(kept, rebuilt)
    with pytest.raises(ValueError, match="set_saved_cols_limit"):
        conv_ops.set_saved_cols_limit(-1)


def test_buffer_pool_limits_and_ignores_foreign_arrays():
    from deepgrad.ops.conv import _BufferPool

    pool = _BufferPool(limit=1000)
    a = pool.take((10, 20), np.dtype(np.float32))  # 800 bytes
    assert a.shape == (10, 20) and a.dtype == np.float32
    pool.give(a)
    assert pool.held == 800
    assert pool.take((20, 10), np.dtype(np.float32)).base is a.base  # same size: reused
    assert pool.held == 0
    pool.give(np.zeros((10, 20), np.float32))  # not from the pool: ignored
    assert pool.held == 0
    pool.give(a)
    pool.give(pool.take((10, 20), np.dtype(np.float32)))
    pool.give(pool.take((10, 20), np.dtype(np.float32)))  # 1600 > limit: freed, not kept
    assert pool.held == 800
    pool.clear()
    assert pool.held == 0 and not pool.free


@pytest.mark.parametrize("any_channels", [False, True], ids=["default", "offsets-opened"])
def test_empty_batch(any_channels, request):
    """A batch of 0 samples: empty output and gradients of the right shapes, as in torch (also
    with the kernel-offsets path open to these small shapes: empty batches go by im2col)."""
    if any_channels:
        request.getfixturevalue("offsets_everywhere")
    x = dg.tensor(np.zeros((0, 3, 5, 5), np.float32), requires_grad=True)
    w = dg.tensor(rand(4, 3, 3, 3), requires_grad=True)
    for options in (dict(padding=1), dict(stride=2), dict()):
        y = F.conv2d(x, w, **options)
        assert y.shape == tuple(TF.conv2d(torch.zeros(0, 3, 5, 5), torch.zeros(4, 3, 3, 3),
                                          **options).shape)
        x.grad = w.grad = None
        y.sum().backward()
        assert x.grad.shape == (0, 3, 5, 5)
        np.testing.assert_array_equal(w.grad.numpy(), np.zeros((4, 3, 3, 3), np.float32))


# -- errors -------------------------------------------------------------------------------------
def _t(*shape, dtype=np.float32):
    return dg.tensor(np.zeros(shape, dtype))


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 2, 3, 3)), RuntimeError,
     r"input of shape \(2, 3, 5, 5\) has 3 channels, expected 2"),
    (lambda: F.conv2d(_t(2, 4, 5, 5), _t(3, 2, 3, 3), groups=2), RuntimeError,
     r"out_channels \(3\) are not divisible by groups=2"),
    (lambda: F.conv2d(_t(2, 3, 2, 2), _t(4, 3, 3, 3)), RuntimeError,
     r"padded input of spatial size \(2, 2\).*smaller than the dilated kernel \(3, 3\)"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), stride=2, padding="same"), ValueError,
     "padding='same' is not supported for strided"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), padding="full"), ValueError,
     "padding must be 'valid', 'same'"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), _t(3)), RuntimeError,
     r"bias has shape \(3,\), expected \(4,\)"),
    (lambda: F.conv2d(_t(2, 3, 5, 5, dtype=np.float64), _t(4, 3, 3, 3)), RuntimeError,
     "expected one dtype"),
    (lambda: F.conv2d(_t(5, 5), _t(4, 3, 3, 3)), RuntimeError, r"got shape \(5, 5\)"),
    (lambda: F.conv1d(_t(2, 3, 5), _t(4, 3, 3, 3)), RuntimeError, "weight must be 3-D"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), stride=0), ValueError,
     "stride must be >= 1"),
    (lambda: F.conv2d(_t(2, 3, 5, 5), _t(4, 3, 3, 3), padding=(1, 2, 3)), ValueError,
     "padding must be an int or a tuple of 2 ints"),
    (lambda: F.conv_transpose2d(_t(2, 3, 4, 4), _t(4, 2, 3, 3)), RuntimeError,
     r"has 3 channels, expected 4"),
    (lambda: F.conv_transpose2d(_t(2, 4, 4, 4), _t(4, 2, 3, 3), stride=2, output_padding=2),
     ValueError, "output_padding .* must be smaller than either stride"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, "divisible by groups"),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), ValueError, "padding_mode"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"), ValueError,
     'only "zeros" padding_mode'),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


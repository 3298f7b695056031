"""Recurrent layers: the fused primitives (gradcheck) and RNN/LSTM/GRU and their cells against
PyTorch (outputs, final states, input, state and parameter gradients) for every option."""

import warnings

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.autograd import gradcheck
from deepgrad.nn.utils.rnn import pack_padded_sequence, pack_sequence, pad_packed_sequence
from deepgrad.ops.recurrent import GRULayer, LSTMLayer, RNNLayer

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True, scope="module")
def torch_one_thread():
    """torch's oneDNN LSTM wakes its thread pool for every tiny call here: one thread keeps
    these small oracle runs fast on a shared machine (the results do not change)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def flat(out):
    """The tensors of a nested (output, h_n) / (output, (h_n, c_n)) result."""
    if hasattr(out, "batch_sizes"):  # a PackedSequence: its data
        return [out.data]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat(o)]
    return [out]


def twins(cls, *args, **kwargs):
    """The torch module and ours with torch's weights loaded through load_state_dict."""
    torch.manual_seed(0)
    theirs = getattr(torch.nn, cls)(*args, **kwargs)
    ours = getattr(nn, cls)(*args, **kwargs)
    result = ours.load_state_dict(theirs.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    return ours, theirs


def run_both(ours, theirs, x, hx=None, make=None):
    """Run both modules on the same input/state, backprop the same random upstream gradient
    through every output; return (ours, theirs) lists: outputs, input/state grads, param grads."""
    make = make or (lambda lib, a: lib.tensor(a, requires_grad=True))
    states = [] if hx is None else (list(hx) if isinstance(hx, tuple) else [hx])
    dx, tx = make(dg, x), make(torch, x)
    dh = [dg.tensor(s, requires_grad=True) for s in states]
    th = [torch.tensor(s, requires_grad=True) for s in states]
    pack = (lambda s: tuple(s) if isinstance(hx, tuple) else s[0]) if states else (lambda s: None)
    dout, tout = flat(ours(dx, pack(dh))), flat(theirs(tx, pack(th)))
    for k, (a, b) in enumerate(zip(dout, tout)):
        g = rand(*b.shape, seed=10 + k)
        a.backward(dg.tensor(g), retain_graph=True)
        b.backward(torch.tensor(g), retain_graph=True)
    leaves = [dx if isinstance(dx, dg.Tensor) else None, *dh]
    tleaves = [tx if isinstance(tx, torch.Tensor) else None, *th]
    mine = dout + [t.grad for t in leaves if t is not None]
    ref = tout + [t.grad for t in tleaves if t is not None]
    params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        mine.append(p.grad)
        ref.append(params[name].grad)
    return mine, ref


def assert_close(mine, ref, tol=2e-5):
    assert len(mine) == len(ref)
    for a, b in zip(mine, ref):
        assert a is not None and b is not None
        assert a.shape == tuple(b.shape)
        assert a.dtype == dg.float32
        np.testing.assert_allclose(a.array, b.detach().numpy(), rtol=tol, atol=tol)


def states(cls, layers, batch, hidden, seed=5):
    h = rand(layers, *batch, hidden, seed=seed)
    return (h, rand(layers, *batch, hidden, seed=seed + 1)) if cls == "LSTM" else h


# -- the fused primitives: gradcheck in float64 ---------------------------------------------------
LAYERS = {"LSTM": (LSTMLayer, 4, {}), "GRU": (GRULayer, 3, {}),
          "RNN_TANH": (RNNLayer, 1, {"nonlinearity": "tanh"}),
          "RNN_RELU": (RNNLayer, 1, {"nonlinearity": "relu"})}


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("init", [True, False])
@pytest.mark.parametrize("packed", [False, True])
def test_primitive_gradcheck(mode, reverse, init, packed):
    fn, gates, kw = LAYERS[mode]
    T, B, I, H = 3, 3, 2, 2
    batch_sizes = np.array([3, 2, 1]) if packed else None
    arrays = [rand(T, B, I, seed=1), rand(gates * H, I, seed=2), rand(gates * H, H, seed=3),
              rand(gates * H, seed=4), rand(gates * H, seed=5), rand(B, H, seed=6)]
    if mode == "LSTM":
        arrays.append(rand(B, H, seed=7))
    inputs = [dg.tensor(a.astype(np.float64) * 0.7, requires_grad=True) for a in arrays]
    if not init:
        inputs[5:] = [None] * len(inputs[5:])

    def f(*xs):
        return fn.apply(*xs, reverse=reverse, batch_sizes=batch_sizes, **kw)

    assert gradcheck(f, inputs)


def test_primitive_without_bias_gradcheck():
    inputs = [dg.tensor(rand(*s, seed=i).astype(np.float64), requires_grad=True)
              for i, s in enumerate([(4, 2, 3), (8, 3), (8, 2)])]
    assert gradcheck(lambda x, a, b: LSTMLayer.apply(x, a, b, None, None, None, None), inputs)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("packed", [False, True])
def test_module_gradcheck_layers_and_directions(cls, packed):
    """Two bidirectional layers in float64: gradients w.r.t. the input and the states."""
    m = getattr(nn, cls)(2, 2, num_layers=2, bidirectional=True, dtype=dg.float64)
    x = dg.tensor(rand(3, 2, 2, seed=1).astype(np.float64), requires_grad=True)
    h = dg.tensor(rand(4, 2, 2, seed=2).astype(np.float64), requires_grad=True)
    c = dg.tensor(rand(4, 2, 2, seed=3).astype(np.float64), requires_grad=True)

    def f(x, h, c):
        inp = pack_padded_sequence(x, [3, 2]) if packed else x
        out, state = m(inp, (h, c) if cls == "LSTM" else h)
        data = out.data if packed else out
        return (data, *state) if cls == "LSTM" else (data, state)

    assert gradcheck(f, [x, h, c] if cls == "LSTM" else [x, h, c.detach()])


# -- modules against PyTorch ---------------------------------------------------------------------
CASES = [
    dict(),
    dict(num_layers=2),
    dict(batch_first=True),
    dict(bidirectional=True),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(bias=False),
    dict(num_layers=3, bidirectional=True, bias=False),
]


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("kwargs", CASES, ids=lambda k: ",".join(k) or "default")
@pytest.mark.parametrize("with_state", [False, True])
def test_module_matches_torch(cls, kwargs, with_state):
    T, B, I, H = 5, 3, 4, 6
    ours, theirs = twins(cls, I, H, **kwargs)
    x = rand(B, T, I) if kwargs.get("batch_first") else rand(T, B, I)
    D = 2 if kwargs.get("bidirectional") else 1
    hx = states(cls, kwargs.get("num_layers", 1) * D, (B,), H) if with_state else None
    assert_close(*run_both(ours, theirs, x, hx))


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_nonlinearity(nonlinearity):
    ours, theirs = twins("RNN", 3, 5, num_layers=2, nonlinearity=nonlinearity)
    assert_close(*run_both(ours, theirs, rand(6, 4, 3), rand(2, 4, 5, seed=3)))


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("with_state", [False, True])
def test_unbatched_input(cls, with_state):
    ours, theirs = twins(cls, 3, 4, num_layers=2, bidirectional=True)
    hx = states(cls, 4, (), 4) if with_state else None
    mine, ref = run_both(ours, theirs, rand(5, 3), hx)
    assert mine[0].shape == (5, 8)
    assert_close(mine, ref)


def test_float64_module():
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 4, num_layers=2).double()
    ours = nn.LSTM(3, 4, num_layers=2, dtype=dg.float64)
    ours.load_state_dict(theirs.state_dict())
    x = rand(4, 2, 3, dtype=np.float64)
    y, _ = ours(dg.tensor(x))
    assert y.dtype == dg.float64
    np.testing.assert_allclose(y.array, theirs(torch.tensor(x))[0].detach().numpy(), atol=1e-12)


def test_realistic_size_float32():
    """The benchmark's shape class: long sequence, wide hidden state, float32 tolerances."""
    ours, theirs = twins("LSTM", 16, 64, batch_first=True)
    assert_close(*run_both(ours, theirs, rand(8, 40, 16)), tol=1e-4)


# -- dropout between layers ----------------------------------------------------------------------
def test_dropout_between_layers_only():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        single = nn.LSTM(3, 4, dropout=0.5)
    x = dg.tensor(rand(5, 2, 3))
    single.train()
    a = single(x)[0].array
    single.eval()
    np.testing.assert_array_equal(a, single(x)[0].array)  # never after the last layer

    # p = 1 zeroes the first layer's output: layer 2 then sees only zeros
    ours, _ = twins("LSTM", 3, 4, num_layers=2, dropout=1.0)
    ours.train()
    torch.manual_seed(1)
    second = torch.nn.LSTM(4, 4)
    sd = {k.replace("_l1", "_l0"): v for k, v in ours.state_dict().items() if "_l1" in k}
    second.load_state_dict({k: torch.tensor(v.numpy()) for k, v in sd.items()})
    expected = second(torch.zeros(5, 2, 4))[0].detach().numpy()
    np.testing.assert_allclose(ours(x)[0].array, expected, atol=1e-6)
    ours.eval()
    assert not np.allclose(ours(x)[0].array, expected, atol=1e-3)


def test_dropout_is_random_in_training_and_seeded():
    m = nn.GRU(3, 8, num_layers=2, dropout=0.5)
    x = dg.tensor(rand(6, 2, 3))
    dg.manual_seed(3)
    a = m(x)[0].array
    dg.manual_seed(3)
    b = m(x)[0].array
    c = m(x)[0].array
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


# -- packed sequences ----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("with_state", [False, True])
def test_packed_matches_torch(cls, enforce_sorted, with_state):
    lengths = [5, 4, 2, 1] if enforce_sorted else [2, 5, 1, 4]
    ours, theirs = twins(cls, 3, 4, num_layers=2, bidirectional=True)
    hx = states(cls, 4, (4,), 4) if with_state else None

    def make(lib, a):
        x = lib.tensor(a, requires_grad=True)
        make.leaf = x
        pack = torch.nn.utils.rnn.pack_padded_sequence if lib is torch else pack_padded_sequence
        return pack(x, lengths, enforce_sorted=enforce_sorted)

    mine, ref = run_both(ours, theirs, rand(5, 4, 3), hx, make)
    assert_close(mine, ref)


def test_packed_input_grad_and_unpacked_output_match_torch():
    ours, theirs = twins("LSTM", 3, 4, batch_first=True, bidirectional=True)
    lengths = [3, 6, 2]
    x = rand(3, 6, 3)
    dx, tx = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    dy, (dh, _) = ours(pack_padded_sequence(dx, lengths, True, enforce_sorted=False))
    ty, (th, _) = theirs(torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, True, False))
    dpad, dlen = pad_packed_sequence(dy, batch_first=True, total_length=7)
    tpad, tlen = torch.nn.utils.rnn.pad_packed_sequence(ty, batch_first=True, total_length=7)
    np.testing.assert_array_equal(dlen.numpy(), tlen.numpy())
    g = rand(*tpad.shape, seed=4)
    (dpad * dg.tensor(g)).sum().backward()
    (tpad * torch.tensor(g)).sum().backward()
    assert_close([dpad, dh, dx.grad], [tpad, th, tx.grad])


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_packed_equals_each_sequence_alone(cls):
    m = getattr(nn, cls)(3, 5, num_layers=2, bidirectional=True)
    seqs = [dg.tensor(rand(n, 3, seed=n)) for n in (6, 4, 1)]
    out, h = m(pack_sequence(seqs))
    h = h[0] if cls == "LSTM" else h
    padded, _ = pad_packed_sequence(out)
    for b, s in enumerate(seqs):
        alone, h_alone = m(s)
        h_alone = h_alone[0] if cls == "LSTM" else h_alone
        np.testing.assert_allclose(padded.array[:len(s), b], alone.array, atol=1e-6)
        assert np.all(padded.array[len(s):, b] == 0)
        np.testing.assert_allclose(h.array[:, b], h_alone.array, atol=1e-6)


# -- cells ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ["LSTMCell", "GRUCell", "RNNCell"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(cls, bias, with_state, batched):
    ours, theirs = twins(cls, 3, 5, bias=bias)
    batch = (4,) if batched else ()
    hx = None
    if with_state:
        hx = states("LSTM" if cls == "LSTMCell" else cls, 1, batch, 5)
        hx = tuple(s[0] for s in hx) if isinstance(hx, tuple) else hx[0]
    assert_close(*run_both(ours, theirs, rand(*batch, 3), hx))


def test_relu_cell():
    ours, theirs = twins("RNNCell", 3, 5, nonlinearity="relu")
    assert_close(*run_both(ours, theirs, rand(4, 3), rand(4, 5, seed=2)))


def test_cell_unrolled_equals_layer():
    cell, layer = nn.LSTMCell(3, 4), nn.LSTM(3, 4)
    layer.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    x = dg.tensor(rand(5, 2, 3))
    h = c = dg.zeros(2, 4)
    outs = []
    for t in range(5):
        h, c = cell(x[t], (h, c))
        outs.append(h)
    y, (hn, cn) = layer(x)
    np.testing.assert_allclose(dg.stack(outs).array, y.array, atol=1e-6)
    np.testing.assert_allclose(cn[0].array, c.array, atol=1e-6)


# -- truncated BPTT ------------------------------------------------------------------------------
def test_detached_state_stops_gradient():
    m = nn.LSTM(3, 4)
    x = dg.tensor(rand(8, 2, 3), requires_grad=True)
    _, (h, c) = m(x[:4])
    y, _ = m(x[4:], (h.detach(), c.detach()))
    y.sum().backward()
    assert np.all(x.grad.array[:4] == 0) and np.any(x.grad.array[4:] != 0)
    x.grad = None
    y, _ = m(x[4:], (h, c))  # without detach the first chunk receives gradient
    y.sum().backward()
    assert np.any(x.grad.array[:4] != 0)


def test_truncated_bptt_training_loop_runs():
    m, head = nn.GRU(2, 8, batch_first=True), nn.Linear(8, 1)
    opt = dg.optim.Adam(list(m.parameters()) + list(head.parameters()), lr=0.01)
    x = dg.tensor(rand(4, 40, 2))
    target = dg.tensor(np.roll(x.array[..., :1], 1, axis=1))
    losses, h = [], None
    for _ in range(15):
        for k in range(0, 40, 10):
            out, h = m(x[:, k:k + 10], h)
            h = h.detach()
            loss = ((head(out) - target[:, k:k + 10]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        h = None
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])


# -- construction, parameters, repr, errors --------------------------------------------------------
def test_parameter_names_shapes_and_init():
    m = nn.LSTM(3, 16, num_layers=2, bidirectional=True)
    theirs = torch.nn.LSTM(3, 16, num_layers=2, bidirectional=True)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    bound = 1 / 4
    for p in m.parameters():
        assert p.dtype == dg.float32 and np.abs(p.array).max() <= bound
    w = m.weight_hh_l1_reverse.array
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01  # the std of U(-b, b)
    assert len(m.all_weights) == 4 and len(m.all_weights[0]) == 4
    m.flatten_parameters()  # accepted, as in PyTorch
    g = nn.GRU(2, 5, bias=False)
    assert [k for k, _ in g.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert g.weight_ih_l0.shape == (15, 2)


@pytest.mark.parametrize("make", [
    lambda lib: lib.nn.LSTM(10, 20, num_layers=2, batch_first=True, dropout=0.5,
                            bidirectional=True),
    lambda lib: lib.nn.GRU(3, 4, bias=False),
    lambda lib: lib.nn.RNN(3, 4, nonlinearity="relu"),
    lambda lib: lib.nn.LSTMCell(3, 4),
    lambda lib: lib.nn.RNNCell(3, 4, bias=False, nonlinearity="relu"),
    lambda lib: lib.nn.GRUCell(3, 4),
])
def test_repr_like_torch(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert repr(make(nn.__class__ and dg)) == repr(make(torch))


def test_errors_name_module_and_shapes():
    m = nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(RuntimeError, match=r"LSTM: input.size\(-1\) must be equal to "
                                           r"input_size. Expected 3, got 5"):
        m(dg.zeros(6, 2, 5))
    with pytest.raises(RuntimeError, match=r"LSTM: expected hidden size \(2, 2, 4\), got "
                                           r"\(1, 2, 4\)"):
        m(dg.zeros(6, 2, 3), (dg.zeros(1, 2, 4), dg.zeros(2, 2, 4)))
    with pytest.raises(RuntimeError, match=r"LSTM: expected cell size \(2, 2, 4\)"):
        m(dg.zeros(6, 2, 3), (dg.zeros(2, 2, 4), dg.zeros(2, 3, 4)))
    with pytest.raises(TypeError, match="LSTM: hx must be a tuple"):
        m(dg.zeros(6, 2, 3), dg.zeros(2, 2, 4))
    with pytest.raises(ValueError, match=r"GRU: expected input to be 2-D .* got 4-D"):
        nn.GRU(3, 4)(dg.zeros(1, 6, 2, 3))
    with pytest.raises(RuntimeError, match=r"GRU: expected hidden size \(1, 2, 4\), got "
                                           r"\(1, 3, 4\)"):
        nn.GRU(3, 4)(dg.zeros(6, 2, 3), dg.zeros(1, 3, 4))
    with pytest.raises(RuntimeError, match=r"RNN: input dtype"):
        nn.RNN(3, 4)(dg.zeros(6, 2, 3, dtype=dg.float64))
    with pytest.raises(RuntimeError, match=r"GRUCell: input has inconsistent input_size: "
                                           r"got 2, expected 3"):
        nn.GRUCell(3, 4)(dg.zeros(5, 2))
    with pytest.raises(RuntimeError, match=r"LSTMCell: expected hidden size \(5, 4\), got "
                                           r"\(2, 4\)"):
        nn.LSTMCell(3, 4)(dg.zeros(5, 3), (dg.zeros(2, 4), dg.zeros(2, 4)))
    with pytest.raises(ValueError, match="RNN: unknown nonlinearity 'sigmoid'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="LSTM: dropout should be a number in"):
        nn.LSTM(3, 4, dropout=1.5)

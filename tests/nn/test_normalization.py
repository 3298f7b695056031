"""Normalization: batch_norm, layer_norm, group_norm (gradchecks and oracle through the harness)
and the layers BatchNorm1d/2d, LayerNorm, GroupNorm against PyTorch: outputs, gradients, running
statistics over training steps, eval mode, state dicts, reprs and errors."""

import numpy as np
import pytest
from harness import Case, In, OpSpec, assert_same, make_tests

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def spec(label, call, cases, **options) -> OpSpec:
    """``call(M, *tensors, **options)`` with M = F (deepgrad) or TF (torch)."""
    return OpSpec(label, lambda *a, **k: call(F, *a, **k), cases,
                  torch_fn=lambda *a, **k: call(TF, *a, **k), **options)


def bn_train(M, x, *wb, **k):
    return M.batch_norm(x, None, None, *wb, training=True, **k)


def bn_eval(M, x, mean, var, *wb, **k):
    return M.batch_norm(x, mean, var, *wb, **k)


def ln(M, x, *wb, normalized_shape, **k):
    return M.layer_norm(x, normalized_shape, *wb, **k)


def gn(M, x, *wb, num_groups, **k):
    return M.group_norm(x, num_groups, *wb, **k)


STAT = In((3,), requires_grad=False)
VAR = In((3,), low=0.5, high=2.0, requires_grad=False)

SPECS = [
    spec("batch_norm-train", bn_train, [
        Case((5, 3), (3,), (3,), label="NC"),
        Case((4, 3, 5), (3,), (3,), label="NCL"),
        Case((2, 3, 4, 3), (3,), (3,), label="NCHW"),
        Case((2, 3, 2, 2, 2), (3,), (3,), eps=1e-3, label="NCDHW-eps"),
        Case((2, 3, 4, 3), (3,), label="weight-only"),
        Case((4, 3, 5), label="no-affine"),
    ]),
    spec("batch_norm-eval", bn_eval, [
        Case((5, 3), STAT, VAR, (3,), (3,), label="NC"),
        Case((2, 3, 4, 3), STAT, VAR, (3,), (3,), label="NCHW"),
        Case((2, 3, 4), STAT, VAR, label="no-affine"),
    ]),
    spec("layer_norm", ln, [
        Case((3, 4), (4,), (4,), normalized_shape=(4,), label="last"),
        Case((2, 3, 4), (3, 4), (3, 4), normalized_shape=(3, 4), label="two-dims"),
        Case((2, 3, 5), (5,), normalized_shape=(5,), eps=1e-3, label="weight-only"),
        Case((2, 5), normalized_shape=(5,), label="no-affine"),
    ]),
    spec("group_norm", gn, [
        Case((2, 6, 3), (6,), (6,), num_groups=3, label="NCL"),
        Case((2, 4, 3, 2), (4,), (4,), num_groups=2, label="NCHW"),
        Case((3, 4), (4,), (4,), num_groups=2, label="NC"),
        Case((2, 4, 3), (4,), num_groups=1, eps=1e-3, label="weight-only-one-group"),
        Case((2, 6, 2, 2), num_groups=2, label="no-affine"),
    ]),
]

test_gradcheck, test_oracle = make_tests(SPECS)


# -- the layers against PyTorch -----------------------------------------------------------------
def rand(*shape, seed=0, scale=1.0, shift=0.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale + shift).astype(np.float32)


def randomize(torch_layer, seed=1):
    """Give torch's affine parameters values other than the ones/zeros they start with."""
    with torch.no_grad():
        for i, p in enumerate(torch_layer.parameters()):
            p.copy_(torch.from_numpy(rand(*p.shape, seed=seed + i, scale=0.5, shift=1.0 - i)))


def step(layer, torch_layer, x, seed):
    """One forward and backward of both layers on x (fresh gradients); compare the outputs and
    the input, weight and bias gradients, all float32."""
    layer.zero_grad()
    torch_layer.zero_grad()
    xs, tx = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = layer(xs), torch_layer(tx)
    g = rand(*ty.shape, seed=seed)
    y.backward(dg.tensor(g))
    ty.backward(torch.tensor(g))
    assert_same(y, ty, rtol=1e-4, atol=1e-5, what="output")
    assert_same(xs.grad, tx.grad, rtol=1e-4, atol=1e-5, what="input grad")
    params = dict(layer.named_parameters())
    for name, p in torch_layer.named_parameters():
        assert_same(params[name].grad, p.grad, rtol=1e-4, atol=1e-4, what=f"{name} grad")


def assert_state_equal(layer, torch_layer):
    ours, theirs = layer.state_dict(), torch_layer.state_dict()
    assert list(ours) == list(theirs)
    for key in theirs:
        assert_same(ours[key], theirs[key], rtol=1e-5, atol=1e-6, what=key)


def pair(make, *args, **kwargs):
    """Our layer and torch's, built alike, torch's weights (randomized) loaded into ours."""
    layer, torch_layer = make(nn, *args, **kwargs), make(torch.nn, *args, **kwargs)
    assert repr(layer) == repr(torch_layer)
    randomize(torch_layer)
    result = layer.load_state_dict(torch_layer.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    return layer, torch_layer


BATCHNORMS = [
    ("BatchNorm1d", (8, 4)),
    ("BatchNorm1d", (4, 4, 5)),
    ("BatchNorm2d", (3, 4, 5, 3)),
]


@pytest.mark.parametrize("name,shape", BATCHNORMS, ids=["1d-NC", "1d-NCL", "2d"])
@pytest.mark.parametrize("momentum", [0.1, 0.3, None], ids=["m0.1", "m0.3", "cumulative"])
def test_batchnorm_trains_and_evaluates_like_torch(name, shape, momentum):
    """Several training steps: equal outputs, gradients and running statistics (the unbiased
    variance blended in with momentum, or averaged when momentum=None); then eval mode uses the
    running statistics and leaves them alone."""
    layer, torch_layer = pair(lambda M: getattr(M, name)(4, momentum=momentum))
    for i in range(4):
        step(layer, torch_layer, rand(*shape, seed=10 + i, scale=2.0, shift=i - 1.0), seed=20 + i)
        assert_state_equal(layer, torch_layer)
    assert int(layer.num_batches_tracked.item()) == 4
    layer.eval()
    torch_layer.eval()
    step(layer, torch_layer, rand(*shape, seed=30), seed=31)
    assert_state_equal(layer, torch_layer)
    assert int(layer.num_batches_tracked.item()) == 4


@pytest.mark.parametrize("affine,track", [(False, True), (True, False), (False, False)])
def test_batchnorm_options_like_torch(affine, track):
    """Without affine parameters, or without running statistics (then batch statistics are
    used in eval mode too)."""
    layer, torch_layer = pair(lambda M: M.BatchNorm2d(3, affine=affine, track_running_stats=track))
    for i in range(2):
        step(layer, torch_layer, rand(2, 3, 4, 4, seed=i, shift=1.0), seed=5 + i)
        assert_state_equal(layer, torch_layer)
    layer.eval()
    torch_layer.eval()
    step(layer, torch_layer, rand(2, 3, 4, 4, seed=9), seed=8)


def test_batchnorm_without_bias_like_torch():
    layer, torch_layer = pair(lambda M: M.BatchNorm1d(3, bias=False))
    assert layer.bias is None
    step(layer, torch_layer, rand(6, 3, 2), seed=2)


def test_batchnorm_updates_statistics_without_grad():
    """Running statistics follow the batches under no_grad too (as in torch), and a fresh
    torch layer loads ours."""
    layer, torch_layer = nn.BatchNorm2d(2), torch.nn.BatchNorm2d(2)
    x = rand(4, 2, 3, 3, scale=3.0, shift=5.0)
    with dg.no_grad():
        y = layer(dg.tensor(x))
    with torch.no_grad():
        torch_layer(torch.tensor(x))
    assert y.grad_fn is None and y.dtype == dg.float32
    assert_state_equal(layer, torch_layer)
    fresh = torch.nn.BatchNorm2d(2)
    fresh.load_state_dict({k: torch.from_numpy(v.array.copy())
                           for k, v in layer.state_dict().items()})
    assert torch.allclose(fresh.running_var, torch_layer.running_var)


def test_batchnorm_is_stable_far_from_zero():
    """A large offset costs no precision (two-pass variance): the output is standardized."""
    x = rand(64, 3, seed=3) + np.float32(1e4)
    y = F.batch_norm(dg.tensor(x), None, None, training=True).array
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(0), 0, atol=5e-3)
    np.testing.assert_allclose(y.std(0), 1, atol=1e-2)


def channels_last(*shape, **options):
    """An (N, C, *S) array laid out channels-last, as a convolution returns it."""
    n, c, *size = shape
    return np.moveaxis(rand(n, *size, c, **options), -1, 1)


@pytest.mark.parametrize("fused_kernels", [True, False], ids=["fused", "numpy"])
def test_batchnorm_on_channels_last_input_like_torch(fused_kernels, monkeypatch):
    """A channels-last input (a convolution's output) goes through the compiled kernels where
    they are available, else through NumPy; both train, evaluate and keep statistics as torch."""
    from deepgrad.ops import fused

    if not fused_kernels:
        monkeypatch.setattr(fused, "usable", lambda *arrays: False)
    elif not fused.available():
        pytest.skip("Numba is not installed")
    layer, torch_layer = pair(lambda M: M.BatchNorm2d(4))
    for i in range(3):
        x = channels_last(3, 4, 5, 6, seed=40 + i, scale=2.0, shift=i + 3.0)
        step(layer, torch_layer, x, seed=50 + i)
        fresh = nn.BatchNorm2d(4)(dg.tensor(x, requires_grad=True))
        assert fresh.grad_fn.by_kernels == fused_kernels
        assert_state_equal(layer, torch_layer)
    layer.eval()
    torch_layer.eval()
    step(layer, torch_layer, channels_last(3, 4, 5, 6, seed=60), seed=61)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_batchnorm_gradcheck_on_channels_last_input(training, affine):
    """Finite differences in float64 through the channels-last path (fused where available)."""
    rng = np.random.default_rng(7)
    x = dg.tensor(rng.standard_normal((2, 3, 4, 3)), requires_grad=True)  # (N, H, W, C)
    wb = [dg.tensor(rng.standard_normal(3) + 1, requires_grad=True) for _ in range(2 * affine)]
    mean, var = dg.tensor(rng.standard_normal(3)), dg.tensor(rng.uniform(0.5, 2, 3))

    def f(x, *wb):
        nchw = x.permute(0, 3, 1, 2)  # a channels-last view
        if training:
            return F.batch_norm(nchw, None, None, *wb, training=True)
        return F.batch_norm(nchw, mean, var, *wb)

    assert dg.autograd.gradcheck(f, (x, *wb))


def test_fused_kernels_match_numpy_in_float64():
    from deepgrad.ops import fused

    if not fused.available():
        pytest.skip("Numba is not installed")
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((1000, 5)) * 0.01 + 1e4).astype(np.float32)  # far from zero
    g = rng.standard_normal((1000, 5)).astype(np.float32)
    mean, var = fused.channel_mean_var(x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(0), rtol=1e-12)
    np.testing.assert_allclose(var, x64.var(0), rtol=1e-6)
    sum_g, sum_gx = fused.channel_grad_sums(g, x, mean)
    np.testing.assert_allclose(sum_g, g.astype(np.float64).sum(0), rtol=1e-10)
    np.testing.assert_allclose(sum_gx, (g * (x64 - mean)).sum(0), rtol=1e-6)
    a, b, c = (rng.standard_normal(5).astype(np.float32) for _ in range(3))
    out = np.empty_like(x)
    fused.channel_affine2(g, a, x, b, c, out)
    np.testing.assert_allclose(out, g * a + x * b + c, rtol=1e-5)
    assert not fused.usable(x.T) and not fused.usable(x, g.astype(np.float64))


@pytest.mark.parametrize("threads", [2, 3])
def test_fused_kernels_split_rows_among_threads(threads):
    """With several threads the kernels run blocks of rows in parallel: the same results (sums
    up to float64 rounding), whatever the split."""
    from deepgrad.ops import fused

    if not fused.available():
        pytest.skip("Numba is not installed")
    rng = np.random.default_rng(4)
    m = 3 * fused._MIN_PER_THREAD // 8 + 7  # 3 blocks of 8 channels, rows not divisible by 3
    x, g = (rng.standard_normal((m, 8)).astype(np.float32) for _ in range(2))
    a, b, c = (rng.standard_normal(8).astype(np.float32) for _ in range(3))

    def everything():
        mean, var = fused.channel_mean_var(x)
        sums = fused.channel_grad_sums(g, x, mean)
        affine, affine2, relu, relu_grad = (np.empty_like(x) for _ in range(4))
        fused.channel_affine(x, a, b, affine)
        fused.channel_affine2(g, a, x, b, c, affine2)
        fused.relu(x.ravel(), relu.ravel())
        fused.relu_grad(g.ravel(), relu.ravel(), relu_grad.ravel())
        return [mean, var, *sums], [affine, affine2, relu, relu_grad]

    one_sums, one_maps = everything()
    before = dg.get_num_threads()
    try:
        dg.set_num_threads(threads)
        sums, maps = everything()
    finally:
        dg.set_num_threads(before)
    for got, expected in zip(sums, one_sums):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)
    for got, expected in zip(maps, one_maps):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(one_maps[0], x * a + b, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(one_maps[2], np.maximum(x, 0))


def test_a_numba_that_cannot_compile_leaves_numpy_in_charge(monkeypatch):
    from deepgrad.ops import fused

    if fused._kernels() is None:
        pytest.skip("Numba is not installed")

    def broken(*arrays):
        raise RuntimeError("no target for this CPU")

    monkeypatch.setattr(fused, "relu", broken)
    fused._compiles.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="could not compile its kernels"):
            assert not fused.available()
        x = channels_last(2, 3, 4, 4)
        y = F.batch_norm(dg.tensor(x, requires_grad=True), None, None, training=True)
        assert not y.grad_fn.by_kernels
    finally:
        monkeypatch.undo()
        fused._compiles.cache_clear()
    assert fused.available()


def test_fused_kernels_can_be_turned_off():
    import subprocess
    import sys

    code = "from deepgrad.ops import fused; print(fused.available())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**__import__("os").environ, "DEEPGRAD_NUMBA": "0"})
    assert out.stdout.strip() == "False"


def test_float64_layers():
    layer, torch_layer = nn.BatchNorm2d(3, dtype=dg.float64), torch.nn.BatchNorm2d(
        3, dtype=torch.float64)
    x = rand(2, 3, 3, 3).astype(np.float64)
    y, ty = layer(dg.tensor(x)), torch_layer(torch.tensor(x))
    assert_same(y, ty, rtol=1e-10, atol=1e-12)
    assert_same(layer.running_var, torch_layer.running_var, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape,normalized_shape,options", [
    ((4, 6), 6, {}),
    ((2, 3, 4, 5), (4, 5), {}),
    ((3, 2, 5), [5], {"bias": False}),
    ((3, 5), (5,), {"elementwise_affine": False, "eps": 1e-3}),
])
def test_layernorm_like_torch(shape, normalized_shape, options):
    layer, torch_layer = pair(lambda M: M.LayerNorm(normalized_shape, **options))
    step(layer, torch_layer, rand(*shape, shift=2.0), seed=4)
    layer.eval()
    torch_layer.eval()
    step(layer, torch_layer, rand(*shape, seed=2), seed=5)


@pytest.mark.parametrize("groups,channels,shape,options", [
    (2, 4, (3, 4, 5, 5), {}),
    (3, 6, (2, 6, 7), {"eps": 1e-3}),
    (1, 4, (2, 4, 3, 3), {"bias": False}),
    (4, 4, (5, 4, 3), {"affine": False}),
])
def test_groupnorm_like_torch(groups, channels, shape, options):
    layer, torch_layer = pair(lambda M: M.GroupNorm(groups, channels, **options))
    step(layer, torch_layer, rand(*shape, scale=3.0, shift=-1.0), seed=6)


def test_reset_and_train_eval_switch():
    layer = nn.BatchNorm1d(3)
    layer(dg.tensor(rand(5, 3, shift=4.0)))
    assert layer.running_mean.abs().sum().item() > 0
    layer.eval()
    before = layer.running_mean.array.copy()
    layer(dg.tensor(rand(5, 3, seed=1)))
    np.testing.assert_array_equal(layer.running_mean.array, before)
    layer.reset_running_stats()
    np.testing.assert_array_equal(layer.running_mean.array, 0)
    np.testing.assert_array_equal(layer.running_var.array, 1)
    assert layer.num_batches_tracked.item() == 0
    assert layer.num_batches_tracked.dtype == dg.int64


# -- errors -------------------------------------------------------------------------------------
def test_errors_name_the_layer_and_the_shapes():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(16\): input has 8 channels .*\(2, 8, 4, "
                                         r"4\).*expected 16"):
        nn.BatchNorm2d(16)(dg.zeros(2, 8, 4, 4))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): input has 4 channels"):
        nn.BatchNorm1d(3)(dg.zeros(2, 4, 5))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4-D input, got shape \(2, 3\)"):
        nn.BatchNorm2d(3)(dg.zeros(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2 or 3-D input"):
        nn.BatchNorm1d(3)(dg.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"more than 1 value per channel .*\(1, 3\)"):
        nn.BatchNorm1d(3)(dg.zeros(1, 3))
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 4\): expected input \(N, 4, \*\), "
                                         r"got shape \(2, 6, 3\)"):
        nn.GroupNorm(2, 4)(dg.zeros(2, 6, 3))
    with pytest.raises(ValueError, match=r"num_channels \(6\) must be divisible by num_groups "
                                         r"\(4\)"):
        nn.GroupNorm(4, 6)
    with pytest.raises(RuntimeError, match=r"layer_norm: normalized_shape=\(4,\) needs an input "
                                           r"of shape \(\*, 4\), got \(2, 3\)"):
        nn.LayerNorm(4)(dg.zeros(2, 3))


def test_functional_errors():
    x = dg.zeros(4, 3, 2)
    with pytest.raises(RuntimeError, match=r"batch_norm: running_mean has shape \(4,\), expected "
                                           r"\(3,\) for input of shape \(4, 3, 2\)"):
        F.batch_norm(x, dg.zeros(4), dg.ones(3))
    with pytest.raises(RuntimeError, match=r"batch_norm: running_mean and running_var must be"):
        F.batch_norm(x, None, None)
    with pytest.raises(RuntimeError, match=r"batch_norm: weight is float64 but the input is "
                                           r"float32"):
        F.batch_norm(x, None, None, dg.ones(3, dtype=dg.float64), training=True)
    with pytest.raises(ValueError, match=r"group_norm: the input's 3 channels .* num_groups=2"):
        F.group_norm(x, 2)
    with pytest.raises(RuntimeError, match=r"group_norm: bias has shape \(2,\), expected \(3,\)"):
        F.group_norm(x, 3, dg.ones(3), dg.zeros(2))
    with pytest.raises(RuntimeError, match=r"layer_norm: weight has shape \(3,\), expected \(2,\)"):
        F.layer_norm(x, (2,), dg.ones(3))
    with pytest.raises(RuntimeError, match=r"batch_norm: expected a floating point input"):
        F.batch_norm(dg.zeros(4, 3, dtype=dg.int64), None, None, training=True)

"""Initializers: each one's statistics against its formula and against PyTorch's own draws."""

import math

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.nn import init

torch = pytest.importorskip("torch")

SHAPE = (300, 400)  # 120k draws: sample std within ~0.5% of the truth
CONV = (128, 64, 3, 3)  # fan_in 576, fan_out 1152; 74k draws


@pytest.fixture(autouse=True)
def seeded():
    """Statistical tests with tolerances of about 5 standard errors, seeded to be repeatable."""
    dg.manual_seed(0)
    torch.manual_seed(0)


def stats(array) -> tuple:
    a = np.asarray(array, dtype=np.float64)
    return a.min(), a.max(), a.mean(), a.std()


def draw(fill, shape, *args, **kwargs):
    """Fill a fresh deepgrad and torch tensor of this shape with the same initializer."""
    t = dg.empty(*shape)
    out = getattr(init, fill)(t, *args, **kwargs)
    assert out is t
    ref = getattr(torch.nn.init, fill)(torch.empty(*shape), *args, **kwargs)
    return t.array, ref.numpy()


def check_uniform(fill, shape, bound, *args, **kwargs):
    ours, theirs = draw(fill, shape, *args, **kwargs)
    for a in (ours, theirs):
        lo, hi, mean, std = stats(a)
        assert -bound <= lo < -0.99 * bound and 0.99 * bound < hi <= bound
        assert abs(mean) < 0.02 * bound
        assert std == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert ours.dtype == np.float32


def check_normal(fill, shape, std, *args, mean=0.0, **kwargs):
    ours, theirs = draw(fill, shape, *args, **kwargs)
    for a in (ours, theirs):
        _, _, m, s = stats(a)
        assert abs(m - mean) < 0.02 * std
        assert s == pytest.approx(std, rel=0.02)
    assert ours.dtype == np.float32


# -- gains and fans ------------------------------------------------------------------------------
@pytest.mark.parametrize("nonlinearity", [
    "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu",
])
def test_calculate_gain_matches_torch(nonlinearity):
    assert init.calculate_gain(nonlinearity) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity), rel=1e-12)


@pytest.mark.parametrize("slope", [0.2, 1, 0.0])
def test_calculate_gain_leaky_slope(slope):
    assert init.calculate_gain("leaky_relu", slope) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", slope), rel=1e-12)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'softplus'"):
        init.calculate_gain("softplus")
    with pytest.raises(ValueError, match="negative_slope True"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("shape", [(3, 5), (8, 4, 3, 3), (6, 2, 5), (4, 3, 2, 2, 2), (7, 1)])
def test_fans_match_torch(shape):
    ours = init._calculate_fan_in_and_fan_out(dg.empty(*shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    assert init._calculate_correct_fan(dg.empty(*shape), "FAN_OUT") == ours[1]


def test_fan_errors():
    with pytest.raises(ValueError, match=r"fewer than 2 dimensions, got shape \(5,\)"):
        init._calculate_fan_in_and_fan_out(dg.empty(5))
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported"):
        init.kaiming_uniform_(dg.empty(3, 4), mode="fan_avg")


# -- plain fills ---------------------------------------------------------------------------------
def test_uniform():
    ours, _ = draw("uniform_", SHAPE, -0.5, 1.5)
    lo, hi, mean, std = stats(ours)
    assert -0.5 <= lo < -0.49 and 1.49 < hi < 1.5
    assert mean == pytest.approx(0.5, abs=0.01)
    assert std == pytest.approx(2 / math.sqrt(12), rel=0.02)
    check_uniform("uniform_", SHAPE, 0.3, -0.3, 0.3)


def test_normal():
    check_normal("normal_", SHAPE, 2.0, 3.0, 2.0, mean=3.0)


def mass(al: float, be: float) -> float:
    """P(al <= Z <= be) for Z ~ N(0, 1), from the side where erfc stays accurate in the tails."""
    if al > 0:
        return 0.5 * (math.erfc(al / math.sqrt(2)) - math.erfc(be / math.sqrt(2)))
    return 0.5 * (math.erfc(-be / math.sqrt(2)) - math.erfc(-al / math.sqrt(2)))


@pytest.mark.parametrize("mean, std, a, b", [
    (0.0, 1.0, -2.0, 2.0),  # the default
    (0.0, 0.02, -0.04, 0.04),  # the ViT-style use: +-2 std
    (1.0, 2.0, 0.0, 3.0),  # asymmetric
    (0.0, 1.0, 3.0, math.inf),  # a far right tail
    (0.0, 1.0, -6.0, -5.0),  # a far, narrow left tail
    (0.0, 1.0, -0.01, 0.01),  # narrow around the mean
    (0.0, 1.0, 0.5, 4.0),  # a wide interval beside the mean
])
def test_trunc_normal_matches_truncated_normal_moments(mean, std, a, b):
    t = init.trunc_normal_(dg.empty(*SHAPE), mean, std, a, b)
    lo, hi, m, s = stats(t.array)
    assert a <= lo and hi <= b
    al, be = (a - mean) / std, (b - mean) / std
    pdf = [math.exp(-x * x / 2) / math.sqrt(2 * math.pi) if math.isfinite(x) else 0.0
           for x in (al, be)]
    xpdf = [x * p if math.isfinite(x) else 0.0 for x, p in zip((al, be), pdf)]
    z = mass(al, be)
    true_mean = mean + std * (pdf[0] - pdf[1]) / z
    true_std = std * math.sqrt(1 + (xpdf[0] - xpdf[1]) / z - ((pdf[0] - pdf[1]) / z) ** 2)
    assert m == pytest.approx(true_mean, abs=0.02 * true_std)
    assert s == pytest.approx(true_std, rel=0.02)
    assert t.dtype == dg.float32


def test_trunc_normal_matches_torch():
    ours = init.trunc_normal_(dg.empty(*SHAPE), 0.5, 1.0, -1.0, 1.5).array
    theirs = torch.nn.init.trunc_normal_(torch.empty(*SHAPE), 0.5, 1.0, -1.0, 1.5).numpy()
    for i in range(4):
        assert stats(ours)[i] == pytest.approx(stats(theirs)[i], abs=0.01)


def test_trunc_normal_errors():
    with pytest.raises(ValueError, match=r"a < b, got std=1.0, a=2, b=-2"):
        init.trunc_normal_(dg.empty(3), a=2, b=-2)


def test_constant_zeros_ones_keep_dtype():
    t = dg.empty(3, 4, dtype=dg.float64)
    array = t.array
    assert init.constant_(t, 0.25) is t and t.array is array
    assert np.all(array == 0.25) and t.dtype == dg.float64
    assert np.all(init.zeros_(t).array == 0)
    n = dg.empty(5, dtype=dg.int64)
    assert np.all(init.ones_(n).array == 1) and n.dtype == dg.int64


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2)])
def test_eye(shape):
    t = init.eye_(dg.empty(*shape))
    np.testing.assert_array_equal(t.array, torch.nn.init.eye_(torch.empty(*shape)).numpy())
    with pytest.raises(ValueError, match=r"eye_: only 2-D tensors are supported, got shape"):
        init.eye_(dg.empty(2, 2, 2))


# -- scaled by the fans --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [SHAPE, CONV])
@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier(shape, gain):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(dg.empty(*shape))
    std = gain * math.sqrt(2 / (fan_in + fan_out))
    check_uniform("xavier_uniform_", shape, std * math.sqrt(3), gain=gain)
    check_normal("xavier_normal_", shape, std, gain=gain)


@pytest.mark.parametrize("shape", [SHAPE, CONV])
@pytest.mark.parametrize("a, mode, nonlinearity", [
    (0, "fan_in", "relu"), (0.2, "fan_out", "leaky_relu"), (math.sqrt(5), "fan_in", "leaky_relu"),
    (0, "fan_in", "linear"), (0, "fan_out", "tanh"),
])
def test_kaiming(shape, a, mode, nonlinearity):
    fan = init._calculate_correct_fan(dg.empty(*shape), mode)
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    check_uniform("kaiming_uniform_", shape, std * math.sqrt(3), a, mode, nonlinearity)
    check_normal("kaiming_normal_", shape, std, a, mode, nonlinearity)


def test_kaiming_uniform_default_of_linear_layers():
    """PyTorch's Linear and Conv use kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(fan_in), ...)."""
    check_uniform("kaiming_uniform_", CONV, 1 / math.sqrt(576), a=math.sqrt(5))


def test_kaiming_on_an_empty_tensor_warns():
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_normal_(dg.empty(0, 3))


@pytest.mark.parametrize("shape", [(20, 50), (50, 20), (30, 30), (16, 4, 3, 3)])
def test_orthogonal(shape):
    t = init.orthogonal_(dg.empty(*shape), gain=2.0)
    w = t.array.reshape(shape[0], -1).astype(np.float64)
    small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    np.testing.assert_allclose(small, 4.0 * np.eye(min(w.shape)), atol=1e-5)
    assert t.dtype == dg.float32
    with pytest.raises(ValueError, match=r"2 or more dimensions are supported, got shape \(4,\)"):
        init.orthogonal_(dg.empty(4))


def test_orthogonal_signs_are_uniform():
    """QR's sign convention would bias the diagonal; the sign fix makes it symmetric."""
    diag = np.concatenate([np.diag(init.orthogonal_(dg.empty(8, 8)).array) for _ in range(200)])
    assert abs(np.mean(diag > 0) - 0.5) < 0.07


# -- properties every random initializer shares ---------------------------------------------------
RANDOM = [("uniform_", ()), ("normal_", ()), ("trunc_normal_", ()), ("xavier_uniform_", ()),
          ("xavier_normal_", ()), ("kaiming_uniform_", ()), ("kaiming_normal_", ()),
          ("orthogonal_", ())]


@pytest.mark.parametrize("fill, args", RANDOM)
def test_seeded_in_place_and_dtype(fill, args):
    fn = getattr(init, fill)
    dg.manual_seed(0)
    t = dg.empty(6, 5, requires_grad=True)  # a leaf that requires grad, like a Parameter
    array = t.array
    assert fn(t, *args) is t and t.array is array and t.grad_fn is None
    dg.manual_seed(0)
    np.testing.assert_array_equal(fn(dg.empty(6, 5)).array, array)
    assert fn(dg.empty(6, 5, dtype=dg.float64)).dtype == dg.float64
    assert fn(dg.empty(6, 5)).dtype == dg.float32
    gen = np.random.default_rng(7)
    first = fn(dg.empty(6, 5), generator=gen).array
    assert np.array_equal(first, fn(dg.empty(6, 5), generator=np.random.default_rng(7)).array)
    assert not np.array_equal(first, fn(dg.empty(6, 5), generator=gen).array)


@pytest.mark.parametrize("fill, args", RANDOM)
def test_clear_errors(fill, args):
    fn = getattr(init, fill)
    with pytest.raises(TypeError, match=f"{fill}: expected a deepgrad Tensor, got ndarray"):
        fn(np.zeros((3, 3)))
    with pytest.raises(TypeError, match=f"{fill}: needs a floating point tensor, got"):
        fn(dg.zeros(3, 3, dtype=dg.int64))
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        fn(dg.empty(3, 3), generator=42)


# -- choosing by activation ----------------------------------------------------------------------
class ReLU:
    """Stands for an activation module: only its class name matters."""


class LeakyReLU:
    def __init__(self, negative_slope):
        self.negative_slope = negative_slope


def relu(x):
    return x


@pytest.mark.parametrize("activation, scheme", [
    ("relu", "he"), ("leaky_relu", "he"), ("elu", "he"), ("GELU", "he"), ("silu", "he"),
    (ReLU(), "he"), (relu, "he"), ("tanh", "glorot"), ("sigmoid", "glorot"),
    ("linear", "glorot"), ("softmax", "glorot"), ("selu", "lecun"),
])
def test_init_for_activation_picks_the_scheme(activation, scheme):
    fan_in, fan_out = 576, 1152
    t = init.init_for_activation(dg.empty(*CONV), activation)
    _, hi, mean, std = stats(t.array)
    gain = 5 / 3 if activation == "tanh" else 1.0
    if scheme == "glorot":  # uniform
        bound = gain * math.sqrt(6 / (fan_in + fan_out))
        assert hi <= bound and std == pytest.approx(bound / math.sqrt(3), rel=0.03)
    else:  # normal: He with relu's gain, LeCun with gain 1
        expected = (math.sqrt(2) if scheme == "he" else 1.0) / math.sqrt(fan_in)
        assert hi > 3 * expected and std == pytest.approx(expected, rel=0.03)
    assert abs(mean) < 0.03 * std


def test_init_for_activation_leaky_slope_and_distribution():
    t = init.init_for_activation(dg.empty(*CONV), LeakyReLU(0.5), distribution="uniform")
    bound = math.sqrt(2 / 1.25) * math.sqrt(3 / 576)
    _, hi, _, std = stats(t.array)
    assert 0.99 * bound < hi <= bound and std == pytest.approx(bound / math.sqrt(3), rel=0.03)


def test_init_for_activation_on_a_module():
    class Net:
        def __init__(self):
            self.params = {"0.weight": dg.empty(200, 100), "0.bias": dg.ones(200),
                           "norm.weight": dg.ones(200), "norm.bias": dg.ones(200)}

        def named_parameters(self):
            return iter(self.params.items())

    net = Net()
    assert init.init_for_activation(net, "relu") is net
    p = net.params
    assert np.std(p["0.weight"].array) == pytest.approx(math.sqrt(2 / 100), rel=0.03)
    assert np.all(p["0.bias"].array == 0) and np.all(p["norm.bias"].array == 0)
    assert np.all(p["norm.weight"].array == 1)  # 1-D weights are left alone


def test_init_for_activation_errors():
    with pytest.raises(ValueError, match="unknown activation 'softplus'; use one of relu"):
        init.init_for_activation(dg.empty(3, 3), "softplus")
    with pytest.raises(ValueError, match="distribution must be 'normal' or 'uniform'"):
        init.init_for_activation(dg.empty(3, 3), "relu", distribution="laplace")
    with pytest.raises(TypeError, match="expected a Tensor or a module, got list"):
        init.init_for_activation([dg.empty(3, 3)], "relu")


def test_init_for_activation_on_a_real_model():
    net = dg.nn.Sequential(dg.nn.Linear(300, 200), dg.nn.Tanh(), dg.nn.Linear(200, 10))
    init.init_for_activation(net, dg.nn.Tanh())
    bound = 5 / 3 * math.sqrt(6 / 500)
    _, hi, _, std = stats(net[0].weight.array)
    assert 0.99 * bound < hi <= bound and std == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert np.all(net[0].bias.array == 0) and np.all(net[2].bias.array == 0)
    assert net[0].weight.dtype == dg.float32 and net[0].weight.requires_grad

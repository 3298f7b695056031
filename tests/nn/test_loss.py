"""Losses: oracle against torch for every loss, reduction and option; gradchecks; stability;
errors; the module forms."""

import numpy as np
import pytest
from harness import Case, In, OpSpec, assert_same, make_tests

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

REDUCTIONS = ("mean", "sum", "none")


def both(name, call=None):
    """The deepgrad and torch forms of a loss: ``call(M, *tensors, **options)``, M = F or TF."""
    if call is None:
        def call(M, *a, **k):
            return getattr(M, name)(*a, **k)
    return (lambda *a, **k: call(F, *a, **k)), (lambda *a, **k: call(TF, *a, **k))


def spec(label, name, cases, call=None, **options) -> OpSpec:
    """The declaration of one loss (``call`` as in ``both``) over these cases."""
    ours, theirs = both(name, call)
    return OpSpec(label, ours, [c for group in cases for c in group], torch_fn=theirs, **options)


def case(label, *inputs, reductions=REDUCTIONS, gradcheck=True, oracle=True, **options) -> list:
    """One case per reduction: the same inputs and options under each."""
    return [Case(*inputs, label=f"{label}-{r}", gradcheck=gradcheck, oracle=oracle,
                 reduction=r, **options) for r in reductions]


def fixed(values, dtype=None, requires_grad=False) -> In:
    a = np.asarray(values)
    return In(a.shape, dtype=dtype, values=values, requires_grad=requires_grad)


def classes(shape, n, requires_grad=False) -> In:
    return In(shape, dtype="int64", low=0, high=n, requires_grad=requires_grad)


def positive(shape, requires_grad=False) -> In:
    return In(shape, low=0.2, high=2.0, requires_grad=requires_grad)


SIGNS = fixed([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]])
WITH_IGNORED = fixed([0, 3, -100, 1, 2], "int64")
IGNORED_AS_1 = fixed([0, 1, 3, 1, 2], "int64")
SPATIAL_IGNORED = fixed([[0, -100, 3], [2, 1, -100]], "int64")


SPECS = [
    # -- regression
    spec("mse", "mse_loss", [
        case("2d", (4, 3), (4, 3)),
        case("0d", (), ()),
        case("weight", (4, 3), (4, 3), positive((4, 3))),
    ], call=lambda M, x, t, w=None, **k: M.mse_loss(x, t, weight=w, **k)),
    spec("l1", "l1_loss", [
        case("3d", (2, 3, 2), (2, 3, 2)),
        case("weight", (4, 3), (4, 3), positive((4, 3))),
    ], call=lambda M, x, t, w=None, **k: M.l1_loss(x, t, weight=w, **k)),
    spec("smooth_l1", "smooth_l1_loss", [
        case("beta1", (4, 3), (4, 3)),
        case("beta0.5", (4, 3), (4, 3), beta=0.5),
        case("beta0", (4, 3), (4, 3), beta=0.0),
    ]),
    spec("huber", "huber_loss", [
        case("delta1", (4, 3), (4, 3)),
        case("delta0.7", (4, 3), (4, 3), delta=0.7),
        case("weight", (4, 3), (4, 3), positive((4, 3)), delta=0.5),
    ], call=lambda M, x, t, w=None, **k: M.huber_loss(x, t, weight=w, **k)),
    # -- binary classification
    spec("bce", "binary_cross_entropy", [
        case("2d", In((4, 3), low=0.02, high=0.98), In((4, 3), low=0, high=1)),
        case("weight", In((4, 3), low=0.02, high=0.98), In((4, 3), low=0, high=1),
             positive((3,))),
    ], call=lambda M, x, t, w=None, **k: M.binary_cross_entropy(x, t, weight=w, **k)),
    # torch's 1e-12 floor of x (1 - x) is a float32 number: 4e-9 away from ours in float64
    spec("bce_clamped", "binary_cross_entropy", [
        case("logs", fixed([0.0, 1.0, 0.0, 1.0, 0.5], requires_grad=True),
             fixed([1.0, 0.0, 0.0, 1.0, 0.3]), gradcheck=False),
    ], rtol64=1e-8),
    spec("bce_logits", "binary_cross_entropy_with_logits", [
        case("2d", In((4, 3), low=-4, high=4), In((4, 3), low=0, high=1)),
        case("weight", (4, 3), In((4, 3), low=0, high=1), positive((3,))),
    ], call=lambda M, x, t, w=None, **k: M.binary_cross_entropy_with_logits(x, t, w, **k)),
    spec("bce_logits_pos_weight", "binary_cross_entropy_with_logits", [
        case("pos_weight", (4, 3), In((4, 3), low=0, high=1), positive((3,))),
        case("weight", (2, 3, 2), In((2, 3, 2), low=0, high=1), positive((2,)),
             positive((3, 2))),
        # torch has no gradient for pos_weight; ours is checked against finite differences
        case("pos_weight-grad", (4, 3), In((4, 3), low=0, high=1), positive((3,), True),
             oracle=False),
    ], call=lambda M, x, t, pw, w=None, **k: M.binary_cross_entropy_with_logits(
        x, t, weight=w, pos_weight=pw, **k)),
    # -- classes
    spec("nll", "nll_loss", [
        case("2d", (5, 4), classes((5,), 4)),
        case("ignore", (5, 4), WITH_IGNORED),
        case("ignore_index", (5, 4), IGNORED_AS_1, ignore_index=1),
        case("spatial", (2, 4, 3, 2), classes((2, 3, 2), 4)),
        case("unbatched", (4,), fixed(2, "int64")),
    ]),
    spec("nll_weight", "nll_loss", [
        case("2d", (5, 4), classes((5,), 4), positive((4,))),
        case("ignore", (5, 4), WITH_IGNORED, positive((4,))),
        case("spatial", (2, 4, 3), classes((2, 3), 4), positive((4,))),
        case("spatial-ignore", (2, 4, 3), SPATIAL_IGNORED, positive((4,))),
    ], call=lambda M, x, t, w, **k: M.nll_loss(x, t, w, **k)),
    spec("cross_entropy", "cross_entropy", [
        case("2d", (5, 4), classes((5,), 4)),
        case("ignore", (5, 4), WITH_IGNORED),
        case("ignore_index", (5, 4), IGNORED_AS_1, ignore_index=1),
        case("spatial", (2, 4, 3, 2), classes((2, 3, 2), 4)),
        case("unbatched", (4,), fixed(3, "int64")),
        case("smoothing", (5, 4), classes((5,), 4), label_smoothing=0.1),
        case("smoothing-ignore", (5, 4), WITH_IGNORED, label_smoothing=0.25),
        case("smoothing-spatial", (2, 4, 3), classes((2, 3), 4), label_smoothing=0.2),
        case("probs", (5, 4), In((5, 4), low=0, high=1)),
        case("probs-smoothing", (5, 4), In((5, 4), low=0, high=1), label_smoothing=0.3),
        case("probs-spatial", (2, 4, 3), In((2, 4, 3), low=0, high=1)),
        case("probs-unbatched", (4,), In((4,), low=0, high=1)),
    ]),
    spec("cross_entropy_weight", "cross_entropy", [
        case("2d", (5, 4), classes((5,), 4), positive((4,))),
        case("ignore", (5, 4), WITH_IGNORED, positive((4,))),
        case("spatial", (2, 4, 3, 2), classes((2, 3, 2), 4), positive((4,))),
        case("smoothing", (5, 4), classes((5,), 4), positive((4,)), label_smoothing=0.1),
        case("smoothing-ignore", (5, 4), WITH_IGNORED, positive((4,)), label_smoothing=0.3),
        case("spatial-ignore-smoothing", (2, 4, 3), SPATIAL_IGNORED, positive((4,)),
             label_smoothing=0.2),
        case("probs", (5, 4), In((5, 4), low=0, high=1), positive((4,))),
        case("probs-smoothing-spatial", (2, 4, 3), In((2, 4, 3), low=0, high=1),
             positive((4,)), label_smoothing=0.2),
    ], call=lambda M, x, t, w, **k: M.cross_entropy(x, t, w, **k)),
    spec("multi_margin", "multi_margin_loss", [
        case("p1", (5, 4), classes((5,), 4)),
        case("p2-margin", (5, 4), classes((5,), 4), p=2, margin=0.5),
        case("unbatched", (4,), fixed(1, "int64")),
    ]),
    spec("multi_margin_weight", "multi_margin_loss", [
        case("p1", (5, 4), classes((5,), 4), positive((4,))),
        case("p2", (5, 4), classes((5,), 4), positive((4,)), p=2, margin=2.0),
    ], call=lambda M, x, t, w, **k: M.multi_margin_loss(x, t, weight=w, **k)),
    spec("soft_margin", "soft_margin_loss", [
        case("2d", (2, 3), SIGNS),
        case("target-grad", (2, 3), (2, 3), oracle=False),  # torch has no target gradient
    ]),
    # -- embeddings
    spec("hinge_embedding", "hinge_embedding_loss", [
        case("margin1", (2, 3), SIGNS),
        case("margin0.5", (2, 3), SIGNS, margin=0.5),
        case("other-targets", (2, 3), fixed([[1.0, 0.0, -1.0], [2.0, -1.0, 1.0]])),
    ]),
    spec("cosine_embedding", "cosine_embedding_loss", [
        case("2d", (4, 5), (4, 5), fixed([1.0, -1.0, 1.0, -1.0])),
        case("margin", (4, 5), (4, 5), fixed([1.0, -1.0, -1.0, -1.0]), margin=-0.2),
        case("int-target", (3, 5), (3, 5), fixed([1, -1, 1], "int64"), margin=0.1),
        case("unbatched", (5,), (5,), fixed(-1.0), margin=-0.5),
    ]),
    spec("margin_ranking", "margin_ranking_loss", [
        case("1d", (6,), (6,), fixed([1.0, -1.0, 1.0, -1.0, 1.0, -1.0], requires_grad=True)),
        case("margin-2d", (2, 3), (2, 3), SIGNS, margin=0.5),
    ]),
    spec("triplet", "triplet_margin_loss", [
        case("p2", (4, 5), (4, 5), (4, 5)),
        case("p1-margin", (4, 5), (4, 5), (4, 5), p=1.0, margin=2.0),
        case("p3-swap", (4, 5), (4, 5), (4, 5), p=3.0, swap=True),
        case("inf", (4, 5), (4, 5), (4, 5), p=float("inf"), margin=1.5),
        case("swap-eps", (4, 5), (4, 5), (4, 5), swap=True, eps=1e-3, margin=3.0),
        case("1d", (5,), (5,), (5,), margin=2.0),
        case("3d", (2, 3, 4), (2, 3, 4), (2, 3, 4), margin=2.0),
    ]),
    # -- distributions
    spec("kl_div", "kl_div", [
        case("probs", (4, 3), In((4, 3), low=0.05, high=1.0)),
        case("zeros", (2, 3), fixed([[0.0, 0.5, 0.5], [0.2, 0.0, 0.8]])),
        case("log_target", (4, 3), (4, 3), log_target=True),
        case("batchmean", (4, 3), In((4, 3), low=0.05, high=1.0), reductions=("batchmean",)),
        case("batchmean-log", (4, 3), (4, 3), log_target=True, reductions=("batchmean",)),
    ], marks=[pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")]),
]

for s in SPECS:
    if s.name.startswith("triplet"):
        s.gc_atol = 1e-4  # the p-norm of a small difference: a steep function
test_gradcheck, test_oracle = make_tests(SPECS)


# -- stability ----------------------------------------------------------------------------------
def _pair(array, requires_grad=True):
    ours = dg.tensor(array, requires_grad=requires_grad)
    theirs = torch.tensor(array, requires_grad=requires_grad)
    return ours, theirs


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_is_stable_for_huge_logits(smoothing):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], np.float32)
    target = np.array([1, 2, 0])
    x, tx = _pair(logits)
    out = F.cross_entropy(x, dg.tensor(target), label_smoothing=smoothing)
    ref = TF.cross_entropy(tx, torch.tensor(target), label_smoothing=smoothing)
    out.backward()
    ref.backward()
    assert np.isfinite(out.item()) and np.isfinite(x.grad.array).all()
    assert_same(out, ref, 1e-6, 0, "loss")
    assert_same(x.grad, tx.grad, 1e-6, 1e-7, "grad")


@pytest.mark.parametrize("pos_weight", [None, [0.5, 3.0]])
def test_bce_with_logits_is_stable_for_huge_logits(pos_weight):
    logits = np.array([[100.0, -100.0], [-100.0, 100.0], [88.0, -90.0]], np.float32)
    target = np.array([[1.0, 0.0], [1.0, 0.0], [0.3, 0.7]], np.float32)
    x, tx = _pair(logits)
    pw = None if pos_weight is None else dg.tensor(pos_weight)
    tpw = None if pos_weight is None else torch.tensor(pos_weight)
    out = F.binary_cross_entropy_with_logits(x, dg.tensor(target), pos_weight=pw,
                                             reduction="none")
    ref = TF.binary_cross_entropy_with_logits(tx, torch.tensor(target), pos_weight=tpw,
                                              reduction="none")
    out.sum().backward()
    ref.sum().backward()
    assert np.isfinite(out.array).all() and np.isfinite(x.grad.array).all()
    assert_same(out, ref, 1e-6, 1e-6, "loss")
    assert_same(x.grad, tx.grad, 1e-6, 1e-7, "grad")


def test_bce_clamps_the_logs_at_minus_100():
    x = dg.tensor([0.0, 1.0], requires_grad=True)
    out = F.binary_cross_entropy(x, dg.tensor([1.0, 0.0]), reduction="none")
    np.testing.assert_array_equal(out.array, [100.0, 100.0])


def test_soft_margin_is_finite_where_torch_overflows():
    x = dg.tensor([100.0, -100.0], requires_grad=True)
    out = F.soft_margin_loss(x, dg.tensor([-1.0, 1.0]), reduction="none")
    out.sum().backward()
    np.testing.assert_allclose(out.array, [100.0, 100.0])
    np.testing.assert_allclose(x.grad.array, [1.0, -1.0])


def test_cross_entropy_all_ignored_is_nan_like_torch():
    x, tx = _pair(np.zeros((2, 3), np.float32))
    target = np.array([-100, -100])
    with np.errstate(all="raise"):
        out = F.cross_entropy(x, dg.tensor(target))
    ref = TF.cross_entropy(tx, torch.tensor(target))
    assert np.isnan(out.item()) and np.isnan(ref.item())
    assert F.cross_entropy(x, dg.tensor(target), reduction="sum").item() == 0


# -- dtypes -------------------------------------------------------------------------------------
LOSS_CALLS = {
    "mse": lambda x: F.mse_loss(x, dg.zeros(4, 3, dtype=dg.float64)),
    "bce": lambda x: F.binary_cross_entropy(x.sigmoid(), np.full((4, 3), 0.5)),
    "bce_logits": lambda x: F.binary_cross_entropy_with_logits(
        x, np.full((4, 3), 0.5), weight=np.ones(3), pos_weight=np.full(3, 2.0)),
    "cross_entropy": lambda x: F.cross_entropy(x, dg.tensor([0, 1, 2, 1]), np.ones(3),
                                               label_smoothing=0.1),
    "cross_entropy_probs": lambda x: F.cross_entropy(x, np.full((4, 3), 1 / 3)),
    "nll": lambda x: F.nll_loss(x, dg.tensor([0, 1, 2, 1]), np.ones(3)),
    "multi_margin": lambda x: F.multi_margin_loss(x, dg.tensor([0, 1, 2, 1]), p=2,
                                                  weight=np.ones(3)),
    "kl_div": lambda x: F.kl_div(x, np.full((4, 3), 1 / 3)),
    "triplet": lambda x: F.triplet_margin_loss(x, np.zeros((4, 3)), np.ones((4, 3))),
    "cosine": lambda x: F.cosine_embedding_loss(x, np.ones((4, 3)), np.ones(4)),
}


@pytest.mark.parametrize("name", LOSS_CALLS)
def test_float32_stays_float32_with_float64_targets_and_weights(name):
    x = dg.randn(4, 3, requires_grad=True)
    out = LOSS_CALLS[name](x)
    out.backward()
    assert out.dtype == dg.float32 and x.grad.dtype == dg.float32


@pytest.mark.parametrize("dtype", [dg.int32, dg.uint8])
def test_class_indices_of_any_integer_dtype(dtype):
    # torch takes int64 (and uint8) only; any integer dtype is a valid index here
    x = dg.randn(4, 3)
    target = dg.tensor([0, 2, 1, 2])
    expected = F.cross_entropy(x, target).item()
    assert F.cross_entropy(x, target.to(dtype)).item() == expected
    assert F.nll_loss(x, target.to(dtype)).item() == F.nll_loss(x, target).item()


# -- errors -------------------------------------------------------------------------------------
def _ints(*shape, high=3):
    return dg.randint(0, high, shape)


ERRORS = [
    (lambda: F.cross_entropy(dg.randn(32, 10), _ints(32, 1)), ValueError,
     r"cross_entropy: target has shape \(32, 1\), expected \(32,\)"),
    (lambda: F.cross_entropy(dg.randn(4, 3), _ints(5)), ValueError,
     r"target has shape \(5,\), expected \(4,\)"),
    (lambda: F.cross_entropy(dg.randn(4, 3, 5), _ints(4, 6)), ValueError,
     r"target has shape \(4, 6\), expected \(4, 5\)"),
    (lambda: F.cross_entropy(dg.randn(4, 3), dg.zeros(4)), TypeError,
     r"cross_entropy: target has dtype deepgrad.float32 and shape \(4,\); expected an integer "
     r"tensor of class indices, or floating class probabilities of shape \(4, 3\)"),
    (lambda: F.cross_entropy(dg.randn(4, 3), dg.zeros(4, 3, dtype=dg.bool)), TypeError,
     "target has dtype deepgrad.bool"),
    (lambda: F.nll_loss(dg.randn(4, 3), dg.zeros(4)), TypeError,
     r"nll_loss: target has dtype deepgrad.float32 .* integer tensor of class indices of shape"),
    (lambda: F.nll_loss(dg.randn(4, 3), dg.rand(4, 3)), TypeError, "nll_loss: target"),
    (lambda: F.cross_entropy(dg.randn(4, 3), dg.tensor([0, 1, 3, 2])), IndexError,
     r"cross_entropy: target 3 is out of bounds for 3 classes"),
    (lambda: F.nll_loss(dg.randn(4, 3), dg.tensor([0, -1, 1, 2])), IndexError,
     r"nll_loss: target -1 is out of bounds"),
    (lambda: F.cross_entropy(dg.randn(4, 3), _ints(4), dg.ones(2)), ValueError,
     r"cross_entropy: weight has shape \(2,\), expected \(3,\)"),
    (lambda: F.cross_entropy(dg.randn(4, 3), dg.rand(4, 3), ignore_index=0), ValueError,
     "ignore_index=0 is not supported with class probability targets"),
    (lambda: F.cross_entropy(dg.randn(4, 3), _ints(4), label_smoothing=1.5), ValueError,
     "label_smoothing must be between 0.0 and 1.0"),
    (lambda: F.cross_entropy(dg.tensor(1.0), dg.tensor(0)), ValueError,
     "input must have a class dimension"),
    (lambda: F.cross_entropy(_ints(4, 3), _ints(4)), TypeError,
     "cross_entropy: input must be a floating point tensor, got deepgrad.int64"),
    (lambda: F.mse_loss(dg.randn(4), dg.randn(4, 1)), ValueError,
     r"mse_loss: target has shape \(4, 1\), expected \(4,\) \(the input's shape\)"),
    (lambda: F.l1_loss(dg.randn(4, 3), dg.randn(3)), ValueError, "l1_loss: target has shape"),
    (lambda: F.mse_loss(dg.randn(4), dg.randn(4), weight=dg.ones(1)), ValueError,
     r"mse_loss: weight has shape \(1,\), expected \(4,\)"),
    (lambda: F.mse_loss(dg.randn(4), dg.randn(4), reduction="avg"), ValueError,
     "mse_loss: reduction must be one of 'none', 'mean', 'sum', got 'avg'"),
    (lambda: F.kl_div(dg.randn(4), dg.rand(4), reduction="max"), ValueError,
     "'batchmean', got 'max'"),
    (lambda: F.smooth_l1_loss(dg.randn(4), dg.randn(4), beta=-1), ValueError,
     "beta must be non-negative"),
    (lambda: F.huber_loss(dg.randn(4), dg.randn(4), delta=0), ValueError,
     "delta must be positive"),
    (lambda: F.binary_cross_entropy(dg.randn(4, 3).sigmoid(), dg.rand(4, 1)), ValueError,
     r"binary_cross_entropy: target has shape \(4, 1\), expected \(4, 3\)"),
    (lambda: F.binary_cross_entropy(dg.randn(4, 3), dg.rand(4, 3)), ValueError,
     "all elements of input should be between 0 and 1"),
    (lambda: F.binary_cross_entropy(dg.rand(4, 3), dg.rand(4, 3) * 3), ValueError,
     "all elements of target should be between 0 and 1"),
    (lambda: F.binary_cross_entropy(dg.rand(4, 3), dg.rand(4, 3), dg.ones(5, 4, 3)), ValueError,
     r"weight of shape \(5, 4, 3\) does not broadcast to the input's shape \(4, 3\)"),
    (lambda: F.binary_cross_entropy_with_logits(dg.randn(4, 3), dg.rand(4, 1)), ValueError,
     r"binary_cross_entropy_with_logits: target has shape \(4, 1\), expected \(4, 3\)"),
    (lambda: F.binary_cross_entropy_with_logits(dg.randn(4, 3), dg.rand(4, 3),
                                                pos_weight=dg.ones(4)), ValueError,
     r"pos_weight of shape \(4,\) does not broadcast to the input's shape \(4, 3\)"),
    (lambda: F.multi_margin_loss(dg.randn(4, 3), _ints(4), p=3), ValueError,
     "only p == 1 and p == 2 are supported"),
    (lambda: F.multi_margin_loss(dg.randn(4, 3), _ints(5)), ValueError,
     r"multi_margin_loss: target has shape \(5,\), expected \(4,\)"),
    (lambda: F.multi_margin_loss(dg.randn(2, 3, 4), _ints(2)), ValueError,
     r"input must be a non-empty \(C,\) or \(N, C\) tensor, got shape \(2, 3, 4\)"),
    (lambda: F.multi_margin_loss(dg.randn(4, 3), dg.full((4,), 3)), IndexError,
     "target 3 is out of bounds for 3 classes"),
    (lambda: F.multi_margin_loss(dg.randn(4, 3), dg.zeros(4)), TypeError,
     "target must be an integer tensor"),
    (lambda: F.hinge_embedding_loss(dg.randn(4), dg.ones(4, 1)), ValueError,
     r"hinge_embedding_loss: target has shape \(4, 1\)"),
    (lambda: F.cosine_embedding_loss(dg.randn(4, 3), dg.randn(4, 3), dg.ones(5)), ValueError,
     r"cosine_embedding_loss: target has shape \(5,\), expected \(4,\)"),
    (lambda: F.cosine_embedding_loss(dg.randn(4, 3), dg.randn(4, 2), dg.ones(4)), ValueError,
     r"input1 and input2 must have the same shape"),
    (lambda: F.margin_ranking_loss(dg.randn(4), dg.randn(4), dg.ones(4, 1)), ValueError,
     r"margin_ranking_loss: target has shape \(4, 1\), expected \(4,\)"),
    (lambda: F.margin_ranking_loss(dg.randn(4), dg.randn(5), dg.ones(4)), ValueError,
     r"margin_ranking_loss: input2 has shape \(5,\), expected \(4,\)"),
    (lambda: F.triplet_margin_loss(dg.randn(4, 3), dg.randn(4, 3), dg.randn(3)), ValueError,
     "the same number of dimensions"),
    (lambda: F.triplet_margin_loss(dg.randn(4, 3), dg.randn(4, 3), dg.randn(4, 3), margin=0),
     ValueError, "margin must be greater than 0"),
    (lambda: F.soft_margin_loss(dg.randn(4, 3), dg.ones(4, 1)), ValueError,
     "soft_margin_loss: target has shape"),
    (lambda: F.kl_div(dg.randn(4, 3), dg.rand(4, 1)), ValueError, "kl_div: target has shape"),
]


@pytest.mark.parametrize("call, error, message", ERRORS, ids=[m[:40] for _, _, m in ERRORS])
def test_errors_name_the_loss_and_the_shapes(call, error, message):
    with pytest.raises(error, match=message):
        call()


# -- modules ------------------------------------------------------------------------------------
def _inputs():
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    return x, np.array([0, 2, 1, 2])


MODULES = [
    # (deepgrad module, torch module, inputs as arrays)
    (nn.MSELoss(reduction="sum"), torch.nn.MSELoss(reduction="sum"), "xy"),
    (nn.L1Loss(), torch.nn.L1Loss(), "xy"),
    (nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5), "xy"),
    (nn.HuberLoss("none", 0.5), torch.nn.HuberLoss("none", 0.5), "xy"),
    (nn.BCELoss(dg.ones(3) * 2), torch.nn.BCELoss(torch.ones(3) * 2), "pp"),
    (nn.BCEWithLogitsLoss(pos_weight=dg.ones(3) * 3),
     torch.nn.BCEWithLogitsLoss(pos_weight=torch.ones(3) * 3), "xp"),
    (nn.NLLLoss(dg.tensor([1.0, 2.0, 3.0]), ignore_index=1),
     torch.nn.NLLLoss(torch.tensor([1.0, 2.0, 3.0]), ignore_index=1), "xc"),
    (nn.CrossEntropyLoss(dg.tensor([1.0, 2.0, 3.0]), label_smoothing=0.1),
     torch.nn.CrossEntropyLoss(torch.tensor([1.0, 2.0, 3.0]), label_smoothing=0.1), "xc"),
    (nn.MultiMarginLoss(2, 0.5), torch.nn.MultiMarginLoss(2, 0.5), "xc"),
    (nn.SoftMarginLoss(), torch.nn.SoftMarginLoss(), "xs"),
    (nn.HingeEmbeddingLoss(0.5), torch.nn.HingeEmbeddingLoss(0.5), "xs"),
    (nn.CosineEmbeddingLoss(0.1), torch.nn.CosineEmbeddingLoss(0.1), "xyv"),
    (nn.MarginRankingLoss(0.2), torch.nn.MarginRankingLoss(0.2), "xys"),
    (nn.TripletMarginLoss(2.0, swap=True), torch.nn.TripletMarginLoss(2.0, swap=True), "xyx"),
    (nn.KLDivLoss(reduction="batchmean", log_target=True),
     torch.nn.KLDivLoss(reduction="batchmean", log_target=True), "xy"),
]


def _arrays(kinds: str):
    rng = np.random.default_rng(2)
    make = {
        "x": lambda: rng.standard_normal((4, 3)).astype(np.float32),
        "y": lambda: rng.standard_normal((4, 3)).astype(np.float32),
        "p": lambda: rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32),
        "c": lambda: np.array([0, 2, 1, 2]),
        "s": lambda: np.sign(rng.standard_normal((4, 3))).astype(np.float32),
        "v": lambda: np.array([1.0, -1.0, -1.0, 1.0], np.float32),
    }
    arrays = [make[k]() for k in kinds]
    if kinds == "xys":  # margin ranking: (N,) inputs
        arrays = [a[:, 0].copy() for a in arrays]
    return arrays


@pytest.mark.parametrize("ours, theirs, kinds", MODULES,
                         ids=[type(m[0]).__name__ for m in MODULES])
def test_modules_match_torch(ours, theirs, kinds):
    arrays = _arrays(kinds)
    x, tx = _pair(arrays[0])
    out = ours(x, *[dg.tensor(a) for a in arrays[1:]])
    ref = theirs(tx, *[torch.tensor(a) for a in arrays[1:]])
    assert_same(out, ref, 1e-5, 1e-6, type(ours).__name__)
    out.sum().backward()
    ref.sum().backward()
    assert_same(x.grad, tx.grad, 1e-5, 1e-6, "grad")
    assert isinstance(ours, nn.Module)
    assert repr(ours).startswith(type(ours).__name__)


def test_class_weights_are_buffers_in_the_state_dict():
    loss = nn.CrossEntropyLoss(weight=dg.tensor([1.0, 2.0]))
    assert list(loss.state_dict()) == ["weight"]
    bce = nn.BCEWithLogitsLoss(weight=dg.ones(3), pos_weight=dg.ones(3))
    assert sorted(bce.state_dict()) == ["pos_weight", "weight"]
    assert nn.CrossEntropyLoss().weight is None and list(nn.CrossEntropyLoss().state_dict()) == []
    assert list(loss.parameters()) == []


def test_modules_keep_torch_attributes():
    loss = nn.CrossEntropyLoss(ignore_index=3, reduction="sum", label_smoothing=0.2)
    assert (loss.ignore_index, loss.reduction, loss.label_smoothing) == (3, "sum", 0.2)
    triplet = nn.TripletMarginLoss(margin=0.5, p=1.0, eps=1e-3, swap=True)
    assert (triplet.margin, triplet.p, triplet.eps, triplet.swap) == (0.5, 1.0, 1e-3, True)
    assert nn.HuberLoss().delta == 1.0 and nn.SmoothL1Loss().beta == 1.0
    assert nn.KLDivLoss().log_target is False
    with pytest.raises(ValueError, match="MSELoss: reduction must be one of"):
        nn.MSELoss(reduction="avg")

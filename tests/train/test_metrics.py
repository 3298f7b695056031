"""Metrics against hand-computed values, streaming over batches against one shot, and errors."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.train import metrics as M

# Six samples over three classes. Confusion matrix (rows true, columns predicted):
# [[1, 0, 0], [0, 1, 1], [1, 1, 1]]: tp = 1, 1, 1; predicted 2, 2, 2; actual 1, 2, 3.
PRED = [0, 1, 2, 2, 1, 0]
TRUE = [0, 1, 1, 2, 2, 2]


def _pairwise_auc(scores, positive):
    """ROC-AUC by definition: over all (positive, negative) pairs, 1 when the positive scores
    higher, 1/2 on a tie."""
    sp, sn = scores[positive][:, None], scores[~positive][None, :]
    return float(np.mean((sp > sn) + 0.5 * (sp == sn)))


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --- accuracy and top-k ------------------------------------------------------------------------

def test_accuracy_hand_computed():
    logits = [[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 0.5], [0.0, 0.0, 4.0]]
    assert M.accuracy(logits, [0, 2, 0, 2]) == 0.75  # argmax 0, 1, 0, 2
    assert M.accuracy(PRED, TRUE) == 0.5
    assert M.accuracy([[1.0, 1.0], [0.0, 0.0]], [0, 1]) == 0.5  # ties: the first maximum


def test_accuracy_takes_tensors_arrays_and_lists():
    logits = dg.randn(8, 4, requires_grad=True)
    targets = dg.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    expected = float(np.mean(logits.array.argmax(axis=1) == targets.array))
    assert M.accuracy(logits, targets) == expected
    assert M.accuracy(logits.array, targets.array.tolist()) == expected
    assert M.accuracy(dg.tensor([1.0, 0.0]), np.array([1.0, 1.0])) == 0.5  # whole floats


def test_top_k_hand_computed():
    preds = [[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.9, 0.05, 0.05]]
    targets = [2, 1, 1]
    # Ranked classes (ties: lower index first): [1, 2, 0], [2, 0, 1], [0, 1, 2].
    assert M.top_k_accuracy(preds, targets, k=1) == 0.0
    assert M.top_k_accuracy(preds, targets, k=2) == pytest.approx(2 / 3)
    assert M.top_k_accuracy(preds, targets, k=3) == 1.0


def test_top_1_equals_accuracy_with_ties():
    rng = np.random.default_rng(0)
    preds = rng.integers(0, 3, size=(200, 6)).astype(np.float32)  # many ties
    targets = rng.integers(0, 6, size=200)
    assert M.top_k_accuracy(preds, targets, k=1) == M.accuracy(preds, targets)
    ranks = np.argsort(-preds, axis=1, kind="stable")
    for k in (2, 4):
        expected = np.mean((ranks[:, :k] == targets[:, None]).any(axis=1))
        assert M.top_k_accuracy(preds, targets, k=k) == pytest.approx(expected)


# --- confusion matrix, precision, recall, F1 --------------------------------------------------

def test_confusion_matrix_hand_computed():
    expected = [[1, 0, 0], [0, 1, 1], [1, 1, 1]]
    cm = M.confusion_matrix(PRED, TRUE, 3)
    assert cm.dtype == np.int64 and cm.tolist() == expected
    assert M.confusion_matrix(PRED, TRUE).tolist() == expected  # classes inferred
    assert M.confusion_matrix(PRED, TRUE, num_classes=4).tolist() == [
        [1, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]]
    scores = np.eye(4, dtype=np.float32)[[0, 0, 1]]  # (N, C): the width sets the size
    assert M.confusion_matrix(scores, [0, 1, 1]).tolist() == [
        [1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_precision_recall_f1_hand_computed():
    p, r, f = M.precision_recall_f1(PRED, TRUE, 3, average=None)
    np.testing.assert_allclose(p, [1 / 2, 1 / 2, 1 / 2])
    np.testing.assert_allclose(r, [1, 1 / 2, 1 / 3])
    np.testing.assert_allclose(f, [2 / 3, 2 / 4, 2 / 5])  # 2 tp / (predicted + actual)
    macro = M.precision_recall_f1(PRED, TRUE, 3)
    np.testing.assert_allclose(macro, [1 / 2, 11 / 18, (2 / 3 + 1 / 2 + 2 / 5) / 3])
    micro = M.precision_recall_f1(PRED, TRUE, 3, average="micro")
    np.testing.assert_allclose(micro, [0.5, 0.5, 0.5])  # single-label: the accuracy
    weighted = M.precision_recall_f1(PRED, TRUE, 3, average="weighted")  # by support 1, 2, 3
    np.testing.assert_allclose(weighted, [1 / 2, 1 / 2, (2 / 3 + 2 * 2 / 4 + 3 * 2 / 5) / 6])
    assert all(isinstance(x, float) for x in macro + micro + weighted)


def test_zero_division_scores_zero_and_unseen_classes_leave_macro():
    preds, targets = [0, 0, 1], [0, 3, 1]  # class 3 never predicted, class 2 never seen
    p, r, f = M.precision_recall_f1(preds, targets, 4, average=None)
    np.testing.assert_allclose(p, [1 / 2, 1, 0, 0])
    np.testing.assert_allclose(r, [1, 1, 0, 0])
    np.testing.assert_allclose(f, [2 / 3, 1, 0, 0])
    macro = M.precision_recall_f1(preds, targets, 4)  # over classes 0, 1 and 3
    np.testing.assert_allclose(macro, [1 / 2, 2 / 3, 5 / 9])
    assert M.precision_recall_f1(preds, targets, 4) == M.precision_recall_f1(preds, targets, 9)


def test_precision_recall_f1_objects_match_function():
    for cls, i in ((M.Precision, 0), (M.Recall, 1), (M.F1Score, 2)):
        for average in ("macro", "micro", "weighted", None):
            m = cls(3, average=average)
            m.update(PRED, TRUE)
            expected = M.precision_recall_f1(PRED, TRUE, 3, average)[i]
            np.testing.assert_allclose(m.compute(), expected)


# --- ROC-AUC -----------------------------------------------------------------------------------

def test_roc_auc_hand_computed():
    assert M.roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    # Positives 0.5, 0.8 against negatives 0.5, 0.2: pairs score 1/2, 1, 1, 1.
    assert M.roc_auc([0.5, 0.5, 0.2, 0.8], [1, 0, 0, 1]) == 0.875
    assert M.roc_auc([0.3, 0.3, 0.3], [0, 1, 1]) == 0.5  # all tied
    assert M.roc_auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert M.roc_auc([4, 3, 2, 1], [False, False, True, True]) == 0.0
    # The ranking is all that counts: logits and their sigmoid give the same AUC.
    logits = np.array([-2.0, 0.5, 1.0, 3.0, -1.0])
    labels = [0, 1, 0, 1, 1]
    assert M.roc_auc(logits, labels) == M.roc_auc(1 / (1 + np.exp(-logits)), labels) == 4 / 6


def test_roc_auc_equals_pairwise_definition_with_many_ties():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 5, size=300).astype(np.float32)
    targets = rng.integers(0, 2, size=300)
    assert M.roc_auc(scores, targets) == pytest.approx(
        _pairwise_auc(scores, targets == 1), abs=1e-12)


def test_roc_auc_one_vs_rest():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(60, 3))
    targets = rng.integers(0, 3, size=60)
    probs = _softmax(logits)
    per_class = [_pairwise_auc(probs[:, c], targets == c) for c in range(3)]
    np.testing.assert_allclose(M.roc_auc(probs, targets, average=None), per_class, atol=1e-12)
    assert M.roc_auc(probs, targets) == pytest.approx(np.mean(per_class), abs=1e-12)
    assert M.roc_auc(logits, targets) == pytest.approx(np.mean(per_class), abs=1e-12)  # softmax


def test_roc_auc_undefined_with_one_class_raises():
    with pytest.raises(ValueError, match=r"roc_auc: targets hold only samples of class 1"):
        M.roc_auc([0.2, 0.7], [1, 1])
    with pytest.raises(ValueError, match=r"roc_auc: targets hold no samples of class 1"):
        M.roc_auc([0.2, 0.7], [0, 0])
    with pytest.raises(ValueError, match=r"no samples of class 2"):
        M.roc_auc(np.full((4, 3), 1 / 3), [0, 1, 0, 1])


def test_roc_auc_keeps_a_copy_of_each_batch():
    scores, targets = np.array([0.1, 0.9, 0.2, 0.8]), np.array([0, 1, 0, 1])
    m = M.ROCAUC()
    m.update(scores, targets)
    scores[:] = scores[::-1].copy()
    targets[0] = 1
    assert m.compute() == 1.0


# --- regression --------------------------------------------------------------------------------

def test_mean_absolute_error_hand_computed():
    assert M.mean_absolute_error([2.5, 0.0, 2, 8], [3, -0.5, 2, 7]) == 0.5
    preds = dg.tensor([[0.0, 2.0], [-1.0, 2.0]])
    assert M.mean_absolute_error(preds, np.array([[0.5, 1.0], [-1.0, 1.0]])) == 2.5 / 4
    assert M.mean_absolute_error(np.array([0, 1], np.uint8), np.array([1, 0], np.uint8)) == 1.0


def test_r2_hand_computed():
    # targets mean 2.875, SS_tot = 29.1875, SS_res = 0.25 + 0.25 + 0 + 1 = 1.5
    assert M.r2_score([2.5, 0.0, 2, 8], [3, -0.5, 2, 7]) == pytest.approx(1 - 1.5 / 29.1875)
    preds = [[0, 2], [-1, 2], [8, -5]]
    targets = [[0.5, 1], [-1, 1], [7, -6]]
    # column 0: mean 6.5/3, SS_res 1.25; column 1: mean -4/3, SS_res 3
    per_column = [1 - 1.25 / (0.25 + 1 + 49 - 6.5**2 / 3), 1 - 3 / (1 + 1 + 36 - 16 / 3)]
    np.testing.assert_allclose(M.r2_score(preds, targets, "raw_values"), per_column)
    assert M.r2_score(preds, targets) == pytest.approx(np.mean(per_column))
    assert M.r2_score([1.0, 1.0, 1.0], [2.0, 2.0, 2.0]) == 0.0  # constant targets, wrong fit
    assert M.r2_score([2.0, 2.0], [2.0, 2.0]) == 1.0  # constant targets, perfect fit
    assert M.r2_score([3.0, 2.0, 1.0], [1.0, 2.0, 3.0]) == -3.0  # worse than the mean


def test_r2_streaming_is_stable_with_a_large_offset():
    rng = np.random.default_rng(3)
    targets = 1e8 + rng.normal(size=1000)
    preds = targets + 0.1 * rng.normal(size=1000)
    ss_tot = ((targets - targets.mean()) ** 2).sum()
    expected = 1 - ((targets - preds) ** 2).sum() / ss_tot
    m = M.R2Score()
    for lo in range(0, 1000, 64):
        m.update(preds[lo:lo + 64], targets[lo:lo + 64])
    assert m.compute() == pytest.approx(expected, rel=1e-9)


# --- streaming, reset, inputs ------------------------------------------------------------------

def _classification_data(rng, n=97, c=5):
    return rng.normal(size=(n, c)).astype(np.float32), rng.integers(0, c, size=n)


STREAMED = [
    (M.Accuracy, "labels"), (lambda: M.TopKAccuracy(3), "labels"),
    (lambda: M.ConfusionMatrix(5), "labels"), (M.ConfusionMatrix, "labels"),
    (M.Precision, "labels"), (lambda: M.Recall(5, average=None), "labels"),
    (lambda: M.F1Score(average="weighted"), "labels"),
    (M.ROCAUC, "binary"), (lambda: M.ROCAUC(average=None), "labels"),
    (M.MeanAbsoluteError, "regression"), (M.R2Score, "regression"),
    (lambda: M.R2Score("raw_values"), "regression2d"),
]


@pytest.mark.parametrize("make, kind", STREAMED)
def test_streaming_over_batches_equals_one_shot(make, kind):
    rng = np.random.default_rng(4)
    preds, targets = _classification_data(rng)
    if kind == "binary":
        preds, targets = preds[:, 0], targets % 2
    elif kind.startswith("regression"):
        targets = preds + rng.normal(size=preds.shape).astype(np.float32)
        if kind == "regression":
            preds, targets = preds[:, 0], targets[:, 0]
    one_shot = make()
    one_shot.update(dg.tensor(preds), dg.tensor(targets))
    expected = one_shot.compute()
    streamed = make()
    streamed.update(preds[:3], targets[:3])
    streamed.reset()  # forgets that batch
    for lo, hi in ((0, 40), (40, 40), (40, 41), (41, 97)):  # uneven, one empty
        streamed.update(dg.tensor(preds[lo:hi]), targets[lo:hi])
    np.testing.assert_allclose(streamed.compute(), expected, rtol=1e-12)
    streamed.reset()
    with pytest.raises(ValueError, match=rf"{streamed.name}: .*(no samples|two samples)"):
        streamed.compute()


def test_confusion_matrix_grows_when_num_classes_is_none():
    m = M.ConfusionMatrix()
    m.update([0, 1], [1, 1])
    m.update([3], [0])
    assert m.compute().tolist() == [[0, 0, 0, 1], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_metrics_leave_inputs_unchanged():
    rng = np.random.default_rng(5)
    preds, targets = _classification_data(rng)
    before = preds.copy(), targets.copy()
    for fn in (M.accuracy, M.top_k_accuracy, M.confusion_matrix, M.roc_auc):
        fn(preds, targets)
    np.testing.assert_array_equal(preds, before[0])
    np.testing.assert_array_equal(targets, before[1])


# --- errors ------------------------------------------------------------------------------------

ERRORS = [
    (lambda: M.accuracy(np.zeros((4, 3)), np.zeros((4, 1), int)),
     r"accuracy: targets has shape \(4, 1\), expected \(4,\)"),
    (lambda: M.accuracy(np.zeros((4, 3)), [0, 1, 2]),
     r"accuracy: targets has shape \(3,\), expected \(4,\)"),
    (lambda: M.accuracy(np.zeros((2, 3, 4)), [0, 1]),
     r"accuracy: preds has shape \(2, 3, 4\), expected \(N, C\) scores or \(N,\) class indices"),
    (lambda: M.accuracy([0.2, 0.7], [0, 1]), r"accuracy: preds of shape \(N,\) must hold class"),
    (lambda: M.accuracy([0, 1], [0, -1]), r"accuracy: targets must hold class indices >= 0"),
    (lambda: M.top_k_accuracy(np.zeros((2, 3)), [0, 1], k=4),
     r"top4: k=4 is more than the 3 classes of preds with shape \(2, 3\)"),
    (lambda: M.top_k_accuracy([0, 1], [0, 1], k=1), r"top1: preds has shape \(2,\), expected"),
    (lambda: M.top_k_accuracy(np.zeros((2, 3)), [0, 3], k=1), r"targets holds class 3 but"),
    (lambda: M.top_k_accuracy(np.zeros((2, 3)), [0, 1], k=0), r"k must be a positive integer"),
    (lambda: M.confusion_matrix([0, 3], [0, 1], 3),
     r"confusion_matrix: preds holds class 3, outside \[0, 3\) for num_classes=3"),
    (lambda: M.confusion_matrix(np.zeros((2, 4)), [0, 1], 3),
     r"confusion_matrix: preds has 4 columns, expected num_classes=3"),
    (lambda: M.confusion_matrix([0], [0], 0), r"num_classes must be a positive integer"),
    (lambda: M.precision_recall_f1([0], [0], 2, average="binary"),
     r"precision_recall_f1: average must be one of"),
    (lambda: M.F1Score(average="samples"), r"f1: average must be one of"),
    (lambda: M.roc_auc([0.1, 0.2, 0.3], [0, 1, 2]),
     r"roc_auc: targets holds 2, expected 0 or 1 for binary scores"),
    (lambda: M.roc_auc([0.1, np.nan], [0, 1]), r"roc_auc: scores must be finite"),
    (lambda: M.roc_auc(np.zeros((2, 1)), [0, 1]), r"roc_auc: scores has shape \(2, 1\)"),
    (lambda: M.roc_auc([0.1, 0.2], [0, 1], average="micro"), r"average must be 'macro' or None"),
    (lambda: M.mean_absolute_error(np.zeros((4, 1)), np.zeros(4)),
     r"mae: preds has shape \(4, 1\) but targets has shape \(4,\); they must match"),
    (lambda: M.r2_score([1.0], [2.0]), r"r2: needs at least two samples, got 1"),
    (lambda: M.r2_score(np.zeros((2, 2, 2)), np.zeros((2, 2, 2))), r"expected \(N,\) or \(N, D\)"),
    (lambda: M.accuracy(object(), [0]), r"accuracy: preds must be a Tensor, array or list"),
]


@pytest.mark.parametrize("call, message", ERRORS)
def test_errors_name_the_metric_and_shapes(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_batches_of_different_widths_are_rejected():
    m = M.ROCAUC()
    m.update(np.full((2, 3), 1 / 3), [0, 1])
    with pytest.raises(ValueError, match=r"roc_auc: scores has shape \(2, 4\), but earlier"):
        m.update(np.full((2, 4), 1 / 4), [0, 1])
    r2 = M.R2Score()
    r2.update(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"r2: targets has shape \(2, 2\), but earlier"):
        r2.update(np.zeros((2, 2)), np.ones((2, 2)))


# --- get_metric --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, cls", [
    ("accuracy", M.Accuracy), ("acc", M.Accuracy), ("top5", M.TopKAccuracy),
    ("precision", M.Precision), ("recall", M.Recall), ("f1", M.F1Score),
    ("confusion_matrix", M.ConfusionMatrix), ("roc_auc", M.ROCAUC), ("AUC", M.ROCAUC),
    ("mae", M.MeanAbsoluteError), ("r2", M.R2Score), (" R2_score ", M.R2Score),
])
def test_get_metric_by_name(name, cls):
    metric = M.get_metric(name)
    assert type(metric) is cls
    assert type(M.get_metric(metric.name)) is cls  # a metric's name resolves back to it
    assert M.get_metric(name) is not metric  # a fresh one each time


def test_get_metric_top_k_classes_and_instances():
    names = ("top5", "top_3", "top-2", "top10_accuracy")
    assert [M.get_metric(s).k for s in names] == [5, 3, 2, 10]
    assert M.get_metric("top3").name == "top3"
    metric = M.F1Score(4, average=None)
    assert M.get_metric(metric) is metric
    assert type(M.get_metric(M.Recall)) is M.Recall
    assert M.MeanAbsoluteError.higher_is_better is False and M.Accuracy.higher_is_better
    with pytest.raises(ValueError, match=r"get_metric: unknown metric 'f2'; known names: .*top5"):
        M.get_metric("f2")
    with pytest.raises(TypeError, match=r"get_metric: expected a metric name"):
        M.get_metric(M.accuracy)


def test_exported_from_deepgrad_train():
    import deepgrad.train as train
    assert train.accuracy is M.accuracy and train.get_metric is M.get_metric
    assert set(M.__all__) <= set(dir(train))


# --- scikit-learn, when it happens to be installed ----------------------------------------------

def test_against_scikit_learn():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(6)
    logits, targets = _classification_data(rng, n=200, c=4)
    labels = logits.argmax(axis=1)
    assert M.accuracy(logits, targets) == pytest.approx(skm.accuracy_score(targets, labels))
    assert M.top_k_accuracy(logits, targets, k=2) == pytest.approx(
        skm.top_k_accuracy_score(targets, logits, k=2, labels=range(4)))
    np.testing.assert_array_equal(M.confusion_matrix(logits, targets, 4),
                                  skm.confusion_matrix(targets, labels, labels=range(4)))
    for average in ("macro", "micro", "weighted", None):
        expected = skm.precision_recall_fscore_support(targets, labels, average=average,
                                                       zero_division=0)[:3]
        for ours, theirs in zip(M.precision_recall_f1(logits, targets, 4, average), expected):
            np.testing.assert_allclose(ours, theirs)
    binary = targets % 2
    assert M.roc_auc(logits[:, 0], binary) == pytest.approx(
        skm.roc_auc_score(binary, logits[:, 0]))
    probs = _softmax(logits.astype(np.float64))
    assert M.roc_auc(probs, targets) == pytest.approx(
        skm.roc_auc_score(targets, probs, multi_class="ovr"))
    preds, truth = logits[:, 0], logits[:, 1] + logits[:, 0]
    assert M.mean_absolute_error(preds, truth) == pytest.approx(
        skm.mean_absolute_error(truth, preds))
    assert M.r2_score(preds, truth) == pytest.approx(skm.r2_score(truth, preds))

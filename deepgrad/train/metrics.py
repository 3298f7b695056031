"""Metrics that score a model's predictions: accuracy, top-k, precision/recall/F1, confusion
matrix, ROC-AUC, mean absolute error and R².

Each metric comes twice: a stateful object that a training loop feeds batch by batch
(``update(preds, targets)``, then ``compute()`` over everything seen since ``reset()``) and a plain
function over one set of predictions (``accuracy(preds, targets)``). Both take deepgrad tensors,
NumPy arrays or lists, and score in NumPy without building a graph.

Classification predictions are scores of shape ``(N, C)`` (logits or probabilities; the predicted
class is the row's argmax, the first one on ties) or class indices of shape ``(N,)``; targets are
class indices of shape ``(N,)``. Undefined cases follow scikit-learn: a precision, recall or F1
whose denominator is zero counts as 0 (``zero_division=0``), R² of constant targets is 1 for a
perfect fit and 0 otherwise; ROC-AUC with a single class in the targets raises a ``ValueError``.
"""

from __future__ import annotations

import re

import numpy as np

from deepgrad.tensor import Tensor

__all__ = [
    "Metric", "Accuracy", "TopKAccuracy", "ConfusionMatrix", "Precision", "Recall", "F1Score",
    "ROCAUC", "MeanAbsoluteError", "R2Score", "accuracy", "top_k_accuracy", "confusion_matrix",
    "precision_recall_f1", "roc_auc", "mean_absolute_error", "r2_score", "get_metric",
]

_AVERAGES = ("macro", "micro", "weighted", None)


def _as_array(x, name: str, what: str) -> np.ndarray:
    """The NumPy array behind a tensor, array or nested list (no copy where there is one)."""
    if isinstance(x, Tensor):
        return x.array
    try:
        a = np.asarray(x)
    except (TypeError, ValueError):
        a = None
    if a is None or a.dtype == object:
        raise TypeError(f"{name}: {what} must be a Tensor, array or list of numbers, "
                        f"got {type(x).__name__}")
    return a


def _indices(x: np.ndarray, name: str, what: str) -> np.ndarray:
    """Class indices as int64: integers, bools, or floats that hold whole non-negative numbers."""
    if x.dtype.kind in "iub":
        out = x.astype(np.int64, copy=False)
    elif x.dtype.kind == "f" and np.all(np.isfinite(x)) and np.all(x == np.round(x)):
        out = x.astype(np.int64)
    else:
        raise ValueError(f"{name}: {what} must hold class indices (whole numbers), "
                         f"got dtype {x.dtype} with non-integer values")
    if out.size and out.min() < 0:
        raise ValueError(f"{name}: {what} must hold class indices >= 0, got {out.min()}")
    return out


def _targets(targets, n: int, name: str) -> np.ndarray:
    """Targets as int64 class indices of shape (n,)."""
    t = _as_array(targets, name, "targets")
    if t.shape != (n,):
        raise ValueError(f"{name}: targets has shape {t.shape}, expected ({n},)")
    return _indices(t, name, "targets")


def _labels(preds, targets, name: str) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Predicted and true class indices, and the number of classes when preds are (N, C) scores."""
    p = _as_array(preds, name, "preds")
    if p.ndim == 2:
        return p.argmax(axis=1), _targets(targets, p.shape[0], name), p.shape[1]
    if p.ndim != 1:
        raise ValueError(f"{name}: preds has shape {p.shape}, expected (N, C) scores or (N,) "
                         f"class indices")
    return _indices(p, name, "preds of shape (N,)"), _targets(targets, p.shape[0], name), None


def _same_shape(preds, targets, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Regression predictions and targets, which must have the same shape (no broadcasting)."""
    p, t = _as_array(preds, name, "preds"), _as_array(targets, name, "targets")
    if p.shape != t.shape:
        raise ValueError(f"{name}: preds has shape {p.shape} but targets has shape {t.shape}; "
                         f"they must match")
    for x, what in ((p, "preds"), (t, "targets")):
        if x.dtype.kind not in "iuf":
            raise TypeError(f"{name}: {what} must be numeric, got dtype {x.dtype}")
    return p, t


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den is 0 (scikit-learn's zero_division=0)."""
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def _precision_recall_f1(cm: np.ndarray, average: str | None):
    """Precision, recall and F1 from a confusion matrix (rows true, columns predicted).

    'macro' averages over the classes that occur in the targets or the predictions (a class never
    seen has no score to average); 'weighted' weights each class by its number of true samples;
    'micro' pools the counts (for single-label data all three equal the accuracy); None gives one
    value per class.
    """
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    if average == "micro":
        return (float(_safe_divide(tp.sum(), actual.sum())),) * 3
    scores = (_safe_divide(tp, predicted), _safe_divide(tp, actual),
              _safe_divide(2 * tp, predicted + actual))
    if average is None:
        return scores
    weights = (predicted + actual > 0) if average == "macro" else actual
    return tuple(float(np.average(s, weights=weights)) for s in scores)


def _check_average(average, name: str) -> None:
    if average not in _AVERAGES:
        raise ValueError(f"{name}: average must be one of {_AVERAGES}, got {average!r}")


def _check_classes(num_classes, name: str) -> None:
    if num_classes is not None and (not isinstance(num_classes, (int, np.integer))
                                    or isinstance(num_classes, bool) or num_classes < 1):
        raise ValueError(f"{name}: num_classes must be a positive integer or None, "
                         f"got {num_classes!r}")


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of x in ascending order, tied values sharing the mean of their ranks."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts_group = np.concatenate(([True], xs[1:] != xs[:-1]))
    starts = np.flatnonzero(starts_group)
    counts = np.diff(np.append(starts, x.size))
    ranks = np.empty(x.size)
    ranks[order] = (starts + (counts + 1) / 2)[np.cumsum(starts_group) - 1]
    return ranks


def _binary_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """The Mann-Whitney U statistic of the positives' scores over the negatives', normalised:
    the probability that a random positive scores above a random negative (ties count half)."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    rank_sum = _average_ranks(scores)[positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class Metric:
    """A score accumulated over batches: ``update(preds, targets)`` adds a batch, ``compute()``
    scores everything seen since the last ``reset()``.

    ``name`` is the key a training loop logs it under (``get_metric(name)`` rebuilds it with its
    defaults); ``higher_is_better`` tells callbacks which way is an improvement.
    """

    name: str = "metric"
    higher_is_better: bool = True

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every batch seen so far."""
        raise NotImplementedError

    def update(self, preds, targets) -> None:
        """Add a batch of predictions and their targets."""
        raise NotImplementedError

    def compute(self):
        """The score over every batch since the last reset."""
        raise NotImplementedError

    def _empty(self) -> ValueError:
        return ValueError(f"{self.name}: no samples seen; call update(preds, targets) before "
                          f"compute()")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Accuracy(Metric):
    """The fraction of samples whose predicted class is the target class."""

    name = "accuracy"

    def reset(self) -> None:
        self.correct, self.total = 0, 0

    def update(self, preds, targets) -> None:
        p, t, _ = _labels(preds, targets, self.name)
        self.correct += int(np.count_nonzero(p == t))
        self.total += t.size

    def compute(self) -> float:
        if not self.total:
            raise self._empty()
        return self.correct / self.total


class TopKAccuracy(Metric):
    """The fraction of samples whose target class is among the k highest scores of (N, C) preds.

    Ties rank as ``argmax`` and a stable sort do: of equal scores the lower class index comes
    first, so top-1 accuracy equals ``Accuracy``.
    """

    def __init__(self, k: int = 5) -> None:
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ValueError(f"top_k_accuracy: k must be a positive integer, got {k!r}")
        self.k = int(k)
        self.name = f"top{self.k}"
        super().__init__()

    def reset(self) -> None:
        self.correct, self.total = 0, 0

    def update(self, preds, targets) -> None:
        p = _as_array(preds, self.name, "preds")
        if p.ndim != 2:
            raise ValueError(f"{self.name}: preds has shape {p.shape}, expected (N, C) scores")
        if p.shape[1] < self.k:
            raise ValueError(f"{self.name}: k={self.k} is more than the {p.shape[1]} classes "
                             f"of preds with shape {p.shape}")
        t = _targets(targets, p.shape[0], self.name)
        if t.size and t.max() >= p.shape[1]:
            raise ValueError(f"{self.name}: targets holds class {t.max()} but preds has only "
                             f"{p.shape[1]} classes")
        rows = np.arange(t.size)
        target_score = p[rows, t][:, None]
        before = (p > target_score) | ((p == target_score) & (np.arange(p.shape[1]) < t[:, None]))
        self.correct += int(np.count_nonzero(before.sum(axis=1) < self.k))
        self.total += t.size

    def compute(self) -> float:
        if not self.total:
            raise self._empty()
        return self.correct / self.total

    def __repr__(self) -> str:
        return f"TopKAccuracy(k={self.k})"


class ConfusionMatrix(Metric):
    """Counts of (true class, predicted class) pairs: ``compute()[i, j]`` is the number of samples
    of class i predicted as class j (scikit-learn's layout), as an int64 array.

    With ``num_classes=None`` the matrix grows to the largest class seen (or the width of (N, C)
    preds); with a number, a class index outside ``[0, num_classes)`` is an error.
    """

    name = "confusion_matrix"

    def __init__(self, num_classes: int | None = None) -> None:
        _check_classes(num_classes, self.name)
        self.num_classes = num_classes
        super().__init__()

    def reset(self) -> None:
        n = self.num_classes or 0
        self.matrix = np.zeros((n, n), np.int64)
        self.total = 0

    def update(self, preds, targets) -> None:
        p, t, width = _labels(preds, targets, self.name)
        if self.num_classes is not None:
            self._check_range(p, t, width)
            n = self.num_classes
        else:
            n = max(self.matrix.shape[0], width or 0, int(p.max(initial=-1)) + 1,
                    int(t.max(initial=-1)) + 1)
            grow = n - self.matrix.shape[0]
            if grow:
                self.matrix = np.pad(self.matrix, ((0, grow), (0, grow)))
        self.matrix += np.bincount(t * n + p, minlength=n * n).reshape(n, n)
        self.total += t.size

    def _check_range(self, p: np.ndarray, t: np.ndarray, width: int | None) -> None:
        n = self.num_classes
        if width is not None and width != n:
            raise ValueError(f"{self.name}: preds has {width} columns, expected num_classes={n}")
        for x, what in ((p, "preds"), (t, "targets")):
            if x.size and x.max() >= n:
                raise ValueError(f"{self.name}: {what} holds class {x.max()}, outside "
                                 f"[0, {n}) for num_classes={n}")

    def compute(self) -> np.ndarray:
        if not self.total:
            raise self._empty()
        return self.matrix.copy()

    def __repr__(self) -> str:
        return f"ConfusionMatrix(num_classes={self.num_classes})"


class _FromConfusion(ConfusionMatrix):
    """A score computed from an accumulated confusion matrix."""

    _which = 0

    def __init__(self, num_classes: int | None = None, average: str | None = "macro") -> None:
        _check_average(average, self.name)
        self.average = average
        super().__init__(num_classes)

    def compute(self) -> float | np.ndarray:
        return _precision_recall_f1(super().compute(), self.average)[self._which]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_classes={self.num_classes}, "
                f"average={self.average!r})")


class Precision(_FromConfusion):
    """Of the samples predicted as a class, the fraction that belong to it (0 when none is
    predicted); averaged as ``average`` says ('macro', 'micro', 'weighted', None per class)."""

    name = "precision"
    _which = 0


class Recall(_FromConfusion):
    """Of the samples of a class, the fraction predicted as it (0 when the class has none);
    averaged as ``average`` says ('macro', 'micro', 'weighted', None per class)."""

    name = "recall"
    _which = 1


class F1Score(_FromConfusion):
    """The harmonic mean of precision and recall, ``2 tp / (2 tp + fp + fn)`` (0 when a class is
    neither predicted nor present); averaged as ``average`` says."""

    name = "f1"
    _which = 2


class ROCAUC(Metric):
    """The area under the ROC curve, exact: the Mann-Whitney U statistic with tied scores
    sharing their average rank.

    Binary: scores of shape (N,) (any monotone score: probability, logit, margin) and targets
    0/1. Multi-class: scores of shape (N, C) and class-index targets, one class against the rest
    for each class, then the mean over classes (``average='macro'``) or one value per class
    (``average=None``); rows that are not probabilities (a value outside [0, 1]) go through a
    softmax first, since a logit's rank across samples is not its probability's. A class that is
    absent from the targets, or present in every one, leaves its AUC undefined: ``ValueError``.

    Keeps every score seen (exact AUC needs them all), a copy per batch.
    """

    name = "roc_auc"

    def __init__(self, average: str | None = "macro") -> None:
        if average not in ("macro", None):
            raise ValueError(f"roc_auc: average must be 'macro' or None, got {average!r}")
        self.average = average
        super().__init__()

    def reset(self) -> None:
        self.scores, self.targets = [], []

    def update(self, preds, targets) -> None:
        s = _as_array(preds, self.name, "scores")
        if s.ndim not in (1, 2) or (s.ndim == 2 and s.shape[1] < 2):
            raise ValueError(f"{self.name}: scores has shape {s.shape}, expected (N,) for binary "
                             f"or (N, C) with C >= 2 for one-vs-rest")
        if self.scores and s.shape[1:] != self.scores[0].shape[1:]:
            raise ValueError(f"{self.name}: scores has shape {s.shape}, but earlier batches had "
                             f"shape (N, {', '.join(map(str, self.scores[0].shape[1:]))})")
        if s.dtype.kind not in "iufb" or not np.all(np.isfinite(s)):
            raise ValueError(f"{self.name}: scores must be finite numbers, got dtype {s.dtype}"
                             f"{' with NaN or inf' if s.dtype.kind == 'f' else ''}")
        t = _targets(targets, s.shape[0], self.name)
        top = 2 if s.ndim == 1 else s.shape[1]
        if t.size and t.max() >= top:
            expected = "0 or 1 for binary scores of shape (N,)" if s.ndim == 1 else \
                f"a class index below C={top}"
            raise ValueError(f"{self.name}: targets holds {t.max()}, expected {expected}")
        if not t.size:
            return
        self.scores.append(np.array(s, copy=True))
        self.targets.append(t.copy())

    def compute(self) -> float | np.ndarray:
        if not self.targets:
            raise self._empty()
        s, t = np.concatenate(self.scores), np.concatenate(self.targets)
        if not t.size:
            raise self._empty()
        if s.ndim == 1:
            return _binary_auc(s, self._positives(t == 1, "1"))
        if np.any((s < 0) | (s > 1)):
            s = np.exp(s - s.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
        aucs = np.array([_binary_auc(s[:, c], self._positives(t == c, str(c)))
                         for c in range(s.shape[1])])
        return float(aucs.mean()) if self.average == "macro" else aucs

    def _positives(self, positive: np.ndarray, cls: str) -> np.ndarray:
        n_pos = int(positive.sum())
        if n_pos == 0 or n_pos == positive.size:
            state = "no" if n_pos == 0 else "only"
            raise ValueError(f"{self.name}: targets hold {state} samples of class {cls} "
                             f"({positive.size} samples); ROC-AUC needs both positives and "
                             f"negatives")
        return positive

    def __repr__(self) -> str:
        return f"ROCAUC(average={self.average!r})"


class MeanAbsoluteError(Metric):
    """The mean of ``|preds - targets|`` over every element; preds and targets of equal shape."""

    name = "mae"
    higher_is_better = False

    def reset(self) -> None:
        self.sum_abs, self.total = 0.0, 0

    def update(self, preds, targets) -> None:
        p, t = _same_shape(preds, targets, self.name)
        self.sum_abs += float(np.abs(np.subtract(p, t, dtype=np.float64)).sum())
        self.total += p.size

    def compute(self) -> float:
        if not self.total:
            raise self._empty()
        return self.sum_abs / self.total


class R2Score(Metric):
    """The coefficient of determination ``1 - SS_res / SS_tot`` of preds and targets of shape
    (N,) or (N, D) (one score per output column, then their mean unless
    ``multioutput='raw_values'``).

    The targets' sum of squares is accumulated with Chan's pairwise update (no cancellation from
    a running sum of squares). Constant targets (``SS_tot = 0``) score 1 for a perfect fit, else
    0, as scikit-learn's ``force_finite=True``; fewer than two samples is an error.
    """

    name = "r2"

    def __init__(self, multioutput: str = "uniform_average") -> None:
        if multioutput not in ("uniform_average", "raw_values"):
            raise ValueError(f"r2: multioutput must be 'uniform_average' or 'raw_values', "
                             f"got {multioutput!r}")
        self.multioutput = multioutput
        super().__init__()

    def reset(self) -> None:
        self.n, self.mean, self.ss_tot, self.ss_res = 0, 0.0, 0.0, 0.0

    def update(self, preds, targets) -> None:
        p, t = _same_shape(preds, targets, self.name)
        if t.ndim not in (1, 2):
            raise ValueError(f"{self.name}: preds and targets have shape {t.shape}, expected "
                             f"(N,) or (N, D)")
        if self.n and np.shape(self.mean) != t.shape[1:]:
            raise ValueError(f"{self.name}: targets has shape {t.shape}, but earlier batches had "
                             f"{np.shape(self.mean) or 'one output'}")
        n_b = t.shape[0]
        if not n_b:
            return
        t64 = t.astype(np.float64)
        mean_b = t64.mean(axis=0)
        delta = mean_b - self.mean
        total = self.n + n_b
        spread = ((t64 - mean_b) ** 2).sum(axis=0)
        self.ss_tot = self.ss_tot + spread + delta**2 * self.n * n_b / total
        self.mean = self.mean + delta * n_b / total
        self.ss_res = self.ss_res + ((t64 - p) ** 2).sum(axis=0)
        self.n = total

    def compute(self) -> float | np.ndarray:
        if self.n < 2:
            raise ValueError(f"{self.name}: needs at least two samples, got {self.n}")
        ss_tot, ss_res = np.asarray(self.ss_tot), np.asarray(self.ss_res)
        constant = np.where(ss_res == 0, 1.0, 0.0)
        scores = np.where(ss_tot > 0, 1 - _safe_divide(ss_res, ss_tot), constant)
        return scores if self.multioutput == "raw_values" else float(scores.mean())

    def __repr__(self) -> str:
        return f"R2Score(multioutput={self.multioutput!r})"


def _once(metric: Metric, preds, targets):
    metric.update(preds, targets)
    return metric.compute()


def accuracy(preds, targets) -> float:
    """The fraction of samples whose predicted class (argmax of (N, C) scores, or (N,) indices)
    is the target class."""
    return _once(Accuracy(), preds, targets)


def top_k_accuracy(preds, targets, k: int = 5) -> float:
    """The fraction of samples whose target is among the k highest of their (N, C) scores."""
    return _once(TopKAccuracy(k), preds, targets)


def confusion_matrix(preds, targets, num_classes: int | None = None) -> np.ndarray:
    """``(C, C)`` int64 counts: entry ``[i, j]`` is the number of samples of class i predicted
    as j. ``num_classes=None`` takes the largest class seen (or the width of (N, C) preds)."""
    return _once(ConfusionMatrix(num_classes), preds, targets)


def precision_recall_f1(preds, targets, num_classes: int | None = None,
                        average: str | None = "macro"):
    """(precision, recall, F1): floats averaged as ``average`` says ('macro' over the classes
    seen, 'micro', 'weighted' by support), or per-class arrays for ``average=None``. A zero
    denominator scores 0, as scikit-learn's ``zero_division=0``."""
    _check_average(average, "precision_recall_f1")
    return _precision_recall_f1(confusion_matrix(preds, targets, num_classes), average)


def roc_auc(scores, targets, average: str | None = "macro") -> float | np.ndarray:
    """The exact area under the ROC curve: binary for (N,) scores and 0/1 targets, one-vs-rest
    for (N, C) scores (see ``ROCAUC``). A single class in the targets raises ``ValueError``."""
    return _once(ROCAUC(average), scores, targets)


def mean_absolute_error(preds, targets) -> float:
    """The mean of ``|preds - targets|`` over all elements of two arrays of the same shape."""
    return _once(MeanAbsoluteError(), preds, targets)


def r2_score(preds, targets, multioutput: str = "uniform_average") -> float | np.ndarray:
    """The coefficient of determination ``1 - SS_res / SS_tot`` (see ``R2Score``). Note the
    argument order, preds first, as everywhere in deepgrad (scikit-learn's is y_true, y_pred)."""
    return _once(R2Score(multioutput), preds, targets)


_NAMES = {
    "accuracy": Accuracy, "acc": Accuracy,
    "precision": Precision, "recall": Recall, "f1": F1Score, "f1_score": F1Score,
    "confusion_matrix": ConfusionMatrix,
    "roc_auc": ROCAUC, "auroc": ROCAUC, "auc": ROCAUC,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "r2": R2Score, "r2_score": R2Score,
}
_TOP_K = re.compile(r"top[_-]?(\d+)(?:[_-]?acc(?:uracy)?)?")


def get_metric(metric: str | Metric | type[Metric]) -> Metric:
    """A metric from its name ("accuracy", "top5", "f1", "mae", "r2", ...; case-insensitive), a
    Metric class (instantiated with its defaults) or a Metric (returned as is)."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, type) and issubclass(metric, Metric):
        return metric()
    if not isinstance(metric, str):
        raise TypeError(f"get_metric: expected a metric name, Metric class or Metric, "
                        f"got {type(metric).__name__}")
    key = metric.strip().lower()
    top_k = _TOP_K.fullmatch(key)
    if top_k:
        return TopKAccuracy(int(top_k.group(1)))
    if key not in _NAMES:
        raise ValueError(f"get_metric: unknown metric {metric!r}; known names: "
                         f"{', '.join(sorted(_NAMES))}, top<k> (e.g. top5)")
    return _NAMES[key]()

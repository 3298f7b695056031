"""Rosenblatt's perceptron (1958): a weighted sum, a step, and a learning rule without gradients."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deepgrad import backend
from deepgrad.autograd import no_grad
from deepgrad.nn.modules.activation import Heaviside
from deepgrad.nn.modules.module import Module, Parameter
from deepgrad.tensor import Tensor, _from_data


@dataclass
class PerceptronHistory:
    """What ``Perceptron.fit`` did: the mistakes of each epoch, and whether the last made none."""

    mistakes: list[int] = field(default_factory=list)
    converged: bool = False

    @property
    def epochs(self) -> int:
        return len(self.mistakes)


class Perceptron(Module):
    """A linear threshold unit, ``step(x @ weight + bias)``: class 1 above a hyperplane, else 0.

    ``fit`` applies the perceptron learning rule to one example at a time, ``w += lr * (y - y_hat)
    * x`` and ``b += lr * (y - y_hat)``, sweeping the data until an epoch makes no mistake or
    ``max_epochs`` have passed. On linearly separable data it stops after a finite number of
    updates (at most (R / margin)^2, Novikoff 1962); where no hyperplane separates the classes,
    as for XOR, every epoch makes a mistake. The step has no gradient and the rule needs none:
    the weights are parameters that do not require grad.
    """

    def __init__(self, in_features: int, lr: float = 1.0, max_epochs: int = 100) -> None:
        super().__init__()
        if lr <= 0 or max_epochs < 1:
            raise ValueError(f"Perceptron: lr must be > 0 and max_epochs >= 1, got lr={lr}, "
                             f"max_epochs={max_epochs}")
        dtype = backend.get_default_dtype().np
        self.weight = Parameter(np.zeros(in_features, dtype), requires_grad=False)
        self.bias = Parameter(np.zeros((), dtype), requires_grad=False)
        self.step = Heaviside(values=0.0)  # w . x + b == 0 counts as class 0
        self.in_features, self.lr, self.max_epochs = in_features, lr, max_epochs

    def forward(self, input: Tensor) -> Tensor:
        return self.step(input @ self.weight + self.bias)

    def predict(self, X) -> Tensor:
        """The class of each row of X, 0. or 1. (in the weights' dtype)."""
        with no_grad():
            return self(Tensor._make(self._features(X, "predict"), None))

    def fit(self, X, y) -> PerceptronHistory:
        """Train on X (n_samples, in_features) and labels y (n_samples,) of 0s and 1s."""
        X = self._features(X, "fit")
        if X.ndim != 2:
            raise ValueError(f"Perceptron.fit: X has shape {X.shape}, expected "
                             f"(n_samples, {self.in_features})")
        targets = _labels(y, len(X))
        w, b = self.weight.array, self.bias.array
        history = PerceptronHistory()
        for _ in range(self.max_epochs):
            mistakes = 0
            # one example at a time: each prediction sees the updates made before it
            for x, target in zip(X, targets):
                error = target - float(x @ w + b > 0)  # the step of forward
                if error:
                    w += (self.lr * error) * x
                    b += self.lr * error
                    mistakes += 1
            history.mistakes.append(mistakes)
            if not mistakes:
                history.converged = True
                break
        return history

    def _features(self, X, op: str) -> np.ndarray:
        X = np.asarray(X.array if isinstance(X, Tensor) else _from_data(X, None),
                       dtype=self.weight.array.dtype)
        if X.ndim == 0 or X.shape[-1] != self.in_features:
            raise ValueError(f"Perceptron.{op}: X has shape {X.shape}, expected "
                             f"(n_samples, {self.in_features})")
        return X

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, lr={self.lr}, max_epochs={self.max_epochs}"


def _labels(y, n: int) -> list:
    y = np.asarray(y.array if isinstance(y, Tensor) else _from_data(y, None))
    if y.shape != (n,):
        raise ValueError(f"Perceptron.fit: y has shape {y.shape}, expected ({n},) "
                         "(one label per row of X)")
    values = np.unique(y)
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"Perceptron.fit: labels must be 0 or 1 (the step's two outputs), got "
                         f"values {values.tolist()}")
    return y.astype(float).tolist()  # Python floats keep the float32 updates in float32

"""Rosenblatt's perceptron: the learning rule, convergence on separable data, failure on XOR,
and the two-layer network trained by backprop that fits XOR."""

import importlib.util
import pathlib

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.models import Perceptron

XOR_X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
XOR_Y = [0.0, 1.0, 1.0, 0.0]
EXAMPLE = pathlib.Path(__file__).parents[2] / "examples" / "perceptron_xor.py"


def separable(n: int = 60, dim: int = 3, seed: int = 0):
    """Points labelled by a known hyperplane, with a margin of at least 0.2 around it."""
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal(dim), 0.3
    X = rng.uniform(-2, 2, (4 * n, dim))
    score = (X @ w + b) / np.linalg.norm(np.append(w, b))
    keep = np.abs(score) > 0.2
    return X[keep][:n].astype(np.float32), (score[keep][:n] > 0).astype(np.float32), (w, b)


def test_rule_updates_by_hand():
    # epoch 1: x1 scores 0 -> class 0, wrong: w = [1, 0], b = 1; x2 scores 1 -> class 1, wrong:
    # w = [1, -1], b = 0. Epoch 2: both right.
    p = Perceptron(2)
    history = p.fit([[1.0, 0.0], [0.0, 1.0]], [1, 0])
    assert history.mistakes == [2, 0] and history.converged and history.epochs == 2
    np.testing.assert_array_equal(p.weight.array, [1.0, -1.0])
    assert p.bias.item() == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_converges_on_linearly_separable_data_within_novikoffs_bound(seed):
    X, y, (w, b) = separable(seed=seed)
    p = Perceptron(X.shape[1], max_epochs=1000)
    history = p.fit(X, y)
    assert history.converged and history.mistakes[-1] == 0
    assert all(m > 0 for m in history.mistakes[:-1])
    np.testing.assert_array_equal(p.predict(X).array, y)
    # at most (R / gamma)^2 updates, for any separating hyperplane's margin gamma (in (x, 1))
    Xa = np.hstack([X, np.ones((len(X), 1))])
    unit = np.append(w, b) / np.linalg.norm(np.append(w, b))
    gamma = np.min((2 * y - 1) * (Xa @ unit))
    radius = np.linalg.norm(Xa, axis=1).max()
    assert 0 < sum(history.mistakes) <= (radius / gamma) ** 2


def test_xor_never_converges():
    p = Perceptron(2, max_epochs=200)
    history = p.fit(XOR_X, XOR_Y)
    assert not history.converged and history.epochs == 200
    assert min(history.mistakes) >= 1  # no line separates XOR: every epoch errs
    predicted = p.predict(XOR_X).array
    assert (predicted == np.array(XOR_Y)).sum() <= 3


def test_learning_rate_only_scales_weights_from_zero():
    X, y, _ = separable(seed=3)
    a, b = Perceptron(3, lr=1.0), Perceptron(3, lr=0.01)
    ha, hb = a.fit(X, y), b.fit(X, y)
    assert ha.mistakes == hb.mistakes
    np.testing.assert_allclose(a.weight.array * 0.01, b.weight.array, rtol=1e-5)


def test_no_autograd_and_float32_throughout():
    X, y, _ = separable()
    p = Perceptron(3)
    assert not any(q.requires_grad for q in p.parameters())
    p.fit(dg.tensor(X), dg.tensor(y))
    out = p.predict(X)
    assert p.weight.dtype == p.bias.dtype == out.dtype == dg.float32
    assert out.shape == (len(X),) and not out.requires_grad
    assert p.weight.grad is None
    np.testing.assert_array_equal(p(dg.tensor(X)).array, out.array)  # forward is the step


def test_repr_state_dict_and_the_step_layer():
    p = Perceptron(2, lr=0.5, max_epochs=10)
    assert repr(p) == ("Perceptron(\n  in_features=2, lr=0.5, max_epochs=10\n"
                       "  (step): Heaviside(values=0.0)\n)")
    assert list(p.state_dict()) == ["weight", "bias"]
    p.fit(XOR_X[1:], XOR_Y[1:])
    q = Perceptron(2)
    q.load_state_dict(p.state_dict())
    np.testing.assert_array_equal(q.predict(XOR_X).array, p.predict(XOR_X).array)


def test_errors_name_the_problem():
    p = Perceptron(2)
    with pytest.raises(ValueError, match=r"Perceptron.fit: X has shape \(4, 3\), expected "
                                         r"\(n_samples, 2\)"):
        p.fit(np.zeros((4, 3)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"Perceptron.fit: y has shape \(3,\), expected \(4,\)"):
        p.fit(XOR_X, [0, 1, 1])
    with pytest.raises(ValueError, match=r"labels must be 0 or 1 .* got values \[-1, 1\]"):
        p.fit(XOR_X, [-1, 1, 1, -1])
    with pytest.raises(ValueError, match=r"Perceptron.predict: X has shape \(5,\)"):
        p.predict(np.zeros(5))
    with pytest.raises(ValueError, match="lr must be > 0"):
        Perceptron(2, lr=0)


def test_two_layer_network_trained_by_backprop_fits_xor():
    dg.manual_seed(0)
    X, y = dg.tensor(XOR_X), dg.tensor(XOR_Y)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(300):
        optimizer.zero_grad()
        loss = loss_fn(model(X).squeeze(1), y)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    np.testing.assert_array_equal((model(X).squeeze(1) > 0).float().array, XOR_Y)


def test_example_runs(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("perceptron_xor", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "boundaries.png"
    results = example.main(str(out))
    assert results == {"separable": True, "xor_perceptron": False, "xor_mlp_accuracy": 1.0}
    printed = capsys.readouterr().out
    assert "no line does both" in printed.lower()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in printed
    else:
        assert out.stat().st_size > 10_000

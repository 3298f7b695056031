"""spectral_norm and remove_spectral_norm: against torch.nn.utils.spectral_norm (outputs, singular
vector buffers and gradients over several training steps, then eval), the normalized weight's
largest singular value, state dicts, gradcheck, and the errors."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.autograd.gradcheck import gradcheck
from deepgrad.nn.utils import remove_spectral_norm, spectral_norm

LAYERS = {
    "linear": (lambda m: m.Linear(6, 4), (5, 6)),
    "conv2d": (lambda m: m.Conv2d(3, 4, 3, padding=1), (2, 3, 5, 5)),
    "conv_transpose2d": (lambda m: m.ConvTranspose2d(3, 5, 4, 2, 1), (2, 3, 4, 4)),
}


def _twins(torch, kind, n_power_iterations=1):
    make, shape = LAYERS[kind]
    ours = spectral_norm(make(nn), n_power_iterations=n_power_iterations)
    theirs = torch.nn.utils.spectral_norm(make(torch.nn), n_power_iterations=n_power_iterations)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in ours.state_dict().items()})
    return ours, theirs, shape


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_matches_torch_over_training_steps_and_in_eval(kind):
    torch = pytest.importorskip("torch")
    ours, theirs, shape = _twins(torch, kind)
    assert set(ours.state_dict()) == set(theirs.state_dict()) == {
        "bias", "weight_orig", "weight_u", "weight_v"}
    rng = np.random.default_rng(0)
    for step in range(3):  # each call refines u and v; the weights also move between calls
        x = rng.standard_normal(shape).astype(np.float32)
        out = ours(dg.tensor(x))
        t_out = theirs(torch.from_numpy(x))
        np.testing.assert_allclose(out.detach().numpy(), t_out.detach().numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=f"step {step}")
        (out ** 2).sum().backward()
        (t_out ** 2).sum().backward()
        np.testing.assert_allclose(ours.weight_orig.grad.numpy(),
                                   theirs.weight_orig.grad.numpy(), rtol=1e-3, atol=1e-4)
        for name in ("weight_u", "weight_v"):
            np.testing.assert_allclose(getattr(ours, name).numpy(),
                                       getattr(theirs, name).numpy(), rtol=1e-4, atol=1e-6)
        with dg.no_grad(), torch.no_grad():
            ours.weight_orig.array -= 0.1 * ours.weight_orig.grad.array
            theirs.weight_orig -= 0.1 * theirs.weight_orig.grad
        ours.weight_orig.grad = theirs.weight_orig.grad = None
    ours.eval()
    theirs.eval()
    u = ours.weight_u.numpy().copy()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(ours(dg.tensor(x)).detach().numpy(),
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(ours.weight_u.numpy(), u)  # eval: no power iteration


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_normalized_weight_has_unit_spectral_norm(kind):
    make, shape = LAYERS[kind]
    layer = spectral_norm(make(nn), n_power_iterations=30)
    layer(dg.randn(*shape))
    dim = 1 if kind == "conv_transpose2d" else 0
    w = np.moveaxis(layer.weight.detach().numpy(), dim, 0)
    top = np.linalg.svd(w.reshape(w.shape[0], -1), compute_uv=False)[0]
    assert top == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("kind", ["linear", "conv_transpose2d"])
def test_gradient_through_sigma_gradcheck(kind):
    make, shape = LAYERS[kind]
    layer = spectral_norm(make(nn).double())
    layer(dg.randn(*shape, dtype=dg.float64))  # settle u and v
    hook = next(iter(layer._forward_pre_hooks.values()))
    # u and v fixed: the weight is a smooth function of weight_orig (perturbed in place)
    assert gradcheck(lambda w: hook.compute_weight(layer, False), (layer.weight_orig,))


def test_state_dict_round_trip_and_remove():
    a = spectral_norm(nn.Conv2d(2, 3, 3))
    x = dg.randn(1, 2, 5, 5)
    a(x)
    b = spectral_norm(nn.Conv2d(2, 3, 3))
    b.load_state_dict(a.state_dict())
    a.eval()
    b.eval()
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    expected = a(x).detach().numpy()
    remove_spectral_norm(a)
    assert isinstance(a.weight, nn.Parameter) and set(a.state_dict()) == {"weight", "bias"}
    assert not a._forward_pre_hooks
    np.testing.assert_allclose(a(x).detach().numpy(), expected, rtol=1e-6)
    assert any(p is a.weight for p in a.parameters())


def test_errors_name_the_function_and_values():
    with pytest.raises(ValueError, match="spectral_norm: ReLU has no parameter 'weight'"):
        spectral_norm(nn.ReLU())
    layer = spectral_norm(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="spectral_norm: 'weight' of Linear is already"):
        spectral_norm(layer)
    with pytest.raises(ValueError, match="spectral_norm: dim 2 is out of range.*\\(2, 2\\)"):
        spectral_norm(nn.Linear(2, 2), dim=2)
    with pytest.raises(ValueError, match="n_power_iterations must be a non-negative int"):
        spectral_norm(nn.Linear(2, 2), n_power_iterations=-1)
    with pytest.raises(ValueError, match="remove_spectral_norm: spectral_norm of 'weight' not"):
        remove_spectral_norm(nn.Linear(2, 2))

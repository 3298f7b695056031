"""Weight averaging (optim.swa_utils) against PyTorch's: the same averaged weights and buffers
after the same sequence of trained weights, and update_bn's running statistics."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.optim.swa_utils import AveragedModel, get_ema_avg_fn, get_ema_multi_avg_fn, update_bn

torch = pytest.importorskip("torch")


def _pair():
    """A small net with batch norm in both frameworks, equal weights."""
    dg.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    twin = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                               torch.nn.Linear(4, 2))
    twin.load_state_dict({k: torch.tensor(v.numpy()) for k, v in net.state_dict().items()})
    return net, twin


def _train_both(net, twin, x):
    """One SGD step on the same batch in both frameworks (also moves the running stats)."""
    for model, lib, data in ((net, dg, dg.tensor(x)), (twin, torch, torch.tensor(x))):
        opt = (dg.optim if lib is dg else torch.optim).SGD(model.parameters(), lr=0.1)
        opt.zero_grad()
        (model(data) ** 2).mean().backward()
        opt.step()


@pytest.mark.parametrize("kind", ["swa", "ema_multi", "ema_single"])
@pytest.mark.parametrize("use_buffers", [False, True])
def test_averaged_model_matches_torch(kind, use_buffers):
    net, twin = _pair()
    swa = torch.optim.swa_utils
    ours = {"swa": {}, "ema_multi": {"multi_avg_fn": get_ema_multi_avg_fn(0.9)},
            "ema_single": {"avg_fn": get_ema_avg_fn(0.8)}}[kind]
    theirs = {"swa": {}, "ema_multi": {"multi_avg_fn": swa.get_ema_multi_avg_fn(0.9)},
              "ema_single": {"avg_fn": swa.get_ema_avg_fn(0.8)}}[kind]
    avg = AveragedModel(net, use_buffers=use_buffers, **ours)
    avg_t = swa.AveragedModel(twin, use_buffers=use_buffers, **theirs)
    rng = np.random.default_rng(1)
    for _ in range(5):
        _train_both(net, twin, rng.standard_normal((8, 3)).astype(np.float32))
        avg.update_parameters(net)
        avg_t.update_parameters(twin)
    mine, ref = avg.state_dict(), avg_t.state_dict()
    assert list(mine) == list(ref)
    for key in ref:
        np.testing.assert_allclose(mine[key].numpy(), ref[key].numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    avg.eval(), avg_t.eval()
    np.testing.assert_allclose(avg(dg.tensor(x)).numpy(),
                               avg_t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_averaged_model_is_a_copy_that_does_not_train():
    net, _ = _pair()
    avg = AveragedModel(net)
    assert all(not p.requires_grad for p in avg.parameters())
    assert all(p.requires_grad for p in net.parameters())
    before = net[0].weight.detach().numpy().copy()
    avg.update_parameters(net)
    avg.module[0].weight.array[...] += 1.0  # the copy owns its arrays
    np.testing.assert_array_equal(net[0].weight.detach().numpy(), before)
    assert int(avg.n_averaged.item()) == 1


def test_averaged_model_bad_arguments():
    net, _ = _pair()
    with pytest.raises(ValueError, match="avg_fn or multi_avg_fn"):
        AveragedModel(net, avg_fn=get_ema_avg_fn(), multi_avg_fn=get_ema_multi_avg_fn())
    with pytest.raises(ValueError, match="decay must be in"):
        get_ema_multi_avg_fn(1.5)
    with pytest.raises(ValueError, match="weight arrays"):
        AveragedModel(net).update_parameters(nn.Linear(3, 4))


def test_update_bn_matches_torch():
    net, twin = _pair()
    rng = np.random.default_rng(2)
    batches = [rng.standard_normal((8, 3)).astype(np.float32) for _ in range(4)]
    update_bn([dg.tensor(b) for b in batches], net)
    torch.optim.swa_utils.update_bn([torch.tensor(b) for b in batches], twin)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(net[1], name).numpy(),
                                   getattr(twin[1], name).numpy(), rtol=1e-5, atol=1e-6)
    assert net[1].momentum == 0.1 and net.training

"""dg.save / dg.load: round trips, atomic writes, clear errors on bad files, PyTorch interop."""

import json
import math
import os
import pickle
import struct

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import serialization

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")


def same(a, b) -> None:
    """Equal in value and in type, recursively (tensors: dtype, shape and values)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dg.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.array, b.array)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert [(type(k), k) for k in a] == [(type(k), k) for k in b]
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def round_trip(obj, tmp_path):
    path = tmp_path / "obj.safetensors"
    dg.save(obj, path)
    return dg.load(path)


@pytest.fixture
def checkpoint():
    """A model state dict, an optimizer state dict (int keys!) and loose values."""
    dg.manual_seed(0)
    w = dg.randn(4, 3)
    return {
        "model": {"fc.weight": w, "fc.bias": dg.zeros(4), "bn.num_batches_tracked": dg.tensor(7),
                  "h": dg.randn(2, 2, dtype=dg.float64), "mask": dg.tensor([True, False]),
                  "u8": dg.tensor([1, 255], dtype=dg.uint8), "half": dg.ones(3, dtype=dg.float16),
                  "i32": dg.tensor([-1, 2], dtype=dg.int32), "empty": dg.zeros(0, 3)},
        "optimizer": {
            "state": {0: {"step": dg.tensor(3.0), "exp_avg": dg.ones(4, 3)},
                      1: {"step": dg.tensor(3.0), "exp_avg": dg.zeros(4)}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False,
                              "maximize": False, "foreach": None, "params": [0, 1]}],
        },
        "epoch": 12, "best": float("nan"), "worst": -math.inf, "big": 2**70, "name": "mlp ✓",
        "history": [0.5, 0.25, (1, "a", None)], "keys": {1: "int", "1": "str", 2.5: "float",
                                                          None: "none", False: "bool"},
        "numpy": np.arange(6, dtype=np.int16).reshape(2, 3), "npscalar": np.float32(0.5),
        "nested": {"": {"": [[], {}, ()]}},
    }


def test_round_trip_keeps_nesting_types_and_dtypes(checkpoint, tmp_path):
    loaded = round_trip(checkpoint, tmp_path)
    same(checkpoint, loaded)
    assert loaded["model"]["fc.weight"].dtype == dg.float32  # never upcast
    assert loaded["model"]["half"].dtype == dg.float16


def test_loaded_tensors_are_fresh_writable_tensors(tmp_path):
    w = dg.randn(3, 2, requires_grad=True)
    loaded = round_trip({"w": w}, tmp_path)["w"]
    assert type(loaded) is dg.Tensor and not loaded.requires_grad
    loaded.array += 1  # writable, and not the saved tensor's memory
    np.testing.assert_allclose(loaded.array, w.array + 1)


@pytest.mark.parametrize("obj", [dg.arange(5), [dg.ones(2), 3], (1, 2.5), 4, "text", None, {}])
def test_round_trip_top_level(obj, tmp_path):
    same(obj, round_trip(obj, tmp_path))


def test_non_contiguous_and_zero_dim_tensors(tmp_path):
    x = dg.randn(3, 4)
    obj = {"t": x.T, "s": dg.tensor(2.5), "col": x[:, 1]}
    same(obj, round_trip(obj, tmp_path))


def test_clashing_key_paths_stay_apart(tmp_path):
    obj = {"a.b": dg.ones(1), "a": {"b": dg.zeros(1)}, "0": dg.ones(2), 0: dg.zeros(2)}
    same(obj, round_trip(obj, tmp_path))


def test_overwrite_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    dg.save({"v": 1}, path)
    dg.save({"v": 2}, str(path))
    assert dg.load(path) == {"v": 2}
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


# -- atomicity -----------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["replace", "writer", "fsync"])
def test_crash_during_save_keeps_the_previous_file(where, tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    dg.save({"w": dg.ones(3), "epoch": 1}, path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        if where == "writer":  # half a file written, then the crash
            with open(args[1], "wb") as fh:
                fh.write(b"\x10\x00")
        raise OSError("disk full")

    target = {"replace": (serialization.os, "replace"), "fsync": (serialization.os, "fsync"),
              "writer": (serialization, "save_file")}[where]
    monkeypatch.setattr(*target, crash)
    with pytest.raises(OSError, match="disk full"):
        dg.save({"w": dg.zeros(3), "epoch": 2}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]
    same(dg.load(path), {"w": dg.ones(3), "epoch": 1})


# -- what cannot be saved ------------------------------------------------------------------------
def test_save_refuses_objects_it_would_have_to_pickle(tmp_path):
    class Model:
        pass

    with pytest.raises(TypeError, match=r"cannot store a Model at 'model.net'.*state_dict"):
        dg.save({"model": {"net": Model()}}, tmp_path / "x")
    with pytest.raises(TypeError, match=r"has a key \(1, 2\) of type tuple; keys must be str"):
        dg.save({"a": {(1, 2): 3}}, tmp_path / "x")
    with pytest.raises(TypeError, match="cannot store the complex128 array at 'z'; safetensors"):
        dg.save({"z": np.zeros(2, complex)}, tmp_path / "x")
    loop = {"a": []}
    loop["a"].append(loop)
    with pytest.raises(ValueError, match="the object at 'a.0' contains itself"):
        dg.save(loop, tmp_path / "x")
    with pytest.raises(TypeError, match="save: expected a file path"):
        dg.save({}, open(tmp_path / "f", "wb"))
    with pytest.raises(IsADirectoryError, match="is a folder"):
        dg.save({}, tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dg.save({}, tmp_path / "missing" / "x")
    assert sorted(os.listdir(tmp_path)) == ["f"]


# -- bad files -----------------------------------------------------------------------------------
@pytest.fixture
def saved(checkpoint, tmp_path):
    path = tmp_path / "ckpt.safetensors"
    dg.save(checkpoint, path)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="load: no such file .*nothing.safetensors"):
        dg.load(tmp_path / "nothing.safetensors")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        dg.load(tmp_path)


@pytest.mark.parametrize("keep", [0, 5, 20, "header", "data"])
def test_truncated_file(saved, keep):
    data = saved.read_bytes()
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    keep = {"header": header_end - 10, "data": len(data) - 7}.get(keep, keep)
    saved.write_bytes(data[:keep])
    with pytest.raises(ValueError, match=f"load: '{saved}' is truncated"):
        dg.load(saved)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.bin"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=f"load: '{path}' is not a safetensors file"):
        dg.load(path)


def test_corrupted_header(saved):
    data = bytearray(saved.read_bytes())
    data[20:24] = b"}}}}"
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is corrupted: its safetensors header is not valid"):
        dg.load(saved)


def rewrite_metadata(path, edit) -> None:
    """Rewrite the deepgrad description of a saved file, keeping its tensors."""
    arrays = safetensors_torch.load_file(path)
    with safetensors_torch.safe_open(path, "pt") as f:
        doc = json.loads(f.metadata()["deepgrad"])
    safetensors_torch.save_file(arrays, path, metadata={"deepgrad": edit(doc)})


@pytest.mark.parametrize("edit, message", [
    (lambda doc: "{not json", "its deepgrad description is not valid"),
    (lambda doc: json.dumps({**doc, "format": "other"}), "no deepgrad format marker"),
    (lambda doc: json.dumps({**doc, "version": 99}), r"newer deepgrad \(format version 99"),
    (lambda doc: json.dumps({**doc, "root": {"tensor": "ghost", "dtype": "float32",
                                             "shape": [1]}}), "lists tensor 'ghost'"),
    (lambda doc: json.dumps({**doc, "root": {"tensor": "w", "dtype": "float64",
                                             "shape": [2, 3]}}), "'w' is F32 .* float64"),
    (lambda doc: json.dumps({**doc, "root": {"pickle": "x"}}), "unexpected entry"),
    (lambda doc: json.dumps({**doc, "root": {"int": 3}}), r"tensors \['w'\] are not in"),
])
def test_corrupted_description(tmp_path, edit, message):
    path = tmp_path / "ckpt.safetensors"
    dg.save({"w": dg.ones(2, 3)}, path)
    rewrite_metadata(path, edit)
    with pytest.raises(ValueError, match=f"load: '{path}'.*{message}"):
        dg.load(path)


class Exploit:
    """Unpickling this creates a folder: the test checks that load never unpickles."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickle_is_refused_never_unpickled(tmp_path, protocol):
    marker = str(tmp_path / "pwned")
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"w": Exploit(marker)}, protocol=protocol))
    with pytest.raises(ValueError, match="is a Python pickle; deepgrad never unpickles"):
        dg.load(path)
    assert not os.path.exists(marker)


def test_torch_save_checkpoint_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"w": torch.ones(2)}, path)
    with pytest.raises(ValueError, match=r"zip archive, such as a torch.save checkpoint.*"
                                         r"safetensors.torch.save_file"):
        dg.load(path)


# -- interop with PyTorch ------------------------------------------------------------------------
def test_state_dict_loads_in_pytorch_with_safetensors(tmp_path):
    dg.manual_seed(0)
    state = {"0.weight": dg.randn(5, 3), "0.bias": dg.randn(5), "steps": dg.tensor(4),
             "2.weight": dg.randn(2, 5, dtype=dg.float64)}
    path = tmp_path / "model.safetensors"
    dg.save(state, path)
    theirs = safetensors_torch.load_file(path)
    assert sorted(theirs) == sorted(state)
    for name, t in state.items():
        assert str(theirs[name].dtype) == f"torch.{t.dtype.name}"
        np.testing.assert_array_equal(theirs[name].numpy(), t.array)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    net.load_state_dict({k: v.float() for k, v in theirs.items() if k != "steps"}, strict=False)
    np.testing.assert_array_equal(net[0].weight.detach().numpy(), state["0.weight"].array)


def test_nested_checkpoint_uses_dotted_names_in_pytorch(checkpoint, saved):
    theirs = safetensors_torch.load_file(saved)
    np.testing.assert_array_equal(theirs["model.fc.weight"].numpy(),
                                  checkpoint["model"]["fc.weight"].array)
    np.testing.assert_array_equal(theirs["optimizer.state.0.exp_avg"].numpy(), np.ones((4, 3)))


def test_foreign_safetensors_loads_as_a_flat_dict(tmp_path):
    path = tmp_path / "from_torch.safetensors"
    weights = {"fc.weight": torch.randn(4, 3), "fc.bias": torch.randn(4),
               "ids": torch.arange(3)}
    safetensors_torch.save_file(weights, path, metadata={"format": "pt"})
    loaded = dg.load(path, map_location="cpu")
    assert sorted(loaded) == sorted(weights)
    for name, t in weights.items():
        assert isinstance(loaded[name], dg.Tensor)
        assert loaded[name].dtype == {torch.float32: dg.float32, torch.int64: dg.int64}[t.dtype]
        np.testing.assert_array_equal(loaded[name].array, t.numpy())


def test_foreign_safetensors_with_an_unsupported_dtype(tmp_path):
    path = tmp_path / "bf16.safetensors"
    safetensors_torch.save_file({"w": torch.ones(2, dtype=torch.bfloat16)}, path)
    with pytest.raises(ValueError, match="holds tensor 'w' of dtype BF16, which deepgrad does "
                                         "not support"):
        dg.load(path)


# -- with real modules and optimizers ------------------------------------------------------------
def test_resuming_from_a_checkpoint_continues_training_exactly(tmp_path):
    def make():
        dg.manual_seed(0)
        model = dg.nn.Sequential(dg.nn.Linear(3, 8), dg.nn.ReLU(), dg.nn.Linear(8, 2))
        return model, dg.optim.Adam(model.parameters(), lr=0.01)

    def step(model, opt, x):
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()

    x = dg.randn(16, 3)
    model, opt = make()
    for _ in range(3):
        step(model, opt, x)
    path = tmp_path / "ckpt.safetensors"
    dg.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)
    step(model, opt, x)

    ckpt = dg.load(path)
    resumed, resumed_opt = make()
    resumed.load_state_dict(ckpt["model"])
    resumed_opt.load_state_dict(ckpt["optimizer"])
    step(resumed, resumed_opt, x)
    for (name, p), q in zip(model.named_parameters(), resumed.parameters()):
        np.testing.assert_array_equal(p.array, q.array, err_msg=name)
        assert q.dtype == dg.float32

"""Tensor: construction and PyTorch's dtype rules, attributes, conversions, repr (vs torch)."""

import warnings

import numpy as np
import pytest

import deepgrad as dg

torch = pytest.importorskip("torch")


def _np_dtype(torch_dtype) -> np.dtype:
    return torch.empty(0, dtype=torch_dtype).numpy().dtype


DATA = [
    1.5, 7, True, [1, 2, 3], [1.0, 2.0], [1, 2.5], [True, False], [[1, 2], [3, 4]],
    [[1.0], [2.0]], [], [[True, 0]],
]


@pytest.mark.parametrize("data", DATA, ids=repr)
def test_tensor_dtype_and_values_follow_torch(data):
    ours, theirs = dg.tensor(data), torch.tensor(data)
    assert ours.dtype.np == _np_dtype(theirs.dtype)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("np_dtype", [np.float64, np.float32, np.int32, np.int64, np.bool_,
                                      np.uint8])
def test_numpy_arrays_keep_their_dtype(np_dtype):
    a = np.arange(6).reshape(2, 3).astype(np_dtype)
    assert dg.tensor(a).dtype.np == np_dtype == _np_dtype(torch.tensor(a).dtype)
    assert dg.from_numpy(a).dtype.np == np_dtype


def test_numpy_scalars_keep_their_dtype_like_torch():
    for value in (np.float64(2.0), np.float32(2.0), np.int32(3), np.array(2)):
        assert dg.tensor(value).dtype.np == _np_dtype(torch.tensor(value).dtype)
        assert dg.tensor(value).ndim == 0


def test_tensor_copies_but_from_numpy_shares_memory():
    a = np.zeros(3, np.float32)
    copied, shared = dg.tensor(a), dg.from_numpy(a)
    a[0] = 5.0
    assert copied.array[0] == 0.0 and shared.array[0] == 5.0
    shared.numpy()[1] = 7.0
    assert a[1] == 7.0


def test_tensor_of_tensor_copies():
    x = dg.tensor([1.0, 2.0])
    y = dg.tensor(x)
    y.array[0] = 9.0
    assert x.array[0] == 1.0


def test_tensor_from_list_of_tensors():
    ours = dg.tensor([dg.tensor(1.0), dg.tensor(2.0)])
    assert ours.shape == (2,) and ours.dtype == dg.float32


def test_tensor_dtype_argument_and_requires_grad():
    x = dg.tensor([1, 2], dtype=dg.float64, requires_grad=True)
    assert x.dtype == dg.float64 and x.requires_grad and x.is_leaf and x.grad is None
    assert dg.tensor([1.5, 2.7], dtype=dg.int64).tolist() == [1, 2]
    assert dg.tensor([1.0], dtype="float64").dtype == dg.float64
    assert dg.tensor([1.0], dtype=np.float64).dtype == dg.float64


def test_default_dtype_float64_is_respected():
    dg.set_default_dtype(dg.float64)
    try:
        assert dg.tensor([1.5]).dtype == dg.float64
        assert dg.zeros(2).dtype == dg.float64
        assert dg.randn(2).dtype == dg.float64
        assert dg.tensor([1]).dtype == dg.int64
    finally:
        dg.set_default_dtype(dg.float32)
    assert dg.tensor([1.5]).dtype == dg.float32


def test_unsupported_data_is_a_clear_error():
    with pytest.raises(TypeError, match="tensor"):
        dg.tensor("abc")
    with pytest.raises(TypeError, match="complex"):
        dg.from_numpy(np.zeros(2, np.complex64))
    with pytest.raises(TypeError, match="from_numpy"):
        dg.from_numpy([1.0, 2.0])


def test_ragged_data_is_a_clear_error():
    with pytest.raises((ValueError, TypeError), match="tensor"):
        dg.tensor([[1, 2], [3]])


# -- attributes ---------------------------------------------------------------------------------
def test_shape_attributes_match_torch():
    ours, theirs = dg.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert ours.shape == tuple(theirs.shape) == ours.size()
    assert ours.size(1) == theirs.size(1) and ours.size(-1) == theirs.size(-1)
    assert ours.ndim == theirs.ndim == ours.dim()
    assert ours.numel() == theirs.numel()
    assert ours.stride() == theirs.stride()
    assert ours.element_size() == theirs.element_size()
    assert ours.is_contiguous() and not ours.transpose(0, 1).is_contiguous()
    assert ours.device == "cpu"
    assert len(ours) == 2


def test_zero_dim_tensor():
    x = dg.tensor(3.5)
    assert x.shape == () and x.ndim == 0 and x.numel() == 1 and x.size() == ()
    assert x.item() == 3.5 and x.tolist() == 3.5 and float(x) == 3.5
    with pytest.raises(TypeError, match="0-d"):
        len(x)
    with pytest.raises(TypeError, match="0-d"):
        iter(x)


def test_empty_dims():
    x = dg.zeros(0, 3)
    assert x.shape == (0, 3) and x.numel() == 0 and x.tolist() == []
    assert x.sum().item() == 0.0
    assert x.sum(0).shape == (3,)
    assert dg.tensor([]).shape == (0,)


def test_size_out_of_range_names_the_dims():
    with pytest.raises(IndexError, match=r"size: dimension 3 is out of range.*2 dimensions"):
        dg.zeros(2, 3).size(3)


# -- leaving deepgrad ---------------------------------------------------------------------------
def test_item_and_tolist():
    assert dg.tensor([[2]]).item() == 2 and isinstance(dg.tensor([[2]]).item(), int)
    assert isinstance(dg.tensor(2.5).item(), float)
    assert isinstance(dg.tensor(True).item(), bool)
    assert dg.tensor([[1, 2], [3, 4]]).tolist() == torch.tensor([[1, 2], [3, 4]]).tolist()
    assert dg.tensor([0.5, 1.5]).tolist() == torch.tensor([0.5, 1.5]).tolist()
    with pytest.raises(ValueError, match=r"item\(\).*shape \(2,\)"):
        dg.tensor([1.0, 2.0]).item()


def test_numpy_of_a_tensor_that_requires_grad_needs_detach():
    x = dg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0]


def test_python_conversions():
    assert int(dg.tensor([3])) == 3 and float(dg.tensor(2.5)) == 2.5
    assert [1, 2, 3][dg.tensor(1)] == 2
    assert bool(dg.tensor([1.0])) and not bool(dg.tensor(0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(dg.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="index"):
        [1, 2][dg.tensor(1.0)]
    assert f"{dg.tensor(2.0):.2f}" == "2.00"
    np.testing.assert_array_equal(np.asarray(dg.tensor([1, 2])), [1, 2])


def test_iteration_yields_rows():
    rows = list(dg.tensor([[1, 2], [3, 4]]))
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]


# -- dtype conversions --------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["float", "double", "long", "int", "half", "bool"])
def test_dtype_methods_match_torch(method):
    data = [[-1.5, 0.0, 2.7]]
    ours, theirs = getattr(dg.tensor(data), method)(), getattr(torch.tensor(data), method)()
    assert ours.dtype.np == _np_dtype(theirs.dtype)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_to_accepts_dtype_name_tensor_and_cpu():
    x = dg.tensor([1, 2])
    assert x.to(dg.float64).dtype == dg.float64
    assert x.to(dtype=dg.float32).dtype == dg.float32
    assert x.to(dg.zeros(1, dtype=dg.float64)).dtype == dg.float64
    assert x.to("cpu") is x and x.to(dg.int64) is x
    assert x.type_as(dg.zeros(1)).dtype == dg.float32
    with pytest.raises(RuntimeError, match="cuda"):
        x.to("cuda")


def test_to_is_differentiable_and_casts_the_gradient_back():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == dg.float64 and y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.dtype == dg.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_to_integer_leaves_the_graph():
    x = dg.tensor([1.5], requires_grad=True)
    assert not x.long().requires_grad


def test_float32_stays_float32():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2.5 + 1) / 3 - x ** 2
    assert y.dtype == dg.float32
    y.sum().backward()
    assert x.grad.dtype == dg.float32


# -- repr ---------------------------------------------------------------------------------------
REPRS = [
    [1, 2, 3], [[1, -20], [300, 4]], 7, [1.0, 2.0, 3.0], [1.5, 2.25, -3.0], [-1.0, 2.5],
    [1e10, 1.0], [1e-5, 1.0], 3.5, 1e-8, [0.5], True, [], [[0.25, 0.5], [0.75, 1.0]],
    [[1.0, 2.0], [3.0, 4.0]],
]


@pytest.mark.parametrize("data", REPRS, ids=repr)
def test_repr_matches_torch(data):
    assert repr(dg.tensor(data)) == repr(torch.tensor(data))


@pytest.mark.parametrize("np_dtype", [np.float64, np.int32])
def test_repr_names_non_default_dtype(np_dtype):
    a = np.array([1.5, 2.0]).astype(np_dtype)
    expected = repr(torch.from_numpy(a)).replace("torch.", "deepgrad.")
    assert repr(dg.from_numpy(a)) == expected


def test_repr_of_empty_tensors_names_size():
    expected = repr(torch.zeros(2, 0, dtype=torch.float64)).replace("torch.", "deepgrad.")
    assert repr(dg.zeros(2, 0, dtype=dg.float64)) == expected
    assert repr(dg.zeros(0)) == repr(torch.zeros(0))


def test_repr_shows_requires_grad_and_grad_fn():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == repr(torch.tensor([1.0, 2.0], requires_grad=True))
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward>)"


def test_repr_of_large_tensor_is_summarised():
    text = repr(dg.arange(2000))
    assert "..." in text and "1999" in text and "1000" not in text


def test_repr_of_float64_with_grad_fn():
    x = dg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=dg.float64, requires_grad=True)
    t = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    expected = repr(t * 2).replace("torch.", "deepgrad.").replace("MulBackward0", "MulBackward")
    assert repr(x * 2) == expected


@pytest.mark.parametrize("data", [-0.5, float("nan"), [-0.5, 100.25], [1e-3, 1.0]], ids=repr)
def test_repr_of_more_values_matches_torch(data):
    assert repr(dg.tensor(data)) == repr(torch.tensor(data))


def test_repr_of_float16_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert repr(dg.tensor([1.5, 2.0], dtype=dg.float16)) == (
            "tensor([1.5000, 2.0000], dtype=deepgrad.float16)")


@pytest.mark.parametrize("dtype", ["int64", "bool"])
def test_repr_of_empty_integer_tensor_names_the_dtype(dtype):
    ours = dg.zeros(2, 0, dtype=getattr(dg, dtype))
    theirs = torch.zeros(2, 0, dtype=getattr(torch, dtype))
    assert repr(ours) == repr(theirs).replace("torch.", "deepgrad.")


REPR_EDGE_CASES = [
    ([0.0001, 2.0], "a ratio max/min > 1000 needs scientific notation"),
    ([123456.7, 1.0], "a ratio max/min > 1000 needs scientific notation"),
    ([True, False], "bools are right-aligned to a common width"),
    ([[1.0, float("nan")], [float("inf"), 2.0]], "nan/inf do not widen int-valued floats"),
]


@pytest.mark.parametrize("data,why", REPR_EDGE_CASES, ids=[repr(d) for d, _ in REPR_EDGE_CASES])
def test_repr_edge_cases_match_torch(data, why):
    assert repr(dg.tensor(data)) == repr(torch.tensor(data)), why

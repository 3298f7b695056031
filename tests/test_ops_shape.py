"""Shape primitives: gradcheck and torch oracle from declarations, then semantics and errors."""

import numpy as np
import pytest
from harness import Case, In, OpSpec, make_tests, optional_torch

import deepgrad as dg
import deepgrad.nn.functional as F

torch = optional_torch()

NOGRAD = dict(requires_grad=False)

RESHAPES = [
    OpSpec("reshape", lambda x, **kw: x.reshape(kw["shape"]), [
        Case((2, 3, 4), shape=(6, 4)), Case((2, 3, 4), shape=(4, -1)),
        Case((2, 3, 4), shape=(24,)), Case((), shape=(1, 1)), Case((1,), shape=()),
        Case((0, 3), shape=(3, 0)),
    ]),
    OpSpec("reshape_varargs", lambda x: x.reshape(3, 2, -1), [Case((2, 3, 4))]),
    OpSpec("view", lambda x: x.view(4, 6), [Case((2, 3, 4), strided=False)]),
    OpSpec("view_as", lambda x, y: x.view_as(y), [Case((2, 6), In((3, 4), **NOGRAD))]),
    OpSpec("reshape_as", lambda x, y: x.reshape_as(y), [Case((2, 6), In((3, 4), **NOGRAD))]),
    OpSpec("flatten", lambda x, **kw: x.flatten(**kw), [
        Case((2, 3, 4)), Case((2, 3, 4), start_dim=1), Case((2, 3, 4, 2), start_dim=1, end_dim=2),
        Case((2, 3, 4), start_dim=0, end_dim=-2), Case(()), Case((5,)),
    ]),
    OpSpec("dg_flatten", lambda x: dg.flatten(x, 1), [Case((2, 3, 4))],
           torch_fn=lambda x: torch.flatten(x, 1)),
    OpSpec("unflatten", lambda x, **kw: x.unflatten(**kw), [
        Case((2, 6), dim=1, sizes=(2, 3)), Case((6, 2), dim=0, sizes=(3, -1)),
        Case((2, 6), dim=-1, sizes=(6,)),
    ]),
    OpSpec("squeeze", lambda x, **kw: x.squeeze(**kw), [
        Case((1, 3, 1, 2)), Case((1, 3, 1, 2), dim=2), Case((1, 3, 1, 2), dim=1),
        Case((1, 3, 1, 2), dim=-4), Case((1, 3, 1, 2), dim=(0, 1, 2)), Case((1,)), Case(()),
        Case((1, 1), dim=(0, -1)),
    ]),
    OpSpec("unsqueeze", lambda x, **kw: x.unsqueeze(**kw), [
        Case((2, 3), dim=0), Case((2, 3), dim=1), Case((2, 3), dim=-1), Case((2, 3), dim=2),
        Case((), dim=0), Case((2, 3), dim=-3),
    ]),
]

TRANSPOSES = [
    OpSpec("transpose", lambda x, **kw: x.transpose(**kw), [
        Case((2, 3), dim0=0, dim1=1), Case((2, 3, 4), dim0=-1, dim1=0),
        Case((2, 3, 4), dim0=1, dim1=1), Case((3,), dim0=0, dim1=-1),
    ]),
    OpSpec("swapaxes", lambda x: x.swapaxes(0, 2), [Case((2, 3, 4))]),
    OpSpec("permute", lambda x, **kw: x.permute(kw["dims"]), [
        Case((2, 3, 4), dims=(2, 0, 1)), Case((2, 3, 4), dims=(0, 1, 2)), Case((3,), dims=(0,)),
        Case((2, 3, 4, 2), dims=(-1, 0, 2, 1)), Case((), dims=()),
    ]),
    OpSpec("permute_varargs", lambda x: x.permute(1, 0), [Case((2, 3))]),
    OpSpec("T", lambda x: x.T, [Case((2, 3))]),
    OpSpec("T_not_2d", lambda x: x.T, [Case((2, 3, 4)), Case((4,)), Case(())],  # torch deprecates
           torch_fn=lambda x: x.permute(tuple(reversed(range(x.ndim))))),  # .T on these
    OpSpec("mT", lambda x: x.mT, [Case((2, 3)), Case((2, 3, 4)), Case((2, 1, 3, 4))]),
    OpSpec("t", lambda x: x.t(), [Case((2, 3)), Case((3,)), Case(())]),
]

EXPANDS = [
    OpSpec("expand", lambda x, **kw: x.expand(*kw["sizes"]), [
        Case((3, 1), sizes=(3, 4)), Case((3, 1), sizes=(-1, 4)), Case((3, 1), sizes=(2, 3, 4)),
        Case((), sizes=(2, 3)), Case((1, 4), sizes=(2, -1, 4)), Case((2, 3), sizes=(2, 3)),
        Case((1, 1), sizes=(0, 2)),
    ]),
    OpSpec("expand_tuple", lambda x: x.expand((2, 3, 4)), [Case((3, 1))]),
    OpSpec("expand_as", lambda x, y: x.expand_as(y), [Case((3, 1), In((2, 3, 4), **NOGRAD))]),
    OpSpec("broadcast_to", lambda x: x.broadcast_to((2, 3, 4)), [Case((1, 4))]),
    OpSpec("repeat", lambda x, **kw: x.repeat(*kw["reps"]), [
        Case((2, 3), reps=(2, 1)), Case((2, 3), reps=(1, 2, 3)), Case((), reps=(3,)),
        Case((2,), reps=(3, 2)), Case((2, 3), reps=(1, 1)), Case((2, 1, 3), reps=(2, 2, 0)),
    ]),
]

JOINS = [
    OpSpec("cat", lambda *xs, **kw: dg.cat(xs, **kw), [
        Case((2, 3), (4, 3)), Case((2, 3), (2, 1), (2, 4), dim=1),
        Case((2, 3, 2), (2, 3, 1), dim=-1),
        Case((2, 3), In((1, 3), **NOGRAD)), Case((3,)), Case((2, 3), (0, 3)),
        Case((2, 3), In((2, 3), dtype="float64"), label="2x3,2x3-float64"),
    ], torch_fn=lambda *xs, **kw: torch.cat(xs, **kw)),
    OpSpec("concat", lambda a, b: dg.concat([a, b], dim=1), [Case((2, 3), (2, 2))],
           torch_fn=lambda a, b: torch.concat([a, b], dim=1)),
    OpSpec("stack", lambda *xs, **kw: dg.stack(xs, **kw), [
        Case((2, 3), (2, 3)), Case((2, 3), (2, 3), (2, 3), dim=1), Case((2, 3), (2, 3), dim=-1),
        Case((), ()), Case((3,), In((3,), **NOGRAD), dim=1),
    ], torch_fn=lambda *xs, **kw: torch.stack(xs, **kw)),
    OpSpec("split", lambda x, **kw: x.split(kw.pop("size"), **kw), [
        Case((5, 3), size=2), Case((3, 5), size=2, dim=1), Case((3, 5), size=[1, 3, 1], dim=1),
        Case((4, 3), size=[4, 0]), Case((3, 2), size=5), Case((4, 3), size=(2, 2), dim=-2),
    ]),
    OpSpec("dg_split", lambda x: dg.split(x, [2, 1], 1), [Case((2, 3))],
           torch_fn=lambda x: torch.split(x, [2, 1], 1)),
    OpSpec("chunk", lambda x, **kw: x.chunk(**kw), [
        Case((5, 3), chunks=2), Case((6, 3), chunks=4), Case((3, 5), chunks=3, dim=1),
        Case((2, 3), chunks=5, dim=-1), Case((4,), chunks=1),
    ]),
]

PADS = [
    OpSpec("pad_constant", lambda x, **kw: F.pad(x, **kw), [
        Case((2, 3), pad=(1, 2)), Case((2, 3), pad=(1, 1, 2, 0)),
        Case((2, 3, 4), pad=(0, 1, 1, 0, 2, 1)),
        Case((2, 3), pad=(1, 2), value=1.5), Case((4,), pad=(3, 0)),
    ], torch_fn=lambda x, **kw: torch.nn.functional.pad(x, **kw)),
    OpSpec("pad_crop", lambda x, **kw: F.pad(x, **kw), [
        Case((2, 5), pad=(-1, 2)), Case((3, 5), pad=(-1, -2, 1, -1)), Case((2, 4), pad=(-2, -2)),
    ], torch_fn=lambda x, **kw: torch.nn.functional.pad(x, **kw)),
    OpSpec("pad_reflect", lambda x, **kw: F.pad(x, **kw, mode="reflect"), [
        Case((2, 3, 5), pad=(2, 1)), Case((2, 2, 4, 3), pad=(1, 2, 3, 0)),
        Case((2, 3, 5), pad=(4, 4)),
    ], torch_fn=lambda x, **kw: torch.nn.functional.pad(x, **kw, mode="reflect")),
    OpSpec("pad_replicate", lambda x, **kw: F.pad(x, **kw, mode="replicate"), [
        Case((2, 3, 4), pad=(2, 3)), Case((1, 2, 3, 2), pad=(1, 0, 2, 4)),
        Case((2, 1, 3), pad=(0, 2)),
    ], torch_fn=lambda x, **kw: torch.nn.functional.pad(x, **kw, mode="replicate")),
    OpSpec("pad_circular", lambda x, **kw: F.pad(x, **kw, mode="circular"), [
        Case((2, 3, 5), pad=(1, 2)), Case((1, 2, 4, 3), pad=(2, 1, 3, 1)),
        Case((2, 3, 4), pad=(4, 0)),
    ], torch_fn=lambda x, **kw: torch.nn.functional.pad(x, **kw, mode="circular")),
]

SPECS = RESHAPES + TRANSPOSES + EXPANDS + JOINS + PADS
test_gradcheck, test_oracle = make_tests(SPECS)


# -- semantics beyond the declarations ----------------------------------------------------------
def test_reshape_to_the_same_shape_is_the_tensor_itself():
    x = dg.zeros(2, 3)
    assert x.reshape(2, 3) is x and x.expand(2, 3) is x


def test_reshape_and_view_share_memory_when_possible():
    x = dg.zeros(2, 3)
    v = x.view(6)
    v.array[0] = 1.0
    assert x.array[0, 0] == 1.0
    assert np.shares_memory(x.transpose(0, 1).array, x.array)
    assert np.shares_memory(x.unsqueeze(0).array, x.array)


def test_split_and_chunk_pieces_are_views_with_the_right_sizes():
    x = dg.arange(10)
    assert [p.tolist() for p in x.split(4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(p) for p in x.chunk(3)] == [len(p) for p in torch.arange(10).chunk(3)]
    assert isinstance(x.split(4), tuple)


def test_shape_ops_keep_float32_and_int64():
    x = dg.ones(2, 3, requires_grad=True)
    outs = [x.reshape(6), x.T, x.expand(4, 2, 3), x.repeat(2, 1), dg.cat([x, x]),
            dg.stack([x, x]), F.pad(x, (1, 1)), F.pad(x.unsqueeze(0), (1, 1), mode="reflect")]
    assert all(o.dtype == dg.float32 for o in outs)
    sum(o.sum() for o in outs).backward()
    assert x.grad.dtype == dg.float32
    i = dg.arange(6)
    assert i.reshape(2, 3).dtype == dg.int64 and dg.cat([i, i]).dtype == dg.int64
    assert F.pad(i, (1, 1), value=7).tolist() == [7, 0, 1, 2, 3, 4, 5, 7]


def test_cat_promotes_like_torch():
    ours = dg.cat([dg.tensor([1, 2]), dg.tensor([0.5])])
    assert ours.dtype == dg.float32 and ours.tolist() == [1.0, 2.0, 0.5]


def test_repeated_use_of_a_view_accumulates():
    x = dg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (x.T * x + x.expand(3, 2, 2).sum(0)).sum().backward()
    t = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (t.T * t + t.expand(3, 2, 2).sum(0)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


SHAPE_ERRORS = [
    (lambda: dg.zeros(2, 3).reshape(4, 2), RuntimeError, r"reshape: shape \(4, 2\).*\(2, 3\)"),
    (lambda: dg.zeros(2, 3).permute(0, 0), RuntimeError, r"permute: dims \(0, 0\)"),
    (lambda: dg.zeros(2, 3).permute(0), RuntimeError, r"permute: got 1 dims.*\(2, 3\)"),
    (lambda: dg.zeros(2, 3).expand(3), RuntimeError, r"expand: the number of sizes \(1\)"),
    (lambda: dg.zeros(2, 3).expand(4, 3), RuntimeError, r"expand: cannot expand.*\(2, 3\)"),
    (lambda: dg.zeros(2, 3).repeat(2), RuntimeError, r"repeat: .*\(2, 3\)"),
    (lambda: dg.zeros(2, 3).flatten(1, 0), RuntimeError, r"flatten: start_dim 1.*end_dim 0"),
    (lambda: dg.zeros(3, 2, 3).t(), RuntimeError, r"t: .*\(3, 2, 3\)"),
    (lambda: dg.zeros(2, 6).unflatten(1, (4, 2)), RuntimeError, r"reshape: .*\(2, 6\)"),
    (lambda: dg.cat([dg.zeros(2, 3), dg.zeros(2)]), RuntimeError,
     r"cat: tensor 1 has shape \(2,\).*\(2, 3\)"),
    (lambda: dg.cat([]), RuntimeError, r"cat: expects a non-empty list"),
    (lambda: dg.stack([dg.zeros(2), dg.zeros(3)]), RuntimeError, r"stack: tensor 1.*\(3,\)"),
    (lambda: dg.zeros(5).split([2, 2]), RuntimeError, r"split: sizes \[2, 2\] add up to 4"),
    (lambda: dg.zeros(5).split(0), RuntimeError, r"split: split_size must be positive"),
    (lambda: dg.zeros(5).chunk(0), RuntimeError, r"chunk: chunks must be positive"),
    (lambda: dg.zeros(2, 3).squeeze(2), IndexError, r"squeeze: dimension 2"),
    (lambda: dg.zeros(2, 3).transpose(0, 5), IndexError, r"transpose: dimension 5"),
    (lambda: F.pad(dg.zeros(3), (1, 1, 1, 1)), RuntimeError, r"pad: got 4 .*\(3,\)"),
    (lambda: F.pad(dg.zeros(1, 3), (3, 0), mode="reflect"), RuntimeError,
     r"pad: reflect padding \(3, 0\).*\(3\)"),
    (lambda: F.pad(dg.zeros(1, 3), (-1, 0), mode="circular"), RuntimeError,
     r"pad: negative padding"),
    (lambda: F.pad(dg.zeros(1, 3), (1, 0), mode="nearest"), NotImplementedError,
     r"pad: mode 'nearest'"),
    (lambda: dg.zeros(2, 3).reshape("a"), TypeError, r"reshape: sizes must be integers"),
]


@pytest.mark.parametrize("make,error,match", SHAPE_ERRORS, ids=[m for _, _, m in SHAPE_ERRORS])
def test_shape_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()

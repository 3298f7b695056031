"""Indexing primitives: gradcheck and torch oracle from declarations, then semantics and errors."""

import numpy as np
import pytest
from harness import Case, In, OpSpec, make_tests, optional_torch

import deepgrad as dg

torch = optional_torch()


def idx(shape, high, low=0) -> In:
    """An int64 index input with values in [low, high) (repeats are likely: that is the point)."""
    return In(shape, dtype="int64", low=low, high=high, requires_grad=False)


def mask(shape) -> In:
    return In(shape, dtype="bool", requires_grad=False)


BASIC = [
    OpSpec("int", lambda x: x[1], [Case((3, 4)), Case((3,))]),
    OpSpec("negative_int", lambda x: x[-1, -2], [Case((3, 4))]),
    OpSpec("ints_and_slice", lambda x: x[0, :, 1], [Case((2, 3, 4))]),
    OpSpec("slice", lambda x: x[1:3], [Case((4, 2)), Case((4,))]),
    OpSpec("slice_step", lambda x: x[:, ::2], [Case((3, 5))]),
    OpSpec("slice_open", lambda x: x[-2:, :3], [Case((4, 5))]),
    OpSpec("slice_empty", lambda x: x[2:2], [Case((4, 3))]),
    OpSpec("slice_beyond", lambda x: x[1:10], [Case((3, 2))]),
    OpSpec("ellipsis", lambda x: x[..., 1], [Case((2, 3, 4)), Case((3,))]),
    OpSpec("ellipsis_middle", lambda x: x[1, ..., 1:], [Case((2, 3, 4))]),
    OpSpec("none", lambda x: x[None], [Case((2, 3)), Case(())]),
    OpSpec("none_mixed", lambda x: x[:, None, 1], [Case((2, 3))]),
    OpSpec("none_ellipsis", lambda x: x[None, ..., None, 0], [Case((2, 3))]),
    OpSpec("full_slice", lambda x: x[:], [Case((3,))]),
    OpSpec("zero_dim_ellipsis", lambda x: x[...], [Case(())]),
]

# torch has no negative steps: compare with the same elements taken by flip
NEGATIVE_STEPS = [
    OpSpec("reverse", lambda x: x[::-1], [Case((4,)), Case((3, 2))],
           torch_fn=lambda x: x.flip(0)),
    OpSpec("reverse_step2", lambda x: x[:, ::-2], [Case((2, 5)), Case((3, 4))],
           torch_fn=lambda x: x.flip(1)[:, ::2]),
    OpSpec("reverse_range", lambda x: x[3:0:-1], [Case((5, 2))],
           torch_fn=lambda x: x[1:4].flip(0)),
    OpSpec("reverse_negative", lambda x: x[-1:-4:-2, 1], [Case((5, 3))],
           torch_fn=lambda x: x.flip(0)[0:3:2, 1]),
    OpSpec("reverse_all", lambda x: x[::-1, ::-1], [Case((3, 4))],
           torch_fn=lambda x: x.flip(0, 1)),
]

ADVANCED = [
    OpSpec("int_list", lambda x: x[[0, 2]], [Case((3, 4))]),
    OpSpec("repeated_int_list", lambda x: x[[2, 0, 2, 2]], [Case((3, 4)), Case((3,))]),
    OpSpec("negative_int_list", lambda x: x[[-1, 0, -1]], [Case((3, 2))]),
    OpSpec("int_tensor", lambda x, i: x[i], [
        Case((3, 4), idx((6,), 3)), Case((4,), idx((2, 3), 4)), Case((3, 2), idx((5,), 3, low=-3)),
        Case((3, 2), idx((), 3)),
    ]),
    OpSpec("pairs", lambda x: x[[0, 1, 1], [2, 0, 2]], [Case((2, 3))]),
    OpSpec("pairs_tensors", lambda x, i, j: x[i, j], [Case((3, 4), idx((5,), 3), idx((5,), 4))]),
    OpSpec("broadcast_pairs", lambda x, i, j: x[i, j], [Case((3, 4), idx((2, 1), 3),
                                                             idx((3,), 4))]),
    OpSpec("column_list", lambda x: x[:, [1, 1, 0]], [Case((3, 4)), Case((2, 3, 2))]),
    OpSpec("list_and_slice", lambda x, i: x[i, 1:], [Case((3, 4), idx((4,), 3))]),
    OpSpec("separated_lists", lambda x: x[[0, 2], :, [1, 1]], [Case((3, 4, 2))]),
    OpSpec("list_and_ellipsis", lambda x: x[..., [0, 0, 2]], [Case((2, 2, 3))]),
    OpSpec("mask", lambda x, m: x[m], [Case((3, 4), mask((3, 4))), Case((5,), mask((5,)))]),
    OpSpec("row_mask", lambda x, m: x[m], [Case((4, 3), mask((4,)))]),
    OpSpec("column_mask", lambda x, m: x[:, m], [Case((2, 5), mask((5,)))]),
    OpSpec("mask_from_values", lambda x: x[x > 0.5], [Case((3, 4))]),
    OpSpec("mask_list", lambda x: x[[True, False, True]], [Case((3, 2))]),
    OpSpec("masked_select", lambda x, m: x.masked_select(m), [
        Case((3, 4), mask((3, 4))), Case((3, 4), mask((4,))), Case((1, 4), mask((3, 1))),
    ]),
    OpSpec("dg_masked_select", lambda x, m: dg.masked_select(x, m), [Case((2, 3), mask((2, 3)))],
           torch_fn=lambda x, m: torch.masked_select(x, m)),
]


def assign(key):
    """y = x * 1; y[key] = v: gradients flow to x (outside key) and to v (inside)."""
    def fn(x, v):
        y = x * 1
        y[key] = v
        return y

    return fn


def assign_at(x, v, i):
    y = x * 1
    y[i] = v
    return y


def _part(src, index):
    """The part of src that scatter_add reads (torch's backward fails for a larger src)."""
    return src[tuple(slice(n) for n in index.shape)]


SETITEM = [
    OpSpec("setitem_int", assign(1), [Case((3, 4), (4,)), Case((3, 4), ()), Case((3,), ())]),
    OpSpec("setitem_slice", assign((slice(None), slice(1, 3))), [Case((3, 4), (3, 2)),
                                                                  Case((3, 4), (2,))]),
    OpSpec("setitem_step", assign(slice(None, None, 2)), [Case((5, 2), (3, 2))]),
    OpSpec("setitem_ellipsis", assign((Ellipsis, 0)), [Case((2, 3, 4), (2, 3))]),
    OpSpec("setitem_list", assign([0, 2]), [Case((3, 4), (2, 4)), Case((3, 4), (1, 4))]),
    OpSpec("setitem_pairs", assign(([0, 1], [2, 0])), [Case((2, 3), (2,))]),
    OpSpec("setitem_tensor", assign_at, [Case((4, 3), (3,), In(values=[3, 0], dtype="int64",
                                                                  requires_grad=False))]),
    OpSpec("setitem_mask", assign_at, [Case((4, 3), (3,), mask((4,))),
                                      Case((3, 4), (), mask((3, 4)))]),
    OpSpec("setitem_value_only", assign(slice(0, 2)), [
        Case(In((3, 2), requires_grad=False), (2,)), Case((3, 2), In((2,), requires_grad=False)),
    ]),
    OpSpec("setitem_number", lambda x: assign(0)(x, 2.5), [Case((3, 2))]),
    OpSpec("setitem_reverse", assign(slice(None, None, -1)), [Case((3, 2), (3, 2))],
           torch_fn=lambda x, v: assign(slice(None))(x, v.flip(0))),
]

GATHER_SCATTER = [
    OpSpec("gather", lambda x, i, **kw: x.gather(kw["dim"], i), [
        Case((3, 4), idx((5, 4), 3), dim=0), Case((3, 4), idx((3, 6), 4), dim=1),
        Case((3, 4), idx((2, 3), 4), dim=-1), Case((2, 3, 4), idx((2, 2, 3), 3), dim=1),
        Case((4,), idx((7,), 4), dim=0), Case((3, 4), idx((0, 4), 3), dim=0),
    ]),
    OpSpec("dg_gather", lambda x, i: dg.gather(x, 1, i), [Case((2, 5), idx((2, 3), 5))],
           torch_fn=lambda x, i: torch.gather(x, 1, i)),
    OpSpec("scatter_add", lambda x, src, i, **kw: x.scatter_add(kw["dim"], i, src), [
        Case((3, 4), (5, 4), idx((5, 4), 3), dim=0), Case((3, 4), (3, 6), idx((3, 6), 4), dim=1),
        Case((3, 4), (2, 5), idx((2, 3), 4), dim=-1),
        Case((2, 3, 4), (2, 3, 4), idx((2, 2, 4), 3), dim=1),
        Case((4,), (6,), In(values=[1, 1, 1, 3, 1, 0], dtype="int64", requires_grad=False),
             dim=0, label="repeated"),
        Case((3,), In((4,), requires_grad=False), idx((4,), 3), dim=0, label="src-nograd"),
        Case(In((3,), requires_grad=False), (4,), idx((4,), 3), dim=0, label="input-nograd"),
    ], torch_fn=lambda x, src, i, **kw: x.scatter_add(kw["dim"], i, _part(src, i))),
    OpSpec("dg_scatter_add", lambda x, src, i: dg.scatter_add(x, 0, i, src),
           [Case((3, 2), (4, 2), idx((4, 2), 3))],
           torch_fn=lambda x, src, i: torch.scatter_add(x, 0, i, src)),
    OpSpec("index_select", lambda x, i, **kw: x.index_select(kw["dim"], i), [
        Case((3, 4), idx((5,), 3), dim=0), Case((3, 4), idx((6,), 4), dim=1),
        Case((2, 3, 4), idx((2,), 3), dim=-2), Case((3, 4), idx((), 3), dim=0),
        Case((3, 4), idx((0,), 3), dim=1),
    ]),
    OpSpec("dg_index_select", lambda x, i: dg.index_select(x, 1, i), [Case((2, 4), idx((5,), 4))],
           torch_fn=lambda x, i: torch.index_select(x, 1, i)),
    OpSpec("nonzero", lambda x: x.nonzero(), [Case(In((3, 4), dtype="int64", low=0, high=2))],
           grad=False),
]

SPECS = BASIC + NEGATIVE_STEPS + ADVANCED + SETITEM + GATHER_SCATTER
test_gradcheck, test_oracle = make_tests(SPECS)


# -- semantics beyond the declarations ----------------------------------------------------------
def test_repeated_indices_add_their_gradients():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x[[0, 0, 2, 0]] * dg.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [7.0, 0.0, 3.0]
    g = dg.tensor([[1.0, 2.0]], requires_grad=True)
    g.gather(1, dg.tensor([[1, 1, 1]])).sum().backward()
    assert g.grad.tolist() == [[0.0, 3.0]]
    s = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    dg.zeros(2).scatter_add(0, dg.tensor([1, 1, 1]), s).backward(dg.tensor([1.0, 10.0]))
    assert s.grad.tolist() == [10.0, 10.0, 10.0]


def test_basic_indexing_returns_a_view_and_advanced_a_copy():
    x = dg.arange(6).reshape(2, 3)
    assert np.shares_memory(x[0].array, x.array) and np.shares_memory(x[:, ::-1].array, x.array)
    assert not np.shares_memory(x[[0, 1]].array, x.array)
    assert x[x > 2].tolist() == [3, 4, 5]


def test_setitem_without_graph_writes_in_place_like_torch():
    cases = [(1, 7.0), (slice(None, 2), [1.0, 2.0, 3.0]), ((0, [0, 2]), -1.0), (Ellipsis, 0.5)]
    for key, value in cases:
        ours, theirs = dg.arange(6.0).reshape(2, 3), torch.arange(6.0).reshape(2, 3)
        array = ours.array
        ours[key] = dg.tensor(value)
        theirs[key] = torch.tensor(value)
        assert ours.array is array
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_setitem_with_a_tensor_mask_and_index_tensor():
    x = dg.arange(6.0)
    x[x > 3] = 0.0
    x[dg.tensor([0, 1])] = dg.tensor([9.0, 8.0])
    assert x.tolist() == [9.0, 8.0, 2.0, 3.0, 0.0, 0.0]


def test_setitem_casts_to_the_tensor_dtype():
    x = dg.zeros(3, dtype=dg.int64)
    x[0] = 2.7
    assert x.dtype == dg.int64 and x.tolist() == [2, 0, 0]
    f = dg.zeros(2)
    f[1] = dg.tensor(3, dtype=dg.int64)
    assert f.dtype == dg.float32 and f.tolist() == [0.0, 3.0]


def test_setitem_value_with_extra_leading_ones():
    x = dg.zeros(2, 3)
    x[0] = dg.tensor([[1.0, 2.0, 3.0]])
    assert x.tolist() == [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]


def test_index_ops_keep_float32():
    x = dg.ones(3, 4, requires_grad=True)
    i = dg.tensor([[0, 1, 2, 0]])
    outs = [x[1], x[[0, 0]], x[x > 0], x.gather(0, i), x.index_select(1, dg.tensor([1])),
            x.scatter_add(0, i, dg.ones(1, 4)), x.masked_select(x > 0)]
    assert all(o.dtype == dg.float32 for o in outs)
    sum(o.sum() for o in outs).backward()
    assert x.grad.dtype == dg.float32


def test_nonzero_as_tuple():
    t = torch.tensor([[0, 1], [2, 0]])
    ours = dg.tensor([[0, 1], [2, 0]]).nonzero(as_tuple=True)
    assert [o.tolist() for o in ours] == [o.tolist() for o in t.nonzero(as_tuple=True)]
    assert all(o.dtype == dg.int64 for o in ours)


INDEX_ERRORS = [
    (lambda: dg.zeros(2, 3)[5], IndexError, r"getitem: index 5 .*\(2, 3\)"),
    (lambda: dg.zeros(2, 3)[0, 0, 0], IndexError, r"getitem: too many indices.*\(2, 3\)"),
    (lambda: dg.zeros(2, 3)[dg.tensor([0.5])], IndexError, r"integer or bool, got float32"),
    (lambda: dg.zeros(2, 3)[dg.zeros(3) > 0], IndexError, r"getitem: .*\(2, 3\)"),
    (lambda: dg.zeros(2, 3).__setitem__(0, dg.zeros(4)), ValueError,
     r"setitem: .*\(2, 3\).*\(4,\)"),
    (lambda: dg.zeros(2, 3).__setitem__(7, 1.0), IndexError, r"setitem: .*\(2, 3\)"),
    (lambda: dg.zeros(2, 3).gather(1, dg.tensor([[3]])), IndexError,
     r"gather: index values must lie in \[-3, 2\].*\(2, 3\).*3"),
    (lambda: dg.zeros(2, 3).gather(1, dg.tensor([0])), RuntimeError,
     r"gather: index has 1 dims.*\(2, 3\)"),
    (lambda: dg.zeros(2, 3).gather(0, dg.tensor([[0, 0, 0, 0]])), RuntimeError,
     r"gather: index shape \(1, 4\) is larger than input shape \(2, 3\) in dim 1"),
    (lambda: dg.zeros(2, 3).gather(0, dg.tensor([[0.0]])), TypeError,
     r"gather: index must be an integer tensor, got float32"),
    (lambda: dg.zeros(2, 3).scatter_add(0, dg.tensor([[0, 1]]), dg.ones(1, 1)), RuntimeError,
     r"scatter_add: index shape \(1, 2\) is larger than src shape \(1, 1\)"),
    (lambda: dg.zeros(2, 3).index_select(0, dg.tensor([[0]])), RuntimeError,
     r"index_select: index must be 1-D, got shape \(1, 1\)"),
    (lambda: dg.zeros(2, 3).index_select(2, dg.tensor([0])), IndexError,
     r"index_select: dimension 2"),
    (lambda: dg.zeros(2, 3).masked_select(dg.zeros(4) > 0), RuntimeError,
     r"masked_select: mask of shape \(4,\).*\(2, 3\)"),
    (lambda: dg.zeros(2, 3).masked_select(dg.ones(2, 3)), TypeError,
     r"masked_select: mask must be a bool tensor, got float32"),
]


@pytest.mark.parametrize("make,error,match", INDEX_ERRORS, ids=[m for _, _, m in INDEX_ERRORS])
def test_index_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_setitem_on_a_leaf_that_requires_grad_is_an_error():
    x = dg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="setitem: a leaf tensor that requires grad"):
        x[0] = 1.0
    with dg.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0] and x.is_leaf

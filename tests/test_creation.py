"""Creation functions: dtypes, shapes and values vs torch; seeded randomness; clear errors."""

import pathlib
import re

import numpy as np
import pytest

import deepgrad as dg

torch = pytest.importorskip("torch")


def _same(ours, theirs, rtol=0.0, atol=0.0):
    assert ours.dtype.np == theirs.numpy().dtype, (ours.dtype, theirs.dtype)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", ["zeros", "ones"])
@pytest.mark.parametrize("size", [(3,), (2, 3), ((2, 3),), ([4],), (0, 2), ((),)])
def test_filled_like_torch(name, size):
    _same(getattr(dg, name)(*size), getattr(torch, name)(*size))


@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
def test_filled_with_dtype_and_requires_grad(name):
    x = getattr(dg, name)(2, dtype=dg.float64, requires_grad=True)
    assert x.dtype == dg.float64 and x.shape == (2,) and x.requires_grad and x.is_leaf
    assert getattr(dg, name)(2, 1, dtype=dg.int64).dtype == dg.int64
    assert getattr(dg, name)(2).dtype == dg.float32


@pytest.mark.parametrize("fill", [3, 2.5, True, -1])
def test_full_dtype_follows_the_fill_value(fill):
    _same(dg.full((2, 3), fill), torch.full((2, 3), fill))
    _same(dg.full([4], fill, dtype=dg.float64), torch.full([4], fill, dtype=torch.float64))


@pytest.mark.parametrize("name", ["zeros_like", "ones_like", "empty_like", "rand_like",
                                  "randn_like"])
def test_like_functions_keep_shape_and_dtype(name):
    fn = getattr(dg, name)
    for x in (dg.zeros(2, 3), dg.zeros(4, dtype=dg.float64)):
        y = fn(x)
        assert y.shape == x.shape and y.dtype == x.dtype and not y.requires_grad
    y = fn(dg.zeros(2, 3), dtype=dg.float64, requires_grad=True)
    assert y.dtype == dg.float64 and y.requires_grad and y.is_leaf


def test_like_values_match_torch():
    a = np.arange(6).reshape(2, 3)
    for ours, theirs in ((dg.tensor(a), torch.tensor(a)), (dg.zeros(2), torch.zeros(2))):
        _same(dg.zeros_like(ours), torch.zeros_like(theirs))
        _same(dg.ones_like(ours), torch.ones_like(theirs))
        _same(dg.full_like(ours, 7), torch.full_like(theirs, 7))
        _same(dg.full_like(ours, 2.7), torch.full_like(theirs, 2.7))
        _same(dg.zeros_like(ours, dtype=dg.float64),
              torch.zeros_like(theirs, dtype=torch.float64))


@pytest.mark.parametrize("args", [
    (5,), (2, 7), (10, 0, -3), (5, 5), (0, 1, 0.1), (0.0, 1.0, 0.3), (1, 2.5, 0.5), (5.0,),
    (-1.0, 1.0, 0.1), (3, -2.0, -0.5), (0, 10, 3),
], ids=repr)
def test_arange_like_torch(args):
    _same(dg.arange(*args), torch.arange(*args), atol=1e-6)


def test_arange_dtype_argument_and_tensor_bounds():
    _same(dg.arange(0, 1, 0.1, dtype=dg.float64), torch.arange(0, 1, 0.1, dtype=torch.float64),
          atol=1e-12)
    _same(dg.arange(4, dtype=dg.float32), torch.arange(4, dtype=torch.float32))
    _same(dg.arange(dg.tensor(3)), torch.arange(torch.tensor(3)))


@pytest.mark.parametrize("args", [(0, 1, 5), (-1, 1, 5), (0, 1, 1), (2, -3, 7), (0, 1, 0),
                                  (0.5, 10, 11)])
def test_linspace_like_torch(args):
    _same(dg.linspace(*args), torch.linspace(*args), rtol=1e-6, atol=1e-6)
    _same(dg.linspace(*args, dtype=dg.float64), torch.linspace(*args, dtype=torch.float64),
          rtol=1e-12)


@pytest.mark.parametrize("args", [(3,), (2, 4), (4, 2), (0,)])
def test_eye_like_torch(args):
    _same(dg.eye(*args), torch.eye(*args))
    _same(dg.eye(*args, dtype=dg.int64), torch.eye(*args, dtype=torch.int64))


@pytest.mark.parametrize("name", ["rand", "randn"])
def test_random_floats_shapes_and_dtypes(name):
    fn = getattr(dg, name)
    assert fn(2, 3).shape == (2, 3) and fn((2, 3)).shape == (2, 3) and fn().shape == ()
    assert fn(4).dtype == dg.float32
    assert fn(4, dtype=dg.float64).dtype == dg.float64
    assert fn(4, dtype=dg.float16).dtype == dg.float16
    x = fn(3, requires_grad=True)
    assert x.requires_grad and x.is_leaf


def test_rand_is_uniform_on_unit_interval_and_randn_is_standard_normal():
    dg.manual_seed(0)
    u = dg.rand(20000).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01
    z = dg.randn(20000, dtype=dg.float64).numpy()
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1.0) < 0.03


def test_normal_has_mean_and_std():
    dg.manual_seed(1)
    x = dg.normal(3.0, 2.0, (20000,))
    assert x.dtype == dg.float32
    assert abs(x.numpy().mean() - 3.0) < 0.06 and abs(x.numpy().std() - 2.0) < 0.06


@pytest.mark.parametrize("args,kwargs,low,high", [
    ((10, (1000,)), {}, 0, 10), ((-3, 4, (1000,)), {}, -3, 4), ((5,), {"size": (2, 500)}, 0, 5),
    ((2, 3, (50,)), {}, 2, 3),
])
def test_randint_bounds(args, kwargs, low, high):
    dg.manual_seed(2)
    x = dg.randint(*args, **kwargs)
    assert x.dtype == dg.int64 == dg.as_tensor(torch.randint(*args, **kwargs).numpy()).dtype
    values = x.numpy()
    assert values.min() == low and values.max() == high - 1  # both ends reached, none beyond


def test_randint_dtype_argument():
    assert dg.randint(0, 3, (4,), dtype=dg.int32).dtype == dg.int32


def test_randperm_is_a_permutation():
    p = dg.randperm(50)
    assert p.dtype == dg.int64 and sorted(p.tolist()) == list(range(50))


RANDOM = {
    "rand": lambda: dg.rand(3, 4), "randn": lambda: dg.randn(5),
    "randint": lambda: dg.randint(0, 100, (6,)), "randperm": lambda: dg.randperm(20),
    "normal": lambda: dg.normal(0.0, 1.0, (4,)), "rand_like": lambda: dg.rand_like(dg.zeros(3)),
    "randn_like": lambda: dg.randn_like(dg.zeros(3)),
}


@pytest.mark.parametrize("name", RANDOM)
def test_manual_seed_makes_draws_reproducible(name):
    draw = RANDOM[name]
    dg.manual_seed(123)
    first = [draw().tolist() for _ in range(3)]
    dg.manual_seed(123)
    assert [draw().tolist() for _ in range(3)] == first
    assert first[0] != first[1]  # successive draws differ
    dg.manual_seed(124)
    assert draw().tolist() != first[0]


def test_manual_seed_covers_an_interleaved_sequence():
    def run():
        dg.manual_seed(7)
        return [dg.rand(2).tolist(), dg.randint(0, 9, (3,)).tolist(), dg.randperm(5).tolist(),
                dg.randn(2).tolist()]

    assert run() == run()


def test_no_module_draws_from_another_random_source():
    """Everything random goes through backend.rng(), the generator manual_seed reseeds."""
    root = pathlib.Path(dg.__file__).parent
    pattern = re.compile(r"\bnp\.random\.(?!Generator\b)|default_rng\(|"
                         r"^\s*(import|from) (random|numpy\.random)\b", re.M)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "backend.py" and pattern.search(p.read_text())]
    assert offenders == []


def test_as_tensor_and_from_numpy_share_memory():
    a = np.arange(3.0)
    assert dg.as_tensor(a).array is a and dg.from_numpy(a).array is a
    x = dg.zeros(2)
    assert dg.as_tensor(x) is x
    assert dg.as_tensor([1, 2]).dtype == dg.int64
    assert dg.as_tensor(a, dtype=dg.float32).dtype == dg.float32


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("make,match", [
    (lambda: dg.zeros(2, -1), r"zeros: .*\(2, -1\)"),
    (lambda: dg.ones(-3), r"ones: .*-3"),
    (lambda: dg.full((-1,), 2.0), r"full: .*-1"),
    (lambda: dg.arange(0, 5, 0), r"arange: step must be non-zero"),
    (lambda: dg.arange(0, 5, -1), r"arange: .*step -1"),
    (lambda: dg.arange(5, 0, 1), r"arange: .*step 1"),
    (lambda: dg.randint(5, 5, (2,)), r"randint: low \(5\) must be below high \(5\)"),
    (lambda: dg.randn(3, dtype=dg.int64), r"randn: .*int64"),
    (lambda: dg.rand_like(dg.tensor([1, 2])), r"rand: .*int64"),
    (lambda: dg.randint(0, 3, (2,), requires_grad=True), r"floating point.*int64"),
    (lambda: dg.zeros(2, dtype=dg.int64, requires_grad=True), r"floating point.*int64"),
])
def test_creation_errors_name_the_operation(make, match):
    with pytest.raises(RuntimeError, match=match):
        make()


def test_bad_sizes_and_dtypes_are_clear_errors():
    with pytest.raises(TypeError, match=r"zeros: sizes must be integers"):
        dg.zeros(2, "a")
    with pytest.raises(TypeError, match=r"unsupported dtype"):
        dg.zeros(2, dtype="complex")

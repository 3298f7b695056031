"""One declaration per primitive, the same rigour for all (Chainer's FunctionTestCase, tinygrad's
helper_test_op).

A declaration names the op, a deepgrad function, optionally a torch function, and the cases it
runs on; ``make_tests`` turns a list of declarations into two parametrised pytest tests::

    from harness import Case, In, OpSpec, make_tests, optional_torch

    torch = optional_torch()  # None without torch: the gradchecks still run

    SPECS = [
        OpSpec("add", lambda a, b: a + b, [
            Case((3, 4), (4,)),                            # shapes: random floats in [low, high)
            Case((), (2, 3)),                              # a 0-d tensor broadcast
            Case((2, 3), In((3,), requires_grad=False)),   # per-input options
        ]),
        OpSpec("log", lambda x: x.log(), [Case((2, 3))], low=0.1, high=3),
        OpSpec("where", lambda c, a, b: dg.where(c, a, b), [Case(In((3,), dtype="bool"), (3,), ())],
               torch_fn=lambda c, a, b: torch.where(c, a, b)),
        OpSpec("sum", lambda x, **kw: x.sum(**kw), [Case((2, 3, 4), dim=(0, 2), keepdim=True)]),
    ]
    test_gradcheck, test_oracle = make_tests(SPECS)

Pieces of a declaration:

- ``OpSpec(name, fn, cases, torch_fn=None, ...)``: ``fn(*tensors, **case_kwargs)`` computes the op
  with deepgrad, ``torch_fn`` the same with torch (default: ``fn`` itself, enough when ``fn`` only
  uses operators and methods that both libraries share). It may return a tensor or a tuple of
  tensors (``max(x, dim)``). ``low``/``high``/``avoid``/``dtype`` are the defaults of inputs given
  as bare shapes; ``rtol``/``atol`` are the float32 oracle tolerances, ``rtol64``/``atol64`` the
  float64 ones, ``gc_eps``/``gc_atol``/``gc_rtol`` those of gradcheck; ``grad=False`` marks an
  op without gradient (comparisons, argmax): no gradcheck, forward-only oracle.
- ``Case(*inputs, label=None, gradcheck=True, oracle=True, strided=True, warns=False, **kwargs)``:
  the positional inputs (``In`` or a bare shape) and the keyword arguments passed to both ``fn``
  and ``torch_fn`` (non-differentiable options such as ``dim``). ``gradcheck=False`` for points
  where the op is not differentiable (ties, zeros of abs); ``warns=True`` allows NumPy warnings
  (``log(0)``); ``strided=False`` skips the non-contiguous variant.
- ``In(shape, dtype=None, low, high, values, requires_grad=True, avoid=(), gap=0.1)``: one input.
  ``dtype=None`` is the float dtype under test (float64 in gradcheck, float32 and float64 in the
  oracle); a fixed ``"float32"``/``"float64"``/``"int64"``/``"bool"`` tests promotion and masks.
  Floats are uniform in ``[low, high)`` and at least ``gap`` away from every point in ``avoid``
  (kinks: ``avoid=(0,)`` for abs); integers are uniform in ``[low, high)``; ``values`` fixes them
  (ties, zeros, ``-inf``). Only float inputs with ``requires_grad`` get a gradient.

Generated tests (count them with ``pytest --collect-only tests | grep -c gradcheck``; an extra
``-q`` on top of the ``-q`` in pyproject's addopts prints only per-file totals):

- ``test_gradcheck[<op>-<case>]``: ``dg.autograd.gradcheck`` in float64, once with contiguous
  inputs and once (``...-strided``) with every input a transposed, strided view of a larger array.
- ``test_oracle[<op>-<case>-float32|float64]`` (and ``-strided``): the same inputs through torch:
  equal output values, shapes, dtypes and requires_grad (and ``.array`` a real ndarray, not a
  NumPy scalar); input gradients of ``(out * random_weights).sum()`` equal, with the inputs' dtypes
  and shapes, and no upcast gradient on the way back (an identity probe before each input sees
  the gradient before the engine casts it to the leaf's dtype); no RuntimeWarning from NumPy; the
  inputs left unchanged; ``retain_graph=True`` then a second backward doubles the gradients;
  under ``no_grad`` the same values and no graph.

``check_gradcheck`` and ``check_oracle`` run one case directly; ``assert_same`` compares a
deepgrad and a torch tensor, for hand-written tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import deepgrad as dg

FLOAT = None  # In.dtype for "the float dtype under test"


def optional_torch():
    """The torch module, or None where it is not installed (the oracle tests then skip)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


@dataclass(frozen=True)
class In:
    """One input of a case: its shape, dtype and how its values are drawn."""

    shape: tuple = ()
    dtype: str | None = FLOAT
    low: float = -2.0
    high: float = 2.0
    values: object = None
    requires_grad: bool = True
    avoid: tuple = ()
    gap: float = 0.1

    def draw(self, float_dtype, rng: np.random.Generator) -> np.ndarray:
        dtype = np.dtype(float_dtype if self.dtype is FLOAT else self.dtype)
        if self.values is not None:
            return np.array(self.values, dtype=dtype)
        if dtype == np.bool_:
            return np.asarray(rng.random(self.shape) < 0.5)
        if dtype.kind in "iu":
            return rng.integers(int(self.low), int(self.high), self.shape).astype(dtype)
        x = np.asarray(rng.uniform(self.low, self.high, self.shape))
        for p in self.avoid:  # push values near a kink out to p +- gap
            near = np.abs(x - p) < self.gap
            x = np.where(near, p + np.where(x >= p, self.gap, -self.gap), x)
        return x.astype(dtype)

    def differentiable(self, array: np.ndarray) -> bool:
        return self.requires_grad and array.dtype.kind == "f"


class Case:
    """The inputs of one call and the keyword arguments passed to both functions."""

    def __init__(self, *inputs, label: str | None = None, gradcheck: bool = True,
                 oracle: bool = True, strided: bool = True, warns: bool = False, **kwargs):
        self.inputs = inputs
        self.label = label
        self.gradcheck = gradcheck
        self.oracle = oracle
        self.strided = strided
        self.warns = warns
        self.kwargs = kwargs

    def resolve(self, spec: OpSpec) -> list[In]:
        return [x if isinstance(x, In) else In(tuple(x), spec.dtype, spec.low, spec.high,
                                               avoid=spec.avoid) for x in self.inputs]

    def id(self, spec: OpSpec) -> str:
        if self.label:
            return self.label
        shapes = [x.shape if x.values is None else np.shape(x.values) for x in self.resolve(spec)]
        parts = ["x".join(map(str, shape)) or "0d" for shape in shapes]
        kw = [f"{k}={v}".replace(" ", "") for k, v in self.kwargs.items()]
        return ",".join(parts + kw)


@dataclass
class OpSpec:
    """The declaration of one op: what to call in deepgrad and torch, on which cases."""

    name: str
    fn: Callable
    cases: list
    torch_fn: Callable | None = None
    grad: bool = True
    low: float = -2.0
    high: float = 2.0
    avoid: tuple = ()
    dtype: str | None = FLOAT
    rtol: float = 1e-5
    atol: float = 1e-6
    rtol64: float = 1e-10
    atol64: float = 1e-12
    gc_eps: float = 1e-6
    gc_atol: float = 1e-5
    gc_rtol: float = 1e-3
    marks: list = field(default_factory=list)


# -- building inputs ----------------------------------------------------------------------------
def _rng(*key) -> np.random.Generator:
    """A generator seeded by the test's identity: the same values in every xdist worker."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def strided_view(a: np.ndarray) -> np.ndarray:
    """a's values in a non-contiguous view: every other element of a larger array, transposed."""
    if a.size <= 1:
        return a
    base = np.zeros(tuple(2 * n for n in a.shape[::-1]), a.dtype)
    view = base[(slice(None, None, 2),) * a.ndim].T
    view[...] = a
    assert not view.flags.c_contiguous
    return view


def _arrays(spec: OpSpec, case: Case, float_dtype) -> tuple[list[In], list[np.ndarray]]:
    inputs = case.resolve(spec)
    rng = _rng(spec.name, case.id(spec), np.dtype(float_dtype).name)
    return inputs, [x.draw(float_dtype, rng) for x in inputs]


def _dg_inputs(inputs, arrays, strided: bool, grad: bool) -> list:
    out = []
    for x, a in zip(inputs, arrays):
        t = dg.from_numpy(strided_view(a.copy()) if strided else a.copy())
        out.append(t.requires_grad_() if grad and x.differentiable(a) else t)
    return out


def _outputs(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


# -- the checks ---------------------------------------------------------------------------------
def check_gradcheck(spec: OpSpec, case: Case, strided: bool = False) -> None:
    """Finite differences against backward, in float64, for every float input."""
    inputs, arrays = _arrays(spec, case, np.float64)
    tensors = _dg_inputs(inputs, arrays, strided, grad=True)
    tensors = [t.detach() if t.requires_grad and t.dtype != dg.float64 else t for t in tensors]
    assert any(t.requires_grad for t in tensors), f"{spec.name}: no input to check"
    dg.autograd.gradcheck(lambda *ts: spec.fn(*ts, **case.kwargs), tensors, eps=spec.gc_eps,
                          atol=spec.gc_atol, rtol=spec.gc_rtol)


def check_oracle(spec: OpSpec, case: Case, float_dtype, strided: bool = False) -> None:
    """Forward values, dtypes and input gradients equal to torch's on the same inputs."""
    torch = pytest.importorskip("torch")
    torch_fn = spec.torch_fn or spec.fn
    rtol, atol = (spec.rtol, spec.atol) if float_dtype == np.float32 else (spec.rtol64,
                                                                            spec.atol64)
    inputs, arrays = _arrays(spec, case, float_dtype)
    ours = _dg_inputs(inputs, arrays, strided, grad=spec.grad)
    theirs = [torch.from_numpy(a.copy()).requires_grad_(o.requires_grad)
              for a, o in zip(arrays, ours)]

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore" if case.warns else "error", category=RuntimeWarning,
                                append=not case.warns)
        probed = [_Probe.apply(t, index=i) if t.requires_grad else t for i, t in enumerate(ours)]
        out = _outputs(spec.fn(*probed, **case.kwargs))
        ref = _outputs(_quiet(torch_fn, theirs, case.kwargs))
        assert len(out) == len(ref), f"{len(out)} outputs, torch gives {len(ref)}"
        for k, (o, r) in enumerate(zip(out, ref)):
            assert_same(o, r, rtol, atol, f"{spec.name} output {k}")
            assert o.requires_grad == r.requires_grad, f"{spec.name} output {k}: requires_grad"
        if any(r.requires_grad for r in ref):
            _check_backward(spec.name, ours, theirs, out, ref, rtol, atol)
    for a, t in zip(arrays, ours):
        np.testing.assert_array_equal(t.array, a, err_msg=f"{spec.name} changed its input")
    with dg.no_grad():
        again = _outputs(spec.fn(*ours, **case.kwargs))
    with torch.no_grad():
        ref = _outputs(_quiet(torch_fn, theirs, case.kwargs))
    for o, a, r in zip(out, again, ref):  # no graph (torch's `+x` is x itself, so compare;
        # torch's views of a tensor that requires grad keep requires_grad even under no_grad)
        assert a.requires_grad == r.requires_grad or r._is_view(), (
            f"{spec.name}: graph under no_grad")
        assert a.grad_fn is None or a.grad_fn is o.grad_fn, f"{spec.name}: graph under no_grad"
        np.testing.assert_array_equal(a.array, o.array)


def _quiet(fn, inputs, kwargs):
    """Call the reference without its own warnings (torch's var() on one element...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*inputs, **kwargs)


class _Probe(dg.autograd.Function):
    """Identity that records the dtype of the gradient the op sends back to input ``index``.

    The engine casts gradients to each leaf's dtype, so a float64 gradient inside a float32
    graph (a silent slowdown) shows only here.
    """

    __slots__ = ("index",)
    seen: list = []

    def forward(self, x, index):
        self.index = index
        return x

    def backward(self, g):
        _Probe.seen.append((self.index, g.dtype))
        return g


def _check_backward(name, ours, theirs, out, ref, rtol, atol) -> None:
    torch = pytest.importorskip("torch")
    rng = _rng(name, "weights")
    loss, ref_loss = 0, 0
    for o, r in zip(out, ref):
        if r.requires_grad:
            w = rng.standard_normal(o.shape).astype(o.array.dtype)
            loss = loss + (o * dg.from_numpy(w)).sum()
            ref_loss = ref_loss + (r * torch.from_numpy(w)).sum()
    _Probe.seen.clear()
    loss.backward(retain_graph=True)
    ref_loss.backward()
    for i, dtype in _Probe.seen:
        assert dtype == ours[i].array.dtype, (
            f"{name}: the gradient sent to input {i} is {dtype}, the input is {ours[i].dtype}")
    first = []
    for i, (x, t) in enumerate(zip(ours, theirs)):
        if not t.requires_grad:
            continue
        where = f"{name} grad of input {i}"
        if t.grad is None:
            assert x.grad is None, f"{where}: torch gives none"
            first.append(None)
            continue
        assert x.grad is not None, f"{where}: missing"
        assert x.grad.dtype == x.dtype, f"{where}: dtype {x.grad.dtype}, input is {x.dtype}"
        assert_same(x.grad, t.grad, rtol, atol, where)
        first.append(x.grad.array.copy())
    loss.backward()  # retain_graph=True kept the graph: a second pass adds the same again
    grads = [x.grad for x, t in zip(ours, theirs) if t.requires_grad]
    for g, f in zip(grads, first):
        if f is not None:
            np.testing.assert_allclose(g.array, 2 * f, rtol=rtol, atol=2 * atol,
                                       err_msg=f"{name}: second backward with retain_graph")


def assert_same(ours, theirs, rtol: float = 1e-5, atol: float = 1e-6, what: str = "") -> None:
    """A deepgrad tensor equals a torch tensor: shape, dtype and values (nan and inf included)."""
    expected = theirs.detach().numpy()
    assert isinstance(ours.array, np.ndarray), f"{what}: holds a {type(ours.array)}, not an array"
    assert ours.shape == expected.shape, f"{what}: shape {ours.shape}, torch {expected.shape}"
    assert ours.array.dtype == expected.dtype, (
        f"{what}: dtype {ours.array.dtype}, torch {expected.dtype}")
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(ours.array, expected, rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(ours.array, expected, err_msg=what)


# -- generating the pytest cases ------------------------------------------------------------------
def _layouts(spec: OpSpec, case: Case):
    yield False, ""
    if case.strided and any(a.size > 1 for a in _arrays(spec, case, np.float64)[1]):
        yield True, "-strided"


def _differentiable(spec: OpSpec, case: Case) -> bool:
    inputs, arrays = _arrays(spec, case, np.float64)
    return any(x.differentiable(a) and a.dtype == np.float64 for x, a in zip(inputs, arrays))


def make_tests(specs: list[OpSpec]):
    """The parametrised ``test_gradcheck`` and ``test_oracle`` of these declarations."""
    gradchecks, oracles = [], []
    for spec in specs:
        for case in spec.cases:
            cid = f"{spec.name}-{case.id(spec)}"
            for strided, suffix in _layouts(spec, case):
                if spec.grad and case.gradcheck and _differentiable(spec, case):
                    gradchecks.append(pytest.param(spec, case, strided, id=cid + suffix,
                                                   marks=spec.marks))
                if case.oracle:
                    for dt in (np.float32, np.float64):
                        oracles.append(pytest.param(spec, case, dt, strided, marks=spec.marks,
                                                    id=f"{cid}-{np.dtype(dt).name}{suffix}"))

    @pytest.mark.parametrize("spec, case, strided", gradchecks)
    def test_gradcheck(spec, case, strided):
        check_gradcheck(spec, case, strided)

    @pytest.mark.parametrize("spec, case, float_dtype, strided", oracles)
    def test_oracle(spec, case, float_dtype, strided):
        check_oracle(spec, case, float_dtype, strided)

    return test_gradcheck, test_oracle


def in_fresh_process(expression: str, variable: str, value):
    """print(expression) in a new interpreter that imported deepgrad.backend as b, with the
    environment variable set to value (or unset for None)."""
    env = dict(os.environ)
    env.pop(variable, None)
    if value is not None:
        env[variable] = value
    out = subprocess.run([sys.executable, "-c",
                          f"import deepgrad.backend as b; print({expression})"],
                         capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()

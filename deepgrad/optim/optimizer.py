"""``Optimizer``: parameter groups, per-parameter state, ``state_dict``, and scratch memory.

An optimizer holds ``param_groups`` (a list of dicts: the tensors and their options such as
``lr``) and ``state`` (a dict keyed by parameter, holding buffers such as momentum). Subclasses
write ``_update(group)``: the update rule as NumPy calls with ``out=`` into state buffers and
scratch arrays, so that a step allocates nothing once the state exists.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import chain

import numpy as np

from deepgrad.autograd import enable_grad
from deepgrad.tensor import Tensor


class Optimizer:
    """Base class of optimizers: ``Optimizer(params, defaults)`` like ``torch.optim.Optimizer``.

    ``params`` is an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts (parameter
    groups, each with a ``"params"`` entry and any options that override ``defaults``).
    """

    def __init__(self, params, defaults: dict) -> None:
        name = type(self).__name__
        self._check_options(defaults)
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        self._scratch = _Scratch()
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params should be an iterable of tensors or dicts, got one "
                            "Tensor; pass [tensor] or model.parameters()")
        groups = _ordered(params, name)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"

    def __getstate__(self) -> dict:
        # A learning-rate scheduler wraps the bound ``step``; a copy must not call the original.
        return {k: v for k, v in self.__dict__.items() if k not in ("step", "_opt_called")}

    # -- parameter groups ---------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (fine-tuning unfrozen layers, say)."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: expected a dict, got "
                            f"{type(param_group).__name__}")
        params = param_group.get("params")
        if params is None:
            raise ValueError(f"{name}.add_param_group: the group has no 'params' entry")
        params = [params] if isinstance(params, Tensor) else _ordered(params, name)
        if params and all(isinstance(p, tuple) for p in params):
            param_group["param_names"] = [n for n, _ in params]
            params = [p for _, p in params]
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, but parameter {i} of the "
                                f"group is a {type(p).__name__}")
            if p.grad_fn is not None:
                raise ValueError(f"{name}: can't optimize a non-leaf tensor (parameter {i} of "
                                 f"the group, shape {p.shape}, has grad_fn={p.grad_fn!r})")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter group lists the same tensor twice")
        param_group["params"] = params
        for key, default in self.defaults.items():
            param_group.setdefault(key, default)
        self._check_options(param_group)
        taken = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in taken for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        if self.param_groups and ("param_names" in param_group) != (
                "param_names" in self.param_groups[0]):
            raise ValueError(f"{name}: all parameter groups must be given with names, or all "
                             "without names")
        self.param_groups.append(param_group)

    def _check_options(self, options: dict) -> None:
        """Raise a ValueError naming the optimizer and the option if a value is out of range."""
        if options.get("differentiable"):
            raise ValueError(f"{type(self).__name__}: differentiable=True is not supported "
                             "(deepgrad's optimizers update arrays outside the graph)")

    def _invalid(self, option: str, value, expected: str) -> ValueError:
        return ValueError(f"{type(self).__name__}: invalid {option} {value!r} "
                          f"(expected {expected})")

    # -- a step -------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set each ``.grad`` to None (default), or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.array.fill(0)

    def step(self, closure: Callable[[], object] | None = None):
        """Update every parameter that has a gradient; return ``closure()`` if one is given.

        The closure re-evaluates the loss (and calls backward); it runs with gradients on.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._update(group)
        return loss

    def _update(self, group: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define its update rule")

    def _with_grads(self, group: dict):
        """(tensor, its array, its state) for each parameter of the group that has a gradient."""
        for p in group["params"]:
            if p.grad is not None:
                yield p, p.array, self.state[p]

    # -- saving and restoring -----------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]}``.

        The layout of ``torch.optim.Optimizer.state_dict``: parameters are replaced by their
        position across the groups; the state tensors are the optimizer's own (not copies).
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore options and state saved by ``state_dict`` (of the same optimizer class).

        State values are copied (tensors, NumPy arrays or anything with ``__array__``) and cast
        to their parameter's dtype, except ``step``.
        """
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            raise ValueError(f"{name}: expected a dict with 'state' and 'param_groups' entries")
        saved = copy.deepcopy(state_dict["param_groups"])
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{name}: the state dict has {len(saved)} parameter groups, this "
                             f"optimizer has {len(self.param_groups)}")
        for i, (group, new) in enumerate(zip(self.param_groups, saved)):
            if len(group["params"]) != len(new["params"]):
                raise ValueError(f"{name}: parameter group {i} has {len(new['params'])} "
                                 f"parameters in the state dict, {len(group['params'])} here")
            missing = sorted(k for k in self.defaults if k not in new)
            if missing:
                raise ValueError(f"{name}: parameter group {i} of the state dict lacks "
                                 f"{missing}; was it saved from another optimizer class?")
        params = dict(zip(chain.from_iterable(g["params"] for g in saved),
                          chain.from_iterable(g["params"] for g in self.param_groups)))
        state = defaultdict(dict)
        for index, values in state_dict["state"].items():
            if index not in params:
                raise ValueError(f"{name}: the state dict has state for parameter {index!r}, "
                                 f"which is not in its parameter groups")
            p = params[index]
            state[p] = {k: _load_value(k, v, p, f"{name}: state '{k}' of parameter {index}")
                        for k, v in values.items()}
        for group, new in zip(self.param_groups, saved):
            new["params"] = group["params"]
            if "param_names" in group and "param_names" not in new:
                new["param_names"] = group["param_names"]
        for group in saved:
            self._check_options(group)
        self.state = state
        self.param_groups = saved


def _ordered(params, name: str) -> list:
    """The parameters (or groups) as a list; a set is refused, its order changes between runs."""
    if isinstance(params, set):
        raise TypeError(f"{name}: parameters must be in an ordered collection (list, tuple), "
                        "not a set, whose order changes between runs")
    return list(params)


def _load_value(key: str, value, p: Tensor, what: str):
    """A copy of one saved state value: ``step`` as a 0-d float32 tensor, arrays as tensors
    of p's shape and (floating) dtype, anything else as it is."""
    if key == "step":
        return Tensor._make(np.array(float(value), np.float32), None)
    if isinstance(value, (int, float, bool, str)) or value is None:
        return value
    array = np.array(np.asarray(value.array if isinstance(value, Tensor) else value))
    if array.shape != p.shape:
        raise ValueError(f"{what} has shape {array.shape}, but the parameter has shape {p.shape}")
    if array.dtype.kind == "f":
        array = array.astype(p.array.dtype, copy=False)
    return Tensor._make(array, None)


class _Scratch:
    """Scratch arrays shaped like a parameter, for the temporaries of an update rule.

    They are views into one flat buffer per dtype, as large as the largest parameter seen, so
    the scratch memory is k times the largest parameter (not the sum) and a step allocates no
    array. The views are cached by (shape, dtype, k); a larger parameter regrows the buffer.
    """

    def __init__(self) -> None:
        self._flat: dict = {}
        self._views: dict = {}

    def get(self, like: np.ndarray, k: int) -> tuple:
        """k arrays of like's shape and dtype, free to overwrite until the next call."""
        views = self._views.get((like.shape, like.dtype, k))
        if views is None:
            views = self._carve(like, k)
        return views

    def _carve(self, like: np.ndarray, k: int) -> tuple:
        flat = self._flat.get(like.dtype)
        if flat is None or flat.shape[0] < k or flat.shape[1] < like.size:
            rows, cols = (k, like.size) if flat is None else (max(k, flat.shape[0]),
                                                              max(like.size, flat.shape[1]))
            flat = self._flat[like.dtype] = np.empty((rows, cols), like.dtype)
            self._views = {key: v for key, v in self._views.items() if key[1] != like.dtype}
        views = tuple(flat[i, :like.size].reshape(like.shape) for i in range(k))
        self._views[(like.shape, like.dtype, k)] = views
        return views


def decayed_grad(param: np.ndarray, grad: np.ndarray, weight_decay: float, maximize: bool,
                 out: np.ndarray) -> np.ndarray:
    """The gradient an update rule uses: ``±grad + weight_decay * param`` (into out if needed)."""
    if weight_decay:
        np.multiply(param, weight_decay, out=out)
        return (np.subtract if maximize else np.add)(out, grad, out=out)
    if maximize:
        return np.negative(grad, out=out)
    return grad


def zeros_state(p: np.ndarray) -> Tensor:
    """A zero state buffer with p's shape, dtype and memory layout."""
    return Tensor._make(np.zeros_like(p), None)


def step_counter() -> Tensor:
    """A 0-d float32 step count, as torch keeps it in the state (so state dicts match)."""
    return Tensor._make(np.zeros((), np.float32), None)


def check_range(optimizer: Optimizer, options: dict, ranges: Iterable[tuple]) -> None:
    """Raise for the first ``(key, low, high)`` with ``options[key]`` outside [low, high)."""
    for key, low, high in ranges:
        value = options.get(key)
        if value is None:
            continue
        v = float(value)
        if not low <= v or (high is not None and not v < high):
            expected = f">= {low}" if high is None else f"in [{low}, {high})"
            raise optimizer._invalid(key, value, expected)

"""``Module``, the base class of every layer and model, and ``Parameter``, its learnable tensors.

Assigning a ``Parameter`` or a ``Module`` to an attribute registers it, so that ``parameters()``,
``state_dict()``, ``train()``/``eval()`` and ``to()`` reach the whole tree. Names and semantics
are PyTorch's, including the state-dict keys (``0.weight``, ``fc1.bias``), so a PyTorch state
dict's arrays load as they are.
"""

from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from deepgrad import backend
from deepgrad.autograd import no_grad
from deepgrad.tensor import Tensor, _from_data

__all__ = ["Module", "Parameter"]


class Parameter(Tensor):
    """A tensor that is a learnable part of a module: registered on assignment, requires grad.

    ``Parameter(t)`` shares ``t``'s memory (as in PyTorch); other data is copied.
    """

    def __init__(self, data=None, requires_grad: bool = True) -> None:
        if data is None:
            array = np.empty(0, backend.get_default_dtype().np)
        elif isinstance(data, Tensor):
            array = data.array
        else:
            array = _from_data(data, None)
        self.array = array
        self.grad = None
        self.grad_fn = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class RemovableHandle:
    """Returned by ``register_*_hook``: ``handle.remove()`` (or leaving a ``with``) removes it."""

    _ids = itertools.count()

    def __init__(self, hooks: OrderedDict) -> None:
        self._hooks = weakref.ref(hooks)
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        hooks = self._hooks()
        if hooks is not None:
            hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` did not match (both lists empty when everything did)."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


class Module:
    """Base class of layers and models: subclass it, assign layers in ``__init__``, write forward.

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(784, 128)
                self.fc2 = nn.Linear(128, 10)

            def forward(self, x):
                return self.fc2(F.relu(self.fc1(x)))
    """

    training: bool

    def __init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", OrderedDict())
        setattr_(self, "_buffers", OrderedDict())
        setattr_(self, "_non_persistent_buffers_set", set())
        setattr_(self, "_modules", OrderedDict())
        setattr_(self, "_forward_pre_hooks", OrderedDict())
        setattr_(self, "_forward_hooks", OrderedDict())

    # -- calling --------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args, **kwargs):
        if self._forward_pre_hooks or self._forward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict):
        for hook in tuple(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in tuple(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args)`` before forward; a non-None result replaces the args."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after forward; a non-None result replaces output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # -- registration ---------------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError(
                    f"cannot assign parameter '{name}' before Module.__init__() call "
                    "(call super().__init__() first)"
                )
            self._forget(name, keep=params)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(deepgrad.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            modules = self.__dict__.get("_modules")
            if modules is None:
                raise AttributeError(
                    f"cannot assign module '{name}' before Module.__init__() call "
                    "(call super().__init__() first)"
                )
            self._forget(name, keep=modules)
            modules[name] = value
        elif name in self.__dict__.get("_modules", ()):
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(deepgrad.nn.Module or None expected)"
                )
            self._modules[name] = None
        elif name in self.__dict__.get("_buffers", ()):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(deepgrad.Tensor or None expected)"
                )
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: dict) -> None:
        """Remove name from every place an attribute can live but ``keep``, the one it is
        about to be stored in (where it keeps its position: ``seq[1] = layer``)."""
        self.__dict__.pop(name, None)
        for store in (self._parameters, self._buffers, self._modules):
            if store is not keep:
                store.pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __getattr__(self, name: str):
        state = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            members = state.get(store)
            if members is not None and name in members:
                return members[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def _check_new_name(self, name, kind: str, store: dict) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot register {kind} '{name}' before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{kind} name can't be empty or contain \".\", got {name!r}")
        if hasattr(self, name) and name not in store:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a None placeholder, as ``Linear(bias=False)`` does for bias)."""
        self._check_new_name(name, "parameter", self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(deepgrad.nn.Parameter or None required)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not learnt (running statistics, masks).

        Persistent buffers are saved in ``state_dict``; all follow ``to()``.
        """
        self._check_new_name(name, "buffer", self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(deepgrad.Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module, reachable as an attribute of that name."""
        self._check_new_name(name, "module", self._modules)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    register_module = add_module

    # -- walking the tree -----------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """This module and all below it, each once, with dotted names (``""`` for this one)."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                sub = prefix + ("." if prefix else "") + name
                yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, module in self._modules.items():
            if module is not None and module not in seen:
                seen.add(module)
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, store: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Tensor]]:
        owners = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        seen = set()
        for owner_name, owner in owners:
            for name, value in getattr(owner, store).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield owner_name + ("." if owner_name else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs; a parameter shared by two layers comes once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call fn on every submodule, then on this one (e.g. to initialise weights)."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -- modes and gradients --------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode here and below (Dropout drops, BatchNorm uses batch statistics)."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode is expected to be a bool, got {mode!r}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Set evaluation mode (the same as ``train(False)``)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter, e.g. for transfer learning."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set them to None (default) or fill them with zeros."""
        for param in self.parameters():
            if param.grad is not None:
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.array[...] = 0

    # -- dtypes ---------------------------------------------------------------------------------
    def to(self, *args, **kwargs) -> Module:
        """Cast floating parameters and buffers in place: ``to(dtype)``, ``to("cpu")``, ``to(t)``.

        The Parameter objects stay the same, so an optimizer built before keeps working.
        """
        dtype = kwargs.get("dtype")
        devices = [kwargs.get("device")]
        for arg in args:
            if isinstance(arg, Tensor):
                dtype = arg.dtype
            elif isinstance(arg, str) and arg not in backend._BY_NAME:
                devices.append(arg)
            else:
                dtype = arg
        for device in devices:
            if device is not None and str(device).split(":")[0] != "cpu":
                raise RuntimeError(f"Module.to: device {device!r} is not available; "
                                   "deepgrad runs on 'cpu'")
        if dtype is None:
            return self
        dt = backend.as_dtype(dtype)
        if not dt.is_floating_point:
            raise TypeError(f"Module.to: only floating dtypes are accepted, got {dt}")
        return self._apply(lambda a: a.astype(dt.np, copy=False) if a.dtype.kind == "f" else a)

    def _apply(self, fn: Callable) -> Module:
        """Replace the array of every parameter, gradient and buffer by fn(array), in place."""
        for module in self.modules():
            for param in module._parameters.values():
                if param is not None:
                    param.array = fn(param.array)
                    if param.grad is not None:
                        param.grad.array = fn(param.grad.array)
            for buf in module._buffers.values():
                if buf is not None:
                    buf.array = fn(buf.array)
        return self

    def float(self) -> Module:
        return self.to(backend.float32)

    def double(self) -> Module:
        return self.to(backend.float64)

    def half(self) -> Module:
        return self.to(backend.float16)

    def cpu(self) -> Module:
        return self

    # -- state dict -----------------------------------------------------------------------------
    def _state_items(self, prefix: str) -> Iterator[tuple[str, Tensor]]:
        """(key, tensor) for the parameters and persistent buffers here and below, in
        PyTorch's order: own parameters, own buffers, then each child's."""
        for name, param in self._parameters.items():
            if param is not None:
                yield prefix + name, param
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                yield prefix + name, buf
        for name, module in self._modules.items():
            if module is not None:
                yield from module._state_items(prefix + name + ".")

    def state_dict(self, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
        """Every parameter and persistent buffer by dotted name, as tensors sharing memory.

        Detached unless ``keep_vars``; the keys are those PyTorch gives the same model.
        """
        if destination is None:
            destination = OrderedDict()
        for key, value in self._state_items(prefix):
            destination[key] = value if keep_vars else value.detach()
        return destination

    def load_state_dict(self, state_dict, strict: bool = True) -> _IncompatibleKeys:
        """Copy values into the parameters and buffers, in place, casting to their dtypes.

        Values may be deepgrad tensors, NumPy arrays or anything ``np.asarray`` accepts (a
        PyTorch CPU tensor too). Nothing is copied unless every shape matches and, when
        ``strict``, the keys match exactly. Returns (missing_keys, unexpected_keys).
        """
        targets = dict(self._state_items(""))
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        errors = []
        if strict and missing:
            errors.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            errors.append("unexpected keys: " + ", ".join(unexpected))
        values = {}
        for key, target in targets.items():
            if key not in state_dict:
                continue
            value = _as_array(state_dict[key], key)
            if value.shape != target.shape:
                errors.append(f"size mismatch for {key}: the state dict has shape {value.shape}, "
                              f"the model has shape {target.shape}")
            values[key] = value
        if errors:
            raise RuntimeError(f"load_state_dict for {type(self).__name__}:\n  "
                               + "\n  ".join(errors))
        for key, value in values.items():
            targets[key].array[...] = value
        return _IncompatibleKeys(missing, unexpected)

    # -- description ----------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The settings shown inside this module's repr, e.g. ``in_features=2, out_features=3``."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def _child_lines(self) -> list[str]:
        return [f"({name}): {_indent(repr(module))}" for name, module in self._modules.items()]

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = self._child_lines()
        if not child_lines and len(extra_lines) <= 1:
            return f"{self._get_name()}({''.join(extra_lines)})"
        body = "\n  ".join(extra_lines + child_lines)
        return f"{self._get_name()}(\n  {body}\n)"

    def summary(self, input_shape, dtype=None, print_fn: Callable | None = print
                ) -> ModelSummary:
        """Run a batch of one (zeros of shape ``(1, *input_shape)``) through the model, in eval
        mode and without a graph, and tabulate each layer's output shape and parameter count.

        ``input_shape`` leaves out the batch dimension, as in Keras; the shapes shown are those
        of that batch of one. A row is a module without children or one that holds parameters
        directly (the model itself, unnamed, when it is one), with the parameters it holds
        directly; rows come in the order the layers finish, and a layer called twice appears
        twice. The table goes to ``print_fn``
        (None: not printed); the returned ``ModelSummary`` holds the rows and totals.
        """
        shape = (1, *((input_shape,) if isinstance(input_shape, int) else input_shape))
        dt = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
        layers = []

        def record(name):
            def hook(module, args, output):
                count = sum(p.numel() for p in module.parameters(recurse=False))
                layers.append(LayerSummary(name, module._get_name(), _shape_of(output), count))
            return hook

        handles = [module.register_forward_hook(record(name))
                   for name, module in self.named_modules()
                   if not module._modules or module._parameters]
        modes = [(module, module.training) for module in self.modules()]
        try:
            self.eval()
            with no_grad():
                self(Tensor._make(np.zeros(shape, dt.np), None))
        finally:
            for handle in handles:
                handle.remove()
            for module, mode in modes:
                module.training = mode
        params = list(self.parameters())
        trainable = sum(p.numel() for p in params if p.requires_grad)
        result = ModelSummary(self._get_name(), shape, layers,
                              sum(p.numel() for p in params), trainable)
        if print_fn is not None:
            print_fn(str(result))
        return result


@dataclass
class LayerSummary:
    """One row of ``Module.summary``."""

    name: str
    type: str
    output_shape: tuple | list | None
    num_params: int


@dataclass
class ModelSummary:
    """What ``Module.summary`` measured; ``str()`` gives the table."""

    model: str
    input_shape: tuple
    layers: list[LayerSummary] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def __str__(self) -> str:
        rows = [(f"{layer.name} ({layer.type})" if layer.name else layer.type,
                 str(layer.output_shape), f"{layer.num_params:,}") for layer in self.layers]
        header = ("Layer (type)", "Output Shape", "Param #")
        w0 = max([26] + [len(r[0]) for r in rows]) + 3  # Keras's widths, wider when needed
        w1 = max([22] + [len(r[1]) for r in rows]) + 3
        w2 = max([11] + [len(r[2]) for r in rows])
        width = w0 + w1 + w2

        def line(cells):
            return f"{cells[0]:<{w0}}{cells[1]:<{w1}}{cells[2]:>{w2}}"

        return "\n".join([
            f'Model: "{self.model}" (input shape {self.input_shape})',
            "_" * width, line(header), "=" * width, *[line(r) for r in rows], "=" * width,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            "_" * width,
        ])


def _shape_of(output):
    """The shape of a layer's output; a tuple or list of outputs gives a list of shapes."""
    if isinstance(output, Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return [_shape_of(o) for o in output]
    return None


def _as_array(value, key: str) -> np.ndarray:
    """A state-dict value as an array: a tensor's array, or np.asarray of anything else."""
    if isinstance(value, Tensor):
        return value.array
    if hasattr(value, "detach"):  # e.g. a tensor of another framework that requires grad
        value = value.detach()
    try:
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"load_state_dict: the value for {key} ({type(value).__name__}) cannot "
                        f"be read as an array: {e}") from None


def _indent(text: str) -> str:
    """Indent every line but the first by two spaces (a child's repr inside its parent's)."""
    return text.replace("\n", "\n  ")

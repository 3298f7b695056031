"""``Function``: one differentiable primitive and, once applied, one node of the graph.

A primitive's ``forward`` takes raw arrays and saves on ``self`` what its ``backward`` needs;
``backward`` takes the output's gradient (a raw array) and returns one gradient per input, or
``None`` where an input needs none. Backward is plain array code: it records no graph.
Gradients may keep the broadcast shape of the output: the engine sums them back to each
input's shape (``sum_to``), so no primitive reduces broadcast dimensions by hand.
"""

from __future__ import annotations

from deepgrad.autograd.grad_mode import _enabled
from deepgrad.backend import xp

_ndarray = xp.ndarray
_new = object.__new__
_asarray = xp.asarray

# The autodiff layer sits above tensors and must not import them; tensor.py registers its
# class here when it is imported.
_tensor_type: list = [None]


def register_tensor_type(cls) -> None:
    _tensor_type[0] = cls


class Function:
    """Base class of every primitive. Subclass it, write forward and backward, call ``apply``.

    A subclass lists what forward saves for backward in ``__slots__``: nodes then stay small
    and cheap for Python's garbage collector, and ``release`` knows what to drop.
    """

    # next_functions: per input, the node that produced it, the leaf tensor itself, or None
    # (no gradient needed). out_shape: the output's shape, which is what the gradients sent to
    # this node are summed back to (sum_to).
    __slots__ = ("next_functions", "out_shape", "__weakref__")
    _saved: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._saved = tuple(
            name for klass in cls.__mro__ if issubclass(klass, Function) and klass is not Function
            for name in klass.__dict__.get("__slots__", ())
        )

    def forward(self, *arrays, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, grad):
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    @classmethod
    def apply(cls, *inputs, **kwargs):
        """Run forward on the inputs' arrays; record a graph node if any input needs a gradient.

        Inputs are tensors or plain Python/NumPy values (which get no gradient); keyword
        arguments are options passed to forward as they are.
        """
        tensor = _tensor_type[0]
        arrays = [x.array if isinstance(x, tensor) else x for x in inputs]
        fn = _new(cls)
        try:
            out = fn.forward(*arrays, **kwargs)
        except (ValueError, IndexError) as e:
            raise _explain(cls, arrays, e) from None
        if type(out) is not _ndarray:
            out = _asarray(out)
        if _enabled[0]:
            needs = [isinstance(x, tensor) and x._requires_grad for x in inputs]
            if True in needs:
                fn.next_functions = tuple([(x.grad_fn or x) if need else None
                                           for x, need in zip(inputs, needs)])
                fn.out_shape = out.shape
                return tensor._make(out, fn)
        return tensor._make(out, None)

    @property
    def needs_input_grad(self) -> tuple:
        """Per input, whether backward must compute its gradient."""
        return tuple([n is not None for n in self.next_functions])

    def release(self) -> None:
        """Drop the saved arrays and the links to the inputs (after backward)."""
        for name in self._saved:
            setattr(self, name, None)
        if hasattr(self, "__dict__"):  # a subclass that saves without declaring __slots__
            self.__dict__.clear()
        self.next_functions = None

    def name(self) -> str:
        return f"{type(self).__name__}Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"



def _explain(cls, arrays, error: Exception) -> Exception:
    """Name the operation and its inputs in an array library's error (a user's mistake)."""
    op = cls.__name__.lower()
    described = ", ".join(
        f"{a.shape} {a.dtype}" if hasattr(a, "shape") else repr(a) for a in arrays
    )
    if "broadcast" in str(error):
        return RuntimeError(f"{op}: the input shapes cannot be broadcast together "
                            f"(inputs: {described})")
    return type(error)(f"{op}: {error} (inputs: {described})")

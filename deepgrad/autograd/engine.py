"""Backpropagation: walk the graph from the outputs back to the leaves, in topological order.

The walk is iterative (no recursion limit, however long the chain) and counts each node's
consumers first, so a value used several times receives every contribution before its own
backward runs (``b = a + a; c = b + b`` gives ``dc/da = 4``).
"""

from __future__ import annotations

import weakref

from deepgrad.autograd.function import Function, _tensor_type
from deepgrad.backend import xp

_FREED = (
    "backward: the graph was already freed by an earlier backward. Pass retain_graph=True to "
    "the first backward if you need to go through the same graph twice."
)


def sum_to(grad, shape: tuple):
    """Sum a gradient over the dimensions that broadcasting added or stretched, back to shape.

    The one place where broadcast gradients are reduced: every primitive relies on it.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead < 0:
        return xp.broadcast_to(grad, shape)  # a scalar gradient of a broadcast input
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad`` (or only into ``inputs``)."""
    roots = _roots(tensors, grad_tensors, create_graph)
    targets = None if inputs is None else _as_list(inputs)
    captured = _run(roots, bool(retain_graph), targets, accumulate=targets is None)
    for t, g in zip(targets or (), captured):
        if g is not None:
            _accumulate(t, g, None)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Return d(outputs)/d(inputs) as a tuple of tensors, leaving every ``.grad`` untouched."""
    roots = _roots(outputs, grad_outputs, create_graph)
    targets = _as_list(inputs)
    captured = _run(roots, bool(retain_graph), targets, accumulate=False)
    tensor = _tensor_type[0]
    result = []
    for i, g in enumerate(captured):
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        result.append(None if g is None else tensor._make(_writable_copy(g, targets[i]), None))
    return tuple(result)


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _roots(tensors, grads, create_graph) -> list:
    if create_graph:
        raise NotImplementedError(
            "backward: create_graph=True (higher-order gradients) is not supported: deepgrad's "
            "backward passes are plain array code and record no graph"
        )
    tensors = _as_list(tensors)
    grads = [None] * len(tensors) if grads is None else _as_list(grads)
    if len(grads) != len(tensors):
        raise ValueError(f"backward: got {len(tensors)} outputs but {len(grads)} gradients")
    roots = []
    for i, (t, g) in enumerate(zip(tensors, grads)):
        if not t._requires_grad:
            raise RuntimeError(
                f"backward: output {i} does not require grad and has no grad_fn: nothing that "
                "produced it requires grad (set requires_grad=True on the inputs, and check "
                "that it was not computed under no_grad)"
            )
        if g is None:
            if t.array.size != 1:
                raise RuntimeError(
                    f"backward: the output has shape {t.shape}; a gradient can be created "
                    "implicitly only for a single-element output. Reduce it (e.g. .sum()) or "
                    "pass gradient= with the same shape"
                )
            g = xp.ones_like(t.array)
        else:
            g = getattr(g, "array", g)
            g = xp.asarray(g, dtype=t.array.dtype)
            if g.shape != t.shape:
                raise RuntimeError(
                    f"backward: gradient has shape {tuple(g.shape)}, expected {t.shape} "
                    "(the output's shape)"
                )
        roots.append((t, g))
    return roots


def _run(roots, retain: bool, targets, accumulate: bool) -> list:
    """Propagate the root gradients; return the gradients reaching ``targets`` (if any)."""
    leaf_slot = {}  # id(leaf tensor) -> index in targets
    node_slot = {}  # graph node -> index in targets (non-leaf targets)
    for i, t in enumerate(targets or ()):
        if t.grad_fn is None:
            leaf_slot[id(t)] = i
        else:
            node_slot[t.grad_fn] = i
    captured = [None] * len(targets or ())

    buffers: dict = {}
    for t, g in roots:
        if t.grad_fn is None:  # the output is itself a leaf
            _deliver(t, g, None, leaf_slot, captured, accumulate)
        else:
            prev = buffers.get(t.grad_fn)
            buffers[t.grad_fn] = g if prev is None else prev + g
    deps = _count_consumers(list(buffers))
    ready = [node for node in buffers if deps.get(node, 0) == 0]

    while ready:
        node = ready.pop()
        g = buffers.pop(node)
        if _retained and node in _retained:
            _keep_retained(node, g)
        if node_slot and node in node_slot:
            captured[node_slot[node]] = g
        grads = node.backward(g)
        if type(grads) is not tuple:
            grads = (grads,)
        for nxt, gi in zip(node.next_functions, grads):
            if nxt is None or gi is None:
                continue
            if isinstance(nxt, Function):
                if gi.shape != nxt.out_shape:
                    gi = sum_to(gi, nxt.out_shape)
                if nxt in buffers:
                    buffers[nxt] = buffers[nxt] + gi
                else:
                    buffers[nxt] = gi
                left = deps[nxt] - 1
                deps[nxt] = left
                if not left:
                    ready.append(nxt)
            else:  # a leaf tensor
                if gi.shape != nxt.array.shape:
                    gi = sum_to(gi, nxt.array.shape)
                owned = gi is not g and (len(grads) == 1 or sum(x is gi for x in grads) == 1)
                _deliver(nxt, gi, owned, leaf_slot, captured, accumulate)
        if not retain:
            node.release()
    return captured


def _count_consumers(roots: list) -> dict:
    """For every node reachable from the roots, how many edges point into it."""
    deps: dict = {}
    stack = list(roots)
    seen = set(roots)
    while stack:
        node = stack.pop()
        if node.next_functions is None:
            raise RuntimeError(_FREED)
        for nxt in node.next_functions:
            if isinstance(nxt, Function):
                deps[nxt] = deps.get(nxt, 0) + 1
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    return deps


def _deliver(leaf, g, owned, leaf_slot, captured, accumulate) -> None:
    slot = leaf_slot.get(id(leaf))
    if slot is not None:
        captured[slot] = g if captured[slot] is None else captured[slot] + g
    elif accumulate:
        _accumulate(leaf, g, owned)


def _accumulate(leaf, g, owned) -> None:
    """Add g into leaf.grad; reuse g's memory when nothing else can see it."""
    if leaf.grad is None:
        if not (owned and g.base is None and g.flags.writeable and g.dtype == leaf.array.dtype):
            g = _writable_copy(g, leaf)
        leaf.grad = _tensor_type[0]._make(g, None)
    else:
        leaf.grad.array += g


def _writable_copy(g, like):
    return xp.array(xp.broadcast_to(g, like.shape), dtype=like.array.dtype)


# graph node -> weak references to the non-leaf tensors it produced whose .grad is kept
_retained: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def retain_grad(t) -> None:
    """Keep the gradient of non-leaf tensor t in t.grad after backward."""
    refs = _retained.setdefault(t.grad_fn, [])
    if not any(r() is t for r in refs):
        refs.append(weakref.ref(t))


def retains_grad(t) -> bool:
    return t.grad_fn is not None and any(r() is t for r in _retained.get(t.grad_fn, ()))


def _keep_retained(node, g) -> None:
    for ref in _retained[node]:
        t = ref()
        if t is not None:
            t.grad = _tensor_type[0]._make(_writable_copy(g, t), None)

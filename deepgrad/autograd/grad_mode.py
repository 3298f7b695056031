"""Whether operations record a graph: ``no_grad``, ``enable_grad``, ``set_grad_enabled``."""

from __future__ import annotations

import functools

# A one-element list so that Function.apply reads the flag without a function call.
_enabled = [True]


def is_grad_enabled() -> bool:
    """True when new operations are recorded for backward."""
    return _enabled[0]


class set_grad_enabled:
    """Turn graph recording on or off: a call, a context manager or a decorator."""

    def __init__(self, mode: bool) -> None:
        self.prev = _enabled[0]
        self.mode = bool(mode)
        _enabled[0] = self.mode

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        _enabled[0] = self.prev

    def __call__(self, fn):
        mode = self.mode
        _enabled[0] = self.prev  # used as a decorator: don't change the mode now

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class _GradModeGuard:
    mode = True

    def __enter__(self) -> None:
        self.prev = _enabled[0]
        _enabled[0] = self.mode

    def __exit__(self, *exc) -> None:
        _enabled[0] = self.prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeGuard):
    """Record nothing for backward (evaluation, weight updates). Context manager or decorator."""

    mode = False


class enable_grad(_GradModeGuard):
    """Record operations again inside a ``no_grad`` block. Context manager or decorator."""

    mode = True

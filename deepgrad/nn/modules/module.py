"""TODO(module)."""

__all__: list = []

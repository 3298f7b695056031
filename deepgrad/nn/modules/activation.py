"""TODO(activation)."""

__all__: list = []

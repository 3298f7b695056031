"""TODO(container)."""

__all__: list = []

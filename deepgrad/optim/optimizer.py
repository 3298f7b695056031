"""TODO(optimizer)."""

__all__: list = []

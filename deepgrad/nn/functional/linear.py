"""TODO(linear)."""

__all__: list = []

"""TODO(serialization)."""

__all__: list = []

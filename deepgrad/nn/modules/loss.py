"""TODO(loss)."""

__all__: list = []

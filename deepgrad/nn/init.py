"""TODO(init)."""

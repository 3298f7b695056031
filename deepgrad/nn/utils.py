"""TODO(utils)."""

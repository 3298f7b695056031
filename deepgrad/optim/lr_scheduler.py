"""TODO(lr_scheduler)."""

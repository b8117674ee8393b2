"""URL configurations a project can include (see docs/metrics.md)."""

"""raspa's domain layer."""

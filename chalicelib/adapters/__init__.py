"""raspa's adapters layer."""

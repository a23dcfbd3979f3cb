"""raspa's services layer."""

"""raspa's http layer."""

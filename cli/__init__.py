"""raspa's command line for the people who install it (``./raspa``); dev-side only."""

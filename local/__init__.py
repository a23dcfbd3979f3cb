"""Dev-only tooling: demo portal, AWS emulation, local runtime. Never shipped in the Lambda zip."""

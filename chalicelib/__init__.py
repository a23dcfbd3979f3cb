"""raspa runtime package: everything that ships in the Lambda zip besides app.py."""

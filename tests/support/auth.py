"""Token verification in-process: moto's published signing keys, without an HTTP fetch."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import jwt

from local.users import StaticJwks, moto_jwks

__all__ = ["StaticJwks", "moto_jwks", "moto_private_key"]


def moto_private_key() -> jwt.PyJWK:
    """moto's Cognito signing key, to forge tokens that are signed right but wrong otherwise."""
    path = resources.files("moto.cognitoidp") / "resources" / "jwks-private.json.gz"
    return jwt.PyJWK.from_dict(json.loads(gzip.decompress(path.read_bytes())))

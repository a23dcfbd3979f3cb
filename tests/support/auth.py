"""Token verification in-process: moto's published signing keys, without an HTTP fetch."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import jwt


def moto_jwks() -> dict:
    """The JWKS moto's Cognito signs tokens with (what it serves at .well-known/jwks.json)."""
    package = resources.files("moto.cognitoidp") / "resources"
    for name in ("jwks-public.json", "jwks-public.json.gz"):
        path = package / name
        if path.is_file():
            raw = path.read_bytes()
            return json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)
    raise FileNotFoundError("moto's Cognito JWKS not found")


class StaticJwks:
    """The part of PyJWKClient the verifier uses, over a fixed key set."""

    def __init__(self, jwks: dict) -> None:
        self.keys = jwt.PyJWKSet.from_dict(jwks)

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self.keys.keys:
            if key.key_id == kid:
                return key
        raise jwt.PyJWKClientError(f"no key {kid!r}")


def moto_private_key() -> jwt.PyJWK:
    """moto's Cognito signing key, to forge tokens that are signed right but wrong otherwise."""
    path = resources.files("moto.cognitoidp") / "resources" / "jwks-private.json.gz"
    return jwt.PyJWK.from_dict(json.loads(gzip.decompress(path.read_bytes())))

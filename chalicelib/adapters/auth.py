"""Bearer tokens: OIDC JWTs (Amazon Cognito by default) verified with PyJWT.

Signature against the issuer's JWKS (cached per container), expiry, issuer, audience
(ID tokens) or client id (access tokens), and an algorithm allow-list: ``none`` and
HMAC algorithms are never accepted, so a public key cannot be used as an HMAC secret.
``exp`` and ``nbf`` tolerate ``leeway_seconds`` of clock skew (``RASPA_AUTH_LEEWAY_SECONDS``,
5 s by default).
"""

from __future__ import annotations

from typing import Any

from chalicelib.config import MAX_USER_LENGTH
from chalicelib.domain.identity import Identity
from chalicelib.errors import AuthError

__all__ = ["AuthError", "Identity", "TokenVerifier"]

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384")


class TokenVerifier:
    """Verifies tokens from one issuer for one app client."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        jwks_client: Any,
        vip_group: str = "vip",
        leeway_seconds: int = 5,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.jwks = jwks_client
        self.vip_group = vip_group
        self.leeway = leeway_seconds

    def verify(self, token: str) -> Identity:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in ALLOWED_ALGORITHMS:
                raise AuthError(f"algorithm {header.get('alg')!r} not allowed")
            key = self.jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALLOWED_ALGORITHMS),
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "token_use"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {type(exc).__name__}") from None
        use = claims.get("token_use")
        if use == "id":
            audience = claims.get("aud")
            ok = audience == self.client_id or (
                isinstance(audience, list) and self.client_id in audience
            )
        elif use == "access":
            ok = claims.get("client_id") == self.client_id
        else:
            ok = False
        if not ok:
            raise AuthError("token issued for another client")
        user = claims.get("cognito:username") or claims.get("username") or claims.get("sub")
        if not isinstance(user, str) or not user:
            raise AuthError("token names no user")
        if len(user) > MAX_USER_LENGTH:
            raise AuthError(f"user name over {MAX_USER_LENGTH} characters")
        groups = claims.get("cognito:groups") or []
        return Identity(user=user, vip=self.vip_group in groups)

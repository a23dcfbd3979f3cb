"""API Gateway's side of a request: who calls (the authorizer's answer and its context),
the page's response, query flags and the WebSocket handshake's answer."""

from __future__ import annotations

import logging
from typing import Any, Mapping, Protocol

from chalicelib.domain.identity import Identity
from chalicelib.errors import AuthError, ConfigurationError
from chalicelib.http.responses import too_many_connections

__all__ = [
    "authorize",
    "authorizer_context",
    "bearer_token",
    "flag",
    "handshake",
    "identity_of",
    "page_response",
]

logger = logging.getLogger(__name__)

#: The page's Content-Security-Policy: its own script and styles, WebSocket and HTTP APIs.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self' ws: wss: http: https:; img-src 'self' data:; frame-ancestors 'none'"
)


class Verifier(Protocol):
    def verify(self, token: str) -> Identity: ...


class Connections(Protocol):
    def connect(self, connection_id: str, user: str | None = None) -> bool: ...


def authorize(verifier: Verifier, header: str | None) -> Identity | None:
    """The caller of a bearer ``header``, or None when the token is refused (logged)."""
    try:
        return verifier.verify(bearer_token(header))
    except (AuthError, ConfigurationError) as exc:
        logger.info("token refused", extra={"reason": str(exc)})
        return None


def bearer_token(header: str | None) -> str:
    """The token from an ``Authorization: Bearer <token>`` header (or a bare token)."""
    if not header:
        raise AuthError("no token")
    value = header.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    if not value or len(value) > 8192:
        raise AuthError("malformed token")
    return value


def authorizer_context(identity: Identity) -> dict[str, str]:
    """What the authorizer hands the routes (API Gateway caches it with the token)."""
    return {"user": identity.user, "vip": str(identity.vip).lower()}


def identity_of(context: Mapping[str, Any] | None) -> Identity:
    """Who is calling, as the authorizer established it (a request's ``context``)."""
    answer = (context or {}).get("authorizer") or {}
    user = answer.get("user") or answer.get("principalId")
    if not user:
        raise ConfigurationError("route called without the authorizer's identity")
    return Identity(user=str(user), vip=str(answer.get("vip")).lower() == "true")


def flag(raw: str | None) -> bool | None:
    """A boolean query parameter: absent or false-like is False; None if unreadable."""
    if raw is None or raw.lower() in ("false", "0", "no", ""):
        return False
    if raw.lower() in ("true", "1", "yes"):
        return True
    return None


def page_response(html: str) -> dict[str, Any]:
    """The browser page's status, headers and body."""
    return {
        "body": html,
        "status_code": 200,
        "headers": {
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CSP,
        },
    }


def handshake(
    verifier: Verifier,
    connections: Connections,
    connection_id: str,
    query: Mapping[str, str] | None,
    max_connections: int,
) -> dict[str, Any]:
    """``$connect``'s answer: a valid ``?token=`` and room under the user's limit."""
    identity = authorize(verifier, (query or {}).get("token"))
    if identity is None:
        return {"statusCode": 401}
    if not connections.connect(connection_id, identity.user):
        logger.info("WebSocket connection refused: too many", extra={"user": identity.user})
        return too_many_connections(max_connections)
    return {"statusCode": 200}

"""JSON responses for the HTTP API, and raspa's errors as answers (``errortable`` gives
each code its status and message)."""

from __future__ import annotations

import functools
import json
import logging
import time
from typing import Any, Callable

from chalice import Response

from chalicelib.errors import (
    InvalidOsNumberError,
    InvalidRequestError,
    RaspaError,
    RateLimitedError,
)
from chalicelib.http.errortable import BY_CODE, MAX_BODY_BYTES, spec_for, status_of

__all__ = [
    "BACKEND_RETRY_SECONDS",
    "MAX_BODY_BYTES",
    "body_problem",
    "coded_error",
    "error",
    "handles_errors",
    "json_response",
    "too_many_connections",
]

#: The ``Retry-After`` of a ``backend_unavailable`` answer.
BACKEND_RETRY_SECONDS = 5

logger = logging.getLogger(__name__)

_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers={**_HEADERS, **(headers or {})},
    )


def error(status: int, code: str, message: str, **extra: Any) -> Response:
    """A JSON error body that names the problem: ``{"error": code, "message": ...}``."""
    return json_response(status, {"error": code, "message": message, **extra})


def coded_error(code: str, message: str, **extra: Any) -> Response:
    """``error`` with the status the error table gives ``code``."""
    return error(BY_CODE[code].status, code, message, **extra)


def too_many_connections(limit: int) -> dict[str, Any]:
    """The $connect answer refusing a user's connection over the limit: API Gateway refuses
    the handshake with this status; the body names the problem for clients that read it."""
    spec = BY_CODE["too_many_connections"]
    body = {
        "error": spec.code,
        "message": f"at most {limit} open connections per user; close another tab or window",
        "limit": limit,
    }
    return {
        "statusCode": spec.status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def body_problem(request: Any) -> Response | None:
    """None when the request's body is acceptable (empty, or a JSON object of at most
    ``MAX_BODY_BYTES``); otherwise the 4xx to answer with."""
    try:
        raw = request.raw_body
    except UnicodeError:  # an event body Chalice cannot encode (e.g. a lone surrogate)
        return coded_error("invalid_body", "the body must be UTF-8 JSON")
    if raw and len(raw) > MAX_BODY_BYTES:
        return coded_error("body_too_large", f"the body may hold at most {MAX_BODY_BYTES} bytes")
    if not raw or not raw.strip():
        return None
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        return coded_error("invalid_body", "the body must be a JSON object or empty")
    if not isinstance(parsed, dict):
        return coded_error("invalid_body", "the body must be a JSON object or empty")
    return None


def _for_exception(exc: RaspaError) -> Response:
    if isinstance(exc, InvalidRequestError):  # its code says what is wrong
        return error(status_of(exc.code), exc.code, str(exc))
    spec = spec_for(exc)
    if spec.log:
        logger.error(spec.log, extra={"error": str(exc)})
    message = spec.message.format_map(vars(exc)) if spec.message else str(exc)
    if isinstance(exc, InvalidOsNumberError):
        return error(spec.status, spec.code, message, rule=exc.rule)
    if isinstance(exc, RateLimitedError):
        next_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + exc.retry_after))
        return json_response(
            spec.status,
            {
                "error": spec.code,
                "message": message,
                "retry_after": exc.retry_after,
                "next_allowed_at": next_at,
                "limit": exc.limit,
            },
            {"Retry-After": str(exc.retry_after)},
        )
    headers = {"Retry-After": str(BACKEND_RETRY_SECONDS)} if "Retry-After" in spec.headers else {}
    return json_response(spec.status, {"error": spec.code, "message": message}, headers)


def handles_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn raspa's exceptions raised by a view into JSON responses."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except RaspaError as exc:
            return _for_exception(exc)

    return wrapper

"""JSON responses for the HTTP API, and the mapping of raspa's errors to HTTP statuses."""

from __future__ import annotations

import functools
import json
import logging
import time
from typing import Any, Callable

from chalice import Response

from chalicelib.errors import (
    BatchFinishedError,
    BatchNotFoundError,
    BucketError,
    ConfigurationError,
    InvalidOsNumberError,
    InvalidRequestError,
    QueueError,
    RaspaError,
    RateLimitedError,
    StorageError,
    TaskNotFoundError,
)

__all__ = [
    "MAX_BODY_BYTES",
    "body_problem",
    "error",
    "handles_errors",
    "json_response",
    "too_many_connections",
]

#: A lookup carries everything in its path; a body, if any, is a small JSON object.
MAX_BODY_BYTES = 1024

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


def too_many_connections(limit: int) -> dict[str, Any]:
    """The $connect answer refusing a user's connection over the limit: API Gateway refuses
    the handshake with this status; the body names the problem for clients that read it."""
    body = {
        "error": "too_many_connections",
        "message": f"at most {limit} open connections per user; close another tab or window",
        "limit": limit,
    }
    return {
        "statusCode": 429,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def body_problem(request: Any) -> Response | None:
    """None when the request's body is acceptable (empty, or a JSON object of at most
    ``MAX_BODY_BYTES``); otherwise the 4xx to answer with."""
    try:
        raw = request.raw_body
    except UnicodeError:  # an event body Chalice cannot encode (e.g. a lone surrogate)
        return error(400, "invalid_body", "the body must be UTF-8 JSON")
    if raw and len(raw) > MAX_BODY_BYTES:
        return error(413, "body_too_large", f"the body may hold at most {MAX_BODY_BYTES} bytes")
    if not raw or not raw.strip():
        return None
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):
        return error(400, "invalid_body", "the body must be a JSON object or empty")
    if not isinstance(parsed, dict):
        return error(400, "invalid_body", "the body must be a JSON object or empty")
    return None


def _for_exception(exc: RaspaError) -> Response:
    if isinstance(exc, InvalidOsNumberError):
        return error(400, "invalid_os_number", str(exc), rule=exc.rule)
    if isinstance(exc, RateLimitedError):
        next_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + exc.retry_after))
        return json_response(
            429,
            {
                "error": "rate_limited",
                "message": str(exc),
                "retry_after": exc.retry_after,
                "next_allowed_at": next_at,
                "limit": exc.limit,
            },
            {"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, TaskNotFoundError):
        return error(404, "task_not_found", "no such task")
    if isinstance(exc, BatchNotFoundError):
        return error(404, "batch_not_found", "no such batch")
    if isinstance(exc, BatchFinishedError):
        return error(409, "batch_finished", f"the batch is {exc.status}; nothing to cancel")
    if isinstance(exc, InvalidRequestError):
        return error(400, exc.code, str(exc))
    if isinstance(exc, (StorageError, QueueError, BucketError)):
        logger.error("backend unavailable", extra={"error": str(exc)})
        return json_response(
            503,
            {
                "error": "backend_unavailable",
                "message": "storage or queue unavailable; try again shortly",
            },
            {"Retry-After": "5"},
        )
    if isinstance(exc, ConfigurationError):
        logger.error("configuration error", extra={"error": str(exc)})
        return error(503, "misconfigured", "raspa is misconfigured; operators were alerted")
    logger.error("unexpected raspa error", extra={"error": str(exc)})
    return error(503, "unavailable", "raspa could not answer; try again shortly")


def handles_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Turn raspa's exceptions raised by a view into JSON responses."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except RaspaError as exc:
            return _for_exception(exc)

    return wrapper

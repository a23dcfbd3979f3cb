"""Every error code raspa answers over HTTP: its status, the exceptions answered with it
and what it means.

``responses`` reads the table to turn raspa's exceptions into answers and ``openapi`` to
document them, so a code, its status and its description are written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from chalicelib.errors import (
    AuthError,
    BatchFinishedError,
    BatchNotFoundError,
    BucketError,
    ConfigurationError,
    FileTooLargeError,
    InvalidOsNumberError,
    InvalidRequestError,
    MalformedMessageError,
    QueueError,
    RaspaError,
    RateLimitedError,
    ScrapeError,
    StorageError,
    TaskNotFoundError,
)

__all__ = [
    "BY_CODE",
    "ERRORS",
    "INTERNAL",
    "MAX_BODY_BYTES",
    "ErrorCode",
    "by_status",
    "spec_for",
    "status_of",
]

#: A lookup carries everything in its path; a body, if any, is a small JSON object.
MAX_BODY_BYTES = 1024


@dataclass(frozen=True)
class ErrorCode:
    """One error code: ``{"error": code, "message": ..., **extra}`` answered with ``status``."""

    code: str
    status: int
    #: What the code means, for clients (the OpenAPI document).
    description: str
    #: The exceptions answered with this code (a subclass too, unless listed elsewhere).
    exceptions: tuple[type[RaspaError], ...] = ()
    #: What the answer says; ``{name}`` takes the exception's attribute. Empty: the
    #: exception's own text (or the caller's message).
    message: str = ""
    #: Keys the body adds, as JSON Schema (every one is present when the code is answered).
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: Headers the answer carries, as OpenAPI header objects.
    headers: Mapping[str, Any] = field(default_factory=dict)
    #: Logged at ERROR level when answered: operators must look (the cause is in the log).
    log: str = ""
    #: Answered to a WebSocket handshake (``$connect``), not by an HTTP route.
    websocket: bool = False


def _integer(description: str, minimum: int = 0) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "description": description}


def _retry_after(description: str, minimum: int, *, required: bool = False) -> dict[str, Any]:
    header = {"description": description, "schema": {"type": "integer", "minimum": minimum}}
    return {"Retry-After": {"required": True, **header} if required else header}


ERRORS: tuple[ErrorCode, ...] = (
    ErrorCode(
        "invalid_os_number",
        400,
        "The OS number does not match the portal profile's rule, named in `rule`.",
        (InvalidOsNumberError,),
        extra={"rule": {"type": "string", "description": "The rule broken."}},
    ),
    ErrorCode(
        "invalid_parameter",
        400,
        "A query parameter (`refresh`) has a value the route does not accept.",
    ),
    ErrorCode("invalid_body", 400, "The body is neither empty nor a UTF-8 JSON object."),
    ErrorCode(
        "invalid_size", 400, "`size` is missing or not a positive integer.", (InvalidRequestError,)
    ),
    ErrorCode(
        "file_too_large", 400, "`size` is over the largest file accepted.", (InvalidRequestError,)
    ),
    ErrorCode(
        "invalid_filename",
        400,
        "`filename` is not a string of at most 200 characters.",
        (InvalidRequestError,),
    ),
    ErrorCode(
        "invalid_user",
        400,
        "The caller's user name cannot own batch files.",
        (InvalidRequestError,),
    ),
    ErrorCode(
        "task_not_found",
        404,
        "No such task, or the caller never asked for it.",
        (TaskNotFoundError,),
        message="no such task",
    ),
    ErrorCode(
        "batch_not_found",
        404,
        "No such batch, or it is another user's.",
        (BatchNotFoundError,),
        message="no such batch",
    ),
    ErrorCode(
        "os_not_found", 404, "The portal has no such OS; the answer is remembered for a while."
    ),
    ErrorCode("os_not_stored", 404, "No successful scrape of the OS is stored."),
    ErrorCode(
        "batch_finished",
        409,
        "The batch has finished (`complete` or `rejected`): nothing to cancel.",
        (BatchFinishedError,),
        message="the batch is {status}; nothing to cancel",
    ),
    ErrorCode("body_too_large", 413, f"The body is larger than {MAX_BODY_BYTES} bytes."),
    ErrorCode(
        "rate_limited",
        429,
        "The caller started too many scrapes in the rolling window.",
        (RateLimitedError,),
        extra={
            "retry_after": _integer("Seconds until a new scrape is allowed.", 1),
            "next_allowed_at": {
                "type": "string",
                "format": "date-time",
                "description": "When a new scrape is allowed (UTC).",
            },
            "limit": _integer("New scrapes allowed per rolling window.", 1),
        },
        headers=_retry_after("Seconds until a new scrape is allowed.", 1, required=True),
    ),
    ErrorCode(
        "too_many_connections",
        429,
        "The user has as many WebSocket connections open as allowed.",
        extra={"limit": _integer("Open connections allowed per user.", 1)},
        websocket=True,
    ),
    ErrorCode(
        "backend_unavailable",
        503,
        "DynamoDB, SQS or S3 could not be reached.",
        (StorageError, QueueError, BucketError),
        message="storage or queue unavailable; try again shortly",
        headers=_retry_after("Seconds to wait before trying again (backend_unavailable).", 0),
        log="backend unavailable",
    ),
    ErrorCode(
        "misconfigured",
        503,
        "raspa is misconfigured; operators were alerted.",
        (ConfigurationError,),
        message="raspa is misconfigured; operators were alerted",
        log="configuration error",
    ),
    ErrorCode(
        "unavailable",
        503,
        "raspa could not answer: an unexpected error.",
        (RaspaError,),
        message="raspa could not answer; try again shortly",
        log="unexpected raspa error",
    ),
)

BY_CODE: Mapping[str, ErrorCode] = {spec.code: spec for spec in ERRORS}
#: Errors raised only by the worker, the batch ingest and the authorizer, never by a view:
#: no code of their own (one reaching a view anyway is answered ``unavailable``).
INTERNAL: tuple[type[RaspaError], ...] = (
    ScrapeError,
    MalformedMessageError,
    FileTooLargeError,
    AuthError,  # answered by the authorizer (401/403) before any route runs
)

_BY_CLASS: dict[type, ErrorCode] = {}
for _spec in ERRORS:
    for _cls in _spec.exceptions:
        _BY_CLASS.setdefault(_cls, _spec)


def spec_for(exc: BaseException) -> ErrorCode:
    """The entry answering ``exc``: by the ``code`` it carries if the table lists it, else
    by its class or its nearest listed ancestor (``unavailable`` for any other error)."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code in BY_CODE:
        return BY_CODE[code]
    for cls in type(exc).__mro__:
        if cls in _BY_CLASS:
            return _BY_CLASS[cls]
    return BY_CODE["unavailable"]


def status_of(code: str, default: int = 400) -> int:
    """The HTTP status ``code`` is answered with (``default`` for a code not listed)."""
    spec = BY_CODE.get(code)
    return spec.status if spec else default


def by_status(*codes: str) -> dict[int, tuple[ErrorCode, ...]]:
    """``codes``' entries grouped by status (raises KeyError for a code not listed)."""
    groups: dict[int, tuple[ErrorCode, ...]] = {}
    for code in codes:
        spec = BY_CODE[code]
        groups[spec.status] = (*groups.get(spec.status, ()), spec)
    return groups

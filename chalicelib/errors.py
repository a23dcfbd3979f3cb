"""The project's exceptions.

Adapters convert ``botocore`` ``ClientError`` and ``requests`` exceptions into
these at the boundary, so services and handlers never inspect AWS or HTTP
library errors themselves.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BatchFinishedError",
    "BatchNotFoundError",
    "BucketError",
    "ConfigurationError",
    "FileTooLargeError",
    "InvalidOsNumberError",
    "InvalidRequestError",
    "ItemRefusedError",
    "LayoutChangedError",
    "LoginFailedError",
    "MalformedMessageError",
    "ObjectMissingError",
    "OffSiteError",
    "OsNotFoundError",
    "PermanentScrapeError",
    "ProfileError",
    "QueueError",
    "QuotaExceeded",
    "RaspaError",
    "RateLimitedError",
    "ScrapeError",
    "StorageError",
    "TaskNotFoundError",
    "TooLargeError",
    "TransientScrapeError",
]


class RaspaError(Exception):
    """Base class of every error raspa raises on purpose."""


class AuthError(RaspaError):
    """The token is missing, malformed, expired or not ours (the reason is for logs only)."""


class ConfigurationError(RaspaError):
    """Settings or credentials are missing or wrong; an operator must act."""


class ProfileError(ConfigurationError):
    """A portal profile file is missing, malformed or inconsistent; ``key`` is the dotted
    key at fault ("" for the whole file) and ``line`` where it is written, when known."""

    key: str = ""
    line: int | None = None


class InvalidOsNumberError(RaspaError):
    """An OS number does not match the portal profile's pattern."""

    def __init__(self, value: str, rule: str) -> None:
        super().__init__(f"invalid OS number {value[:40]!r}: {rule}")
        self.value = value
        self.rule = rule


class TaskNotFoundError(RaspaError):
    """No task with that id exists (or the caller may not see it)."""


class RateLimitedError(RaspaError):
    """The user started too many scrapes in the rolling window."""

    def __init__(self, retry_after: int, limit: int, window_seconds: int) -> None:
        super().__init__(
            f"at most {limit} new scrapes per {window_seconds // 60} minutes; "
            f"the next one is allowed in {retry_after} s"
        )
        self.retry_after = retry_after
        self.limit = limit
        self.window_seconds = window_seconds


class StorageError(RaspaError):
    """DynamoDB rejected or failed a call (after the SDK's own retries)."""


class ItemRefusedError(StorageError):
    """DynamoDB refused an item as invalid (over 400 KB, say): no retry can store it."""


class QueueError(RaspaError):
    """SQS rejected or failed a call (after the SDK's own retries)."""


class BucketError(RaspaError):
    """S3 rejected or failed a call (after the SDK's own retries)."""


class ObjectMissingError(BucketError):
    """The object does not exist (deleted, or expired by the bucket's lifecycle)."""


class FileTooLargeError(BucketError):
    """An uploaded file is bigger than raspa reads (checked before reading it)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the file has {size} bytes; at most {limit} are accepted")
        self.size, self.limit = size, limit


class QuotaExceeded(Exception):
    """The owner's daily batch lines would exceed the limit."""

    def __init__(self, used: int, limit: int) -> None:
        super().__init__(f"used {used} of {limit}")
        self.used, self.limit = used, limit


class BatchNotFoundError(RaspaError):
    """No batch with that id exists (or the caller may not see it)."""


class BatchFinishedError(RaspaError):
    """The batch has finished (complete or rejected): it cannot be cancelled."""

    def __init__(self, batch_id: str, status: str) -> None:
        super().__init__(f"batch {batch_id} is {status}")
        self.batch_id, self.status = batch_id, status


class InvalidRequestError(RaspaError):
    """A request's parameters or body are wrong; the message says which and why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class MalformedMessageError(RaspaError, ValueError):
    """A queue message's body is not one raspa writes: not JSON, or a field missing or
    invalid. Also a ValueError, which the worker and the ingest treat as malformed."""


class ScrapeError(RaspaError):
    """Base class of everything that can go wrong while scraping the portal."""

    #: Whether a later attempt may succeed.
    transient: bool = False
    #: Short machine-readable reason, used in task results and metrics.
    reason: str = "scrape_error"


class TransientScrapeError(ScrapeError):
    """Connection error, timeout, 5xx or 429: worth retrying later.

    ``retry_after`` carries the portal's ``Retry-After`` in seconds, if any.
    """

    transient = True
    reason = "transient"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentScrapeError(ScrapeError):
    """An error no retry will fix."""

    reason = "permanent"


class OsNotFoundError(PermanentScrapeError):
    """The portal answered that the OS does not exist."""

    reason = "not_found"

    def __init__(self, numero_os: str) -> None:
        super().__init__(f"OS {numero_os} não encontrada no portal")
        self.numero_os = numero_os


class LayoutChangedError(PermanentScrapeError):
    """A required field is missing from the page: the portal's markup changed."""

    reason = "layout_changed"

    def __init__(self, url: str, field: str) -> None:
        super().__init__(f"layout changed: required field {field!r} not found at {url}")
        self.url = url
        self.field = field


class LoginFailedError(PermanentScrapeError):
    """The portal refused the configured credentials (a configuration error)."""

    reason = "login_failed"


class OffSiteError(LayoutChangedError):
    """The portal pointed a request off its origin (a form action, a redirect, a link):
    refused before anything was sent, like a layout change an operator must look at."""

    reason = "off_site"

    def __init__(self, url: str, what: str) -> None:
        PermanentScrapeError.__init__(self, f"refused {what} off the portal's origin: {url}")
        self.url = url
        self.field = what


class TooLargeError(PermanentScrapeError):
    """The OS is bigger than raspa stores (a page, its history rows, or its record)."""

    reason = "too_large"

    def __init__(self, what: str, size: int, limit: int, setting: str) -> None:
        super().__init__(f"{what}: {size} over the limit of {limit} ({setting})")
        self.what, self.size, self.limit, self.setting = what, size, limit, setting

"""HTTP transport for the scraper: a requests Session with default timeouts, no retries,
one origin, and the mechanisms that bound a request in time and size.

Retries are the queue's job (SQS redelivery with back-off), not urllib3's. Everything
here fails with a ``requests`` exception (some of them defined here); the scraper turns
them into raspa's errors.

* The adapter refuses a request off its ``origin`` (scheme, host, port) before anything
  is sent, redirects that requests follows by itself included (``OffOriginError``).
* ``deadline(at)``: while the block runs, a socket the adapter's connections read from is
  shut down when ``at`` (``time.monotonic()``) passes, so a portal that drips its status
  line, headers or body one byte at a time cannot outlive it.
* ``read_body`` reads a streamed response in small reads (``read1``), counting decoded
  bytes (a gzip bomb too) and stopping at the cap or the deadline.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from typing import Any, Iterator

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from chalicelib.domain.profile import origin_of

__all__ = [
    "BodyTooLargeError",
    "DeadlineExceededError",
    "DeadlineGuard",
    "OffOriginError",
    "TimeoutHTTPAdapter",
    "build_session",
    "deadline",
    "read_body",
    "watch_socket",
]

#: Most decoded bytes one read returns: the deadline and the cap are checked this often.
READ_SIZE = 16 * 1024
_GUARD: contextvars.ContextVar[DeadlineGuard | None] = contextvars.ContextVar(
    "raspa_portal_deadline", default=None
)


class OffOriginError(requests.RequestException):
    """A request to another origin than the session's; nothing was sent."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(f"refused a request off the portal's origin: {url}", **kwargs)
        self.url = url


class BodyTooLargeError(requests.RequestException):
    """The response's body passed the cap; reading stopped there."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"response body over {limit} bytes ({size} read)")
        self.size, self.limit = size, limit


class DeadlineExceededError(requests.Timeout):
    """The whole request (headers and body) did not finish before its deadline."""


# ------------------------------------------------------------------ deadline
class DeadlineGuard:
    """Shuts down every socket it watches once ``at`` passes (a timer thread, started by
    the first socket); ``close()`` disarms it for good."""

    def __init__(self, at: float) -> None:
        self.at = at
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._timer: threading.Timer | None = None

    def watch(self, sock: Any) -> None:
        with self._lock:
            if self._closed:
                return
            if self.expired:
                _cut(sock)
                return
            self._sockets.append(sock)
            if self._timer is None:
                self._timer = threading.Timer(max(0.0, self.at - time.monotonic()), self.expire)
                self._timer.daemon = True
                self._timer.start()

    def expire(self) -> None:
        """Cut every watched socket now (the timer calls this at ``at``)."""
        with self._lock:
            if self._closed:
                return
            self.expired = True
            for sock in self._sockets:
                _cut(sock)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._sockets.clear()
            timer = self._timer
        if timer is not None:
            timer.cancel()


def _cut(sock: Any) -> None:
    """Shut the socket down (both ways): a read blocked on it in another thread returns."""
    with contextlib.suppress(OSError, TypeError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the TCP socket under TLS too


@contextlib.contextmanager
def deadline(at: float | None) -> Iterator[DeadlineGuard | None]:
    """Bound the requests (and body reads) made in this block by ``at``; None: no bound."""
    if at is None:
        yield None
        return
    guard = DeadlineGuard(at)
    token = _GUARD.set(guard)
    try:
        yield guard
    finally:
        guard.close()
        _GUARD.reset(token)


def watch_socket(sock: Any) -> None:
    """Put ``sock`` under the current ``deadline`` block, if any (connections call it)."""
    guard = _GUARD.get()
    if guard is not None and sock is not None:
        guard.watch(sock)


class _Guarded:
    """A connection whose socket the current deadline watches while its answer is read.

    (Connecting needs no watch: the connect timeout is clipped to the time left, and
    Python's TLS handshake treats a socket timeout as a total, not a per-read, limit.)"""

    sock: Any

    def getresponse(self) -> Any:
        watch_socket(self.sock)
        return super().getresponse()  # type: ignore[misc]


class _GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


# ------------------------------------------------------------------- adapter
class TimeoutHTTPAdapter(HTTPAdapter):
    """Applies a default ``(connect, read)`` timeout to every request, refuses requests
    off ``origin`` (a base URL; None: any), and puts its sockets under ``deadline``."""

    def __init__(
        self, timeout: tuple[float, float], *, origin: str | None = None, **kwargs: Any
    ) -> None:
        self.timeout = timeout
        self.origin = origin_of(origin) if origin else None
        if origin and self.origin is None:
            raise ValueError(f"not an http(s) origin: {origin!r}")
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if self.origin is not None and origin_of(request.url or "") != self.origin:
            raise OffOriginError(request.url or "", request=request)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def build_session(
    *,
    connect_timeout: float,
    read_timeout: float,
    origin: str | None = None,
    pool_size: int = 4,
    user_agent: str = "raspa/1.0",
) -> requests.Session:
    """A Session whose every request times out, is never retried by urllib3 and, given
    ``origin`` (the portal's base URL), never leaves it."""
    session = requests.Session()
    adapter = TimeoutHTTPAdapter(
        (connect_timeout, read_timeout),
        origin=origin,
        max_retries=0,
        pool_connections=pool_size,
        pool_maxsize=pool_size,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


# ---------------------------------------------------------------------- body
def read_body(response: requests.Response, *, deadline: float, max_bytes: int) -> bytes:
    """The decoded body of a ``stream=True`` response, read ``READ_SIZE`` at most at a
    time; ``BodyTooLargeError`` past ``max_bytes`` (the rest is never read),
    ``DeadlineExceededError`` once ``deadline`` passes. Closing the response is the
    caller's job."""
    raw = response.raw
    if not isinstance(raw, urllib3.BaseHTTPResponse):
        body = response.content  # an in-memory response (a test double)
        if len(body) > max_bytes:
            raise BodyTooLargeError(len(body), max_bytes)
        return body
    declared = response.headers.get("Content-Length", "")
    if (
        declared.isdigit()
        and int(declared) > max_bytes
        and "Content-Encoding" not in (response.headers)
    ):
        raise BodyTooLargeError(int(declared), max_bytes)  # refused before reading any
    read = getattr(raw, "read1", None) or raw.read  # read1: urllib3 >= 2.3
    parts: list[bytes] = []
    size = 0
    while True:
        _in_time(deadline, size)
        try:
            chunk = read(READ_SIZE, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            _in_time(deadline, size)
            raise _as_requests_error(exc) from None
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLargeError(size, max_bytes)
        parts.append(chunk)
    _in_time(deadline, size)  # a body cut short by the deadline guard ends like this
    return b"".join(parts)


def _in_time(deadline: float, size: int) -> None:
    if time.monotonic() >= deadline:
        raise DeadlineExceededError(f"deadline passed after {size} bytes of the body")


def _as_requests_error(exc: Exception) -> requests.RequestException:
    """What requests' own ``iter_content`` raises for the same urllib3 error."""
    errors = urllib3.exceptions
    if isinstance(exc, errors.DecodeError):
        return requests.exceptions.ContentDecodingError(type(exc).__name__)
    if isinstance(exc, errors.ReadTimeoutError):
        return requests.exceptions.ReadTimeout(type(exc).__name__)
    if isinstance(exc, errors.SSLError):
        return requests.exceptions.SSLError(type(exc).__name__)
    if isinstance(exc, errors.ProtocolError):
        return requests.exceptions.ChunkedEncodingError(type(exc).__name__)
    return requests.exceptions.ConnectionError(type(exc).__name__)

"""One portal request as raspa makes it: on the portal's origin, within its time and size
limits, redirects followed hop by hop, the body decoded as the page says.

Transport policy for ``PortalScraper`` (which decides what to request); the session is
the injected ``requests.Session`` (``chalicelib.adapters.transport``). Every ``requests``
exception becomes a raspa ``ScrapeError`` here. What a hostile portal cannot do:

* make a request leave its origin (``profile.base_url``'s scheme, host and port): every
  URL, every redirect's included, is checked before anything is sent (``OffSiteError``);
* hold a request past ``limits.request_timeout_seconds`` or the scrape's ``deadline``,
  however slowly it drips its answer (``TransientScrapeError``, "portal too slow");
* make raspa read more than ``limits.max_page_bytes`` of a page (decoded; ``TooLargeError``).
"""

from __future__ import annotations

import email.utils
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping
from urllib.parse import urljoin

import requests

from chalicelib.adapters.transport import BodyTooLargeError, OffOriginError, read_body
from chalicelib.adapters.transport import deadline as within
from chalicelib.domain.charset import decode_page
from chalicelib.domain.forms import FormRequest
from chalicelib.domain.profile import PortalProfile
from chalicelib.errors import (
    OffSiteError,
    PermanentScrapeError,
    TooLargeError,
    TransientScrapeError,
)
from chalicelib.observability import count

__all__ = ["PortalClient", "PortalPage", "ScrapeLimits", "parse_retry_after"]

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 10
_REDIRECTS = (301, 302, 303, 307, 308)
#: Request errors caused by our own configuration (a bad ``base_url``): no retry fixes them.
_CONFIG_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
)
_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True)
class ScrapeLimits:
    """What one portal request and one OS may cost; the defaults are the settings'
    (``RASPA_PORTAL_REQUEST_TIMEOUT_SECONDS``, ``RASPA_MAX_PAGE_BYTES``,
    ``RASPA_MAX_HISTORY_ROWS``)."""

    #: Total time of one request: connect, headers and the whole body.
    request_timeout_seconds: float = 60.0
    #: Decoded bytes read of one response at most.
    max_page_bytes: int = 2 * 1024 * 1024
    #: History rows of one OS at most (over all its pages).
    max_history_rows: int = 2_000

    def __post_init__(self) -> None:
        if self.request_timeout_seconds <= 0 or min(self.max_page_bytes, self.max_history_rows) < 1:
            raise ValueError(f"scrape limits must be positive: {self}")


@dataclass(frozen=True)
class PortalPage:
    """A portal answer, read whole (within the limits) and decoded."""

    method: str
    url: str
    status: int
    headers: Mapping[str, str] = field(repr=False)
    text: str = field(repr=False)
    #: The codec used and where it came from (``chalicelib.domain.charset``).
    encoding: str = "utf-8"
    encoding_source: str = ""
    #: Bytes read (decompressed).
    size: int = 0
    #: What the request was for ("login page", "detail page", "frame", …).
    what: str = ""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class PortalClient:
    """Makes one portal request at a time for a scraper; ``on_page`` sees every answer."""

    def __init__(
        self,
        session: requests.Session,
        profile: PortalProfile,
        limits: ScrapeLimits,
        on_page: Callable[[PortalPage], None] | None = None,
    ) -> None:
        self.session = session
        self.profile = profile
        self.limits = limits
        self.on_page = on_page

    def on_site(self, url: str, what: str) -> None:
        """OffSiteError unless ``url`` is on the portal's origin; nothing is sent then."""
        if not self.profile.on_origin(url):
            logger.warning(
                "refused a request off the portal's origin", extra={"url": url, "what": what}
            )
            raise OffSiteError(url, what)

    def fetch(
        self,
        request: FormRequest,
        what: str,
        deadline: float | None,
        form_encoding: str | None = None,
    ) -> PortalPage:
        """One answer, following redirects hop by hop, each checked before it is requested.
        A form goes in the encoding of the page it came from."""
        encoding = form_encoding or (
            self.profile.encoding if self.profile.encoding != "auto" else "utf-8"
        )
        method, url, body = request.method, request.target(encoding), request.body(encoding)
        for _ in range(MAX_REDIRECTS + 1):
            self.on_site(url, what)
            page = self._send(method, url, deadline, body, what)
            location = page.headers.get("Location")
            if page.status not in _REDIRECTS or not location:
                return page
            url, what = _absolute(page.url, location), "redirect"
            if page.status in (301, 302, 303):  # as browsers do: the form is not sent again
                method, body = "GET", None
        raise TransientScrapeError(f"portal redirected more than {MAX_REDIRECTS} times")

    def _send(
        self, method: str, url: str, deadline: float | None, body: bytes | None, what: str
    ) -> PortalPage:
        """One request, its body read within the limits; no redirect followed."""
        until = time.monotonic() + self.limits.request_timeout_seconds
        if deadline is not None:
            until = min(until, deadline)
        try:
            timeout = self._timeout(url, until)
            count("PortalRequests")
            with within(until):
                response = self.session.request(
                    method,
                    url,
                    data=body,
                    headers=_FORM_HEADERS if body is not None else None,
                    allow_redirects=False,
                    stream=True,
                    timeout=timeout,
                )
                try:
                    self._check_status(response)
                    content = read_body(
                        response, deadline=until, max_bytes=self.limits.max_page_bytes
                    )
                finally:
                    response.close()
        except BodyTooLargeError as exc:
            raise TooLargeError("page", exc.size, exc.limit, "RASPA_MAX_PAGE_BYTES") from None
        except OffOriginError as exc:
            raise OffSiteError(exc.url, "request") from None
        except _CONFIG_ERRORS as exc:
            raise PermanentScrapeError(f"bad portal URL {url}: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            if time.monotonic() >= until:
                raise TransientScrapeError(self._too_slow(url, until, deadline)) from None
            if isinstance(exc, requests.Timeout):
                raise TransientScrapeError(f"portal timed out: {type(exc).__name__}") from None
            if isinstance(exc, requests.ConnectionError):
                raise TransientScrapeError(f"portal unreachable: {type(exc).__name__}") from None
            raise TransientScrapeError(f"portal request failed: {type(exc).__name__}") from None
        decoded = decode_page(content, response.headers.get("Content-Type"), self.profile.encoding)
        page = PortalPage(
            method=method,
            url=response.url or url,
            status=response.status_code,
            headers=response.headers,
            text=decoded.text,
            encoding=decoded.encoding,
            encoding_source=decoded.source,
            size=len(content),
            what=what,
        )
        if self.on_page is not None:
            self.on_page(page)
        return page

    def _check_status(self, response: requests.Response) -> None:
        """A transient error for a 5xx or 429 (before the body is read); any other
        status is the caller's to judge (a 401 may be an expired session, a 404 an
        unknown OS)."""
        status = response.status_code
        if status >= 500 or status == 429:
            raise TransientScrapeError(
                f"portal answered {status} at {response.url}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )

    def _too_slow(self, url: str, until: float, deadline: float | None) -> str:
        if deadline is not None and until == deadline:
            return f"portal too slow: the attempt's time budget ran out reading {url}"
        return (
            f"portal too slow: no complete answer from {url} within "
            f"{self.limits.request_timeout_seconds:g} s (RASPA_PORTAL_REQUEST_TIMEOUT_SECONDS)"
        )

    def _timeout(self, url: str, until: float) -> tuple[float, float]:
        """The session's timeouts, shortened so no socket operation outlives ``until``."""
        remaining = until - time.monotonic()
        if remaining <= 0:
            raise TransientScrapeError("time budget for this attempt is exhausted")
        default = getattr(self.session.get_adapter(url), "timeout", None)
        if isinstance(default, tuple):
            connect, read = default
        elif isinstance(default, (int, float)):
            connect = read = float(default)
        else:
            connect = read = remaining
        return min(connect, remaining), min(read, remaining)


def _absolute(base: str, href: str) -> str:
    """``href`` resolved against ``base``; as given if it does not parse (the origin
    check then refuses it)."""
    try:
        return urljoin(base, href)
    except ValueError:
        return href

"""The portal scraper: logs in once, reuses its session, fetches an OS and its history pages.

Policy only; the transport is the injected ``requests.Session`` (``chalicelib.adapters.transport``)
and the portal's shape is the injected profile. Every ``requests`` exception becomes a
raspa ``ScrapeError`` here.

What a hostile portal cannot do:

* make a request leave its origin (``profile.base_url``'s scheme, host and port): the
  login form's action, every redirect (followed here, hop by hop) and every "next" link
  are checked before anything is sent; anything else is ``OffSiteError``;
* hold a request past ``limits.request_timeout_seconds`` or the scrape's ``deadline``,
  however slowly it drips its answer (``TransientScrapeError``, "portal too slow");
* make raspa read more than ``limits.max_page_bytes`` of a page (decoded) or keep more
  than ``limits.max_history_rows`` history rows (``TooLargeError``).
"""

from __future__ import annotations

import email.utils
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urljoin, urlsplit

import requests
from parsel import Selector

from chalicelib.adapters.transport import BodyTooLargeError, OffOriginError, read_body
from chalicelib.adapters.transport import deadline as within
from chalicelib.domain.parse import next_page_url, parse_detail, parse_history
from chalicelib.domain.profile import PortalProfile
from chalicelib.errors import (
    LoginFailedError,
    OffSiteError,
    PermanentScrapeError,
    TooLargeError,
    TransientScrapeError,
)
from chalicelib.observability import count

__all__ = ["Credentials", "PortalScraper", "ScrapeLimits", "parse_retry_after"]

logger = logging.getLogger(__name__)

MAX_PAGES = 100
MAX_REDIRECTS = 10
_REDIRECTS = (301, 302, 303, 307, 308)
#: Request errors caused by our own configuration (a bad ``base_url``): no retry fixes them.
_CONFIG_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
)
Progress = Callable[[str, int], None]


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
class _Page:
    """A portal answer, read whole (within the limits)."""

    status: int
    url: str
    headers: Mapping[str, str]
    text: str


@dataclass(frozen=True)
class Credentials:
    """The portal login; ``repr`` never shows the password."""

    username: str
    password: str = field(repr=False)


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


class PortalScraper:
    """Scrapes OS records; one instance per warm container keeps the portal session."""

    def __init__(
        self,
        session: requests.Session,
        profile: PortalProfile,
        credentials: Credentials,
        *,
        limits: ScrapeLimits | None = None,
    ) -> None:
        self.session = session
        self.profile = profile
        self.credentials = credentials
        self.limits = limits or ScrapeLimits()
        self._logged_in = False
        self._logins = 0

    @property
    def logins(self) -> int:
        return self._logins

    def scrape(
        self, numero_os: str, on_progress: Progress | None = None, deadline: float | None = None
    ) -> dict[str, Any]:
        """The OS record with its full history; raises a ``ScrapeError`` subclass on failure.

        ``deadline`` is a ``time.monotonic()`` instant after which no request is started
        and any request still being read is cut.
        """
        progress = on_progress or (lambda step, percent: None)
        url = self.profile.detail_url(numero_os)
        page = self._page(url, "detail page", progress, deadline)
        record = parse_detail(page.text, page.url, self.profile, numero_os)
        history = self._rows([], parse_history(page.text, self.profile, page.url))
        progress("detail", 40)
        pages, seen = 1, {page.url}
        next_url = next_page_url(page.text, page.url, self.profile)
        while next_url and next_url not in seen and pages < MAX_PAGES:
            seen.add(next_url)
            page = self._page(next_url, "next page link", progress, deadline)
            history = self._rows(history, parse_history(page.text, self.profile, page.url))
            pages += 1
            progress("history", min(90, 40 + 10 * pages))
            next_url = next_page_url(page.text, page.url, self.profile)
        record["numero"] = record.get("numero") or numero_os
        record["historico"] = history
        record["source_url"] = url
        record["pages"] = pages
        return record

    def _rows(
        self, history: list[dict[str, Any]], more: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """``history + more``, or TooLargeError once past the cap (no further page read)."""
        total, limit = len(history) + len(more), self.limits.max_history_rows
        if total > limit:
            raise TooLargeError("history rows", total, limit, "RASPA_MAX_HISTORY_ROWS")
        return history + more

    # ------------------------------------------------------------- session
    def _page(self, url: str, what: str, progress: Progress, deadline: float | None) -> _Page:
        """GET a portal page, logging in first or again (once) when the session is gone."""
        self._on_site(url, what)  # before logging in for it
        if not self._logged_in:
            self._login(progress, deadline)
        page = self._fetch("GET", url, what, deadline)
        if self._is_login_page(page):
            logger.info("portal session expired; logging in again")
            self._logged_in = False
            self._login(progress, deadline)
            page = self._fetch("GET", url, what, deadline)
            if self._is_login_page(page):
                raise TransientScrapeError("the portal keeps asking for a login")
        return page

    def _login(self, progress: Progress, deadline: float | None) -> None:
        login_url = self.profile.login_url()
        page = self._fetch("GET", login_url, "login page", deadline)
        form = Selector(text=page.text).css(self.profile.login.form_selector)
        if not form:
            raise TransientScrapeError(f"no login form at {page.url}")
        # Every input of the form goes back (CSRF token and other hidden fields included).
        data = {i.attrib["name"]: i.attrib.get("value", "") for i in form.css("input[name]")}
        data[self.profile.login.username_field] = self.credentials.username
        data[self.profile.login.password_field] = self.credentials.password
        action = _absolute(page.url, form.attrib.get("action") or page.url)
        response = self._fetch("POST", action, "login form action", deadline, data=data)
        selector = Selector(text=response.text)
        if selector.css(self.profile.login.failure_selector) or self._is_login_page(response):
            self._logged_in = False
            raise LoginFailedError(
                f"the portal refused the login of user {self.credentials.username!r} at {action}"
            )
        self._logged_in = True
        self._logins += 1
        progress("login", 15)

    def _is_login_page(self, page: _Page) -> bool:
        login_path = urlsplit(self.profile.login_url()).path
        if urlsplit(page.url).path == login_path:
            return True
        return bool(Selector(text=page.text).css(self.profile.login.login_page_marker))

    # ----------------------------------------------------------- transport
    def _on_site(self, url: str, what: str) -> None:
        """OffSiteError unless ``url`` is on the portal's origin; nothing is sent then."""
        if not self.profile.on_origin(url):
            logger.warning(
                "refused a request off the portal's origin", extra={"url": url, "what": what}
            )
            raise OffSiteError(url, what)

    def _fetch(
        self,
        method: str,
        url: str,
        what: str,
        deadline: float | None,
        data: dict[str, str] | None = None,
    ) -> _Page:
        """One answer, following redirects hop by hop, each checked before it is requested."""
        for _ in range(MAX_REDIRECTS + 1):
            self._on_site(url, what)
            page = self._send(method, url, deadline, data)
            location = page.headers.get("Location")
            if page.status not in _REDIRECTS or not location:
                return page
            url, what = _absolute(page.url, location), "redirect"
            if page.status in (301, 302, 303):  # as browsers do: the form is not sent again
                method, data = "GET", None
        raise TransientScrapeError(f"portal redirected more than {MAX_REDIRECTS} times")

    def _send(
        self, method: str, url: str, deadline: float | None, data: dict[str, str] | None
    ) -> _Page:
        """One request, its body read within the limits; no redirect followed."""
        until = time.monotonic() + self.limits.request_timeout_seconds
        if deadline is not None:
            until = min(until, deadline)
        try:
            timeout = self._timeout(url, until)
            count("PortalRequests")
            with within(until):
                response = self.session.request(
                    method, url, data=data, allow_redirects=False, stream=True, timeout=timeout
                )
                try:
                    self._check_status(response)
                    body = read_body(response, deadline=until, max_bytes=self.limits.max_page_bytes)
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
        text = body.decode(self.profile.encoding, errors="replace")
        return _Page(response.status_code, response.url or url, response.headers, text)

    def _check_status(self, response: requests.Response) -> None:
        status = response.status_code
        if status >= 500 or status == 429:
            raise TransientScrapeError(
                f"portal answered {status} at {response.url}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 400:
            raise PermanentScrapeError(f"portal answered {status} at {response.url}")

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

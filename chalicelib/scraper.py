"""The portal scraper: logs in once, reuses its session, fetches an OS and its history pages.

Policy only; the transport is the injected ``requests.Session`` and the portal's
shape is the injected profile. Every ``requests`` exception becomes a raspa
``ScrapeError`` here.
"""

from __future__ import annotations

import email.utils
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit

import requests
from parsel import Selector

from chalicelib.errors import (
    LoginFailedError,
    PermanentScrapeError,
    TransientScrapeError,
)
from chalicelib.observability import count
from chalicelib.parse import next_page_url, parse_detail, parse_history
from chalicelib.profile import PortalProfile

__all__ = ["Credentials", "PortalScraper", "parse_retry_after"]

logger = logging.getLogger(__name__)

MAX_PAGES = 100
#: Request errors caused by our own configuration (a bad ``base_url``): no retry fixes them.
_CONFIG_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
)
Progress = Callable[[str, int], None]


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
        self, session: requests.Session, profile: PortalProfile, credentials: Credentials
    ) -> None:
        self.session = session
        self.profile = profile
        self.credentials = credentials
        self._logged_in = False
        self._logins = 0

    @property
    def logins(self) -> int:
        return self._logins

    def scrape(
        self, numero_os: str, on_progress: Progress | None = None, deadline: float | None = None
    ) -> dict[str, Any]:
        """The OS record with its full history; raises a ``ScrapeError`` subclass on failure.

        ``deadline`` is a ``time.monotonic()`` instant after which no request is started.
        """
        progress = on_progress or (lambda step, percent: None)
        url = self.profile.detail_url(numero_os)
        response = self._page(url, progress, deadline)
        record = parse_detail(response.text, response.url, self.profile, numero_os)
        history = parse_history(response.text, self.profile, response.url)
        progress("detail", 40)
        pages, seen = 1, {response.url}
        next_url = next_page_url(response.text, response.url, self.profile)
        while next_url and next_url not in seen and pages < MAX_PAGES:
            seen.add(next_url)
            response = self._page(next_url, progress, deadline)
            history += parse_history(response.text, self.profile, response.url)
            pages += 1
            progress("history", min(90, 40 + 10 * pages))
            next_url = next_page_url(response.text, response.url, self.profile)
        record["numero"] = record.get("numero") or numero_os
        record["historico"] = history
        record["source_url"] = url
        record["pages"] = pages
        return record

    # ------------------------------------------------------------- session
    def _page(self, url: str, progress: Progress, deadline: float | None) -> requests.Response:
        """GET a portal page, logging in first or again (once) when the session is gone."""
        if not self._logged_in:
            self._login(progress, deadline)
        response = self._get(url, deadline)
        if self._is_login_page(response):
            logger.info("portal session expired; logging in again")
            self._logged_in = False
            self._login(progress, deadline)
            response = self._get(url, deadline)
            if self._is_login_page(response):
                raise TransientScrapeError("the portal keeps asking for a login")
        return response

    def _login(self, progress: Progress, deadline: float | None) -> None:
        login_url = self.profile.login_url()
        page = self._get(login_url, deadline)
        form = Selector(text=page.text).css(self.profile.login.form_selector)
        if not form:
            raise TransientScrapeError(f"no login form at {page.url}")
        # Every input of the form goes back (CSRF token and other hidden fields included).
        data = {i.attrib["name"]: i.attrib.get("value", "") for i in form.css("input[name]")}
        data[self.profile.login.username_field] = self.credentials.username
        data[self.profile.login.password_field] = self.credentials.password
        action = urljoin(page.url, form.attrib.get("action") or page.url)
        response = self._request("POST", action, deadline, data=data)
        selector = Selector(text=response.text)
        if selector.css(self.profile.login.failure_selector) or self._is_login_page(response):
            self._logged_in = False
            raise LoginFailedError(
                f"the portal refused the login of user {self.credentials.username!r} at {action}"
            )
        self._logged_in = True
        self._logins += 1
        progress("login", 15)

    def _is_login_page(self, response: requests.Response) -> bool:
        login_path = urlsplit(self.profile.login_url()).path
        if urlsplit(response.url).path == login_path:
            return True
        return bool(Selector(text=response.text).css(self.profile.login.login_page_marker))

    # ----------------------------------------------------------- transport
    def _get(self, url: str, deadline: float | None) -> requests.Response:
        return self._request("GET", url, deadline)

    def _request(
        self, method: str, url: str, deadline: float | None, **kwargs: Any
    ) -> requests.Response:
        try:
            timeout = self._timeout(url, deadline)
            count("PortalRequests")
            response = self.session.request(
                method, url, allow_redirects=True, timeout=timeout, **kwargs
            )
            if response.history:
                count("PortalRequests", len(response.history))  # redirects followed
        except _CONFIG_ERRORS as exc:
            raise PermanentScrapeError(f"bad portal URL {url}: {type(exc).__name__}") from None
        except requests.Timeout as exc:
            raise TransientScrapeError(f"portal timed out: {type(exc).__name__}") from None
        except requests.ConnectionError as exc:
            raise TransientScrapeError(f"portal unreachable: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            raise TransientScrapeError(f"portal request failed: {type(exc).__name__}") from None
        status = response.status_code
        if status >= 500 or status == 429:
            raise TransientScrapeError(
                f"portal answered {status} at {response.url}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 400:
            raise PermanentScrapeError(f"portal answered {status} at {response.url}")
        response.encoding = self.profile.encoding
        return response

    def _timeout(self, url: str, deadline: float | None) -> tuple[float, float] | None:
        """The session's timeouts, shortened so no request outlives ``deadline``."""
        if deadline is None:
            return None  # the adapter's default applies
        remaining = deadline - time.monotonic()
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

"""The portal scraper: logs in once, reuses its session, fetches an OS and its history pages.

Policy only, as the injected profile describes the portal: the login form (hidden fields
carried, the right button pressed), the detail page (a URL, or a search form, then
frames), "não encontrada" and an expired session in each of their forms, the history on
its own page or not, followed by link or by postback. Each request goes through a
``PortalClient`` (``chalicelib.adapters.portalclient``): on the portal's origin (the login
form's action, every redirect and every "next" link are checked before anything is sent),
within its time and size limits. A record keeps at most ``limits.max_history_rows``
history rows and reads at most ``MAX_PAGES`` history pages (``TooLargeError``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
from parsel import Selector

from chalicelib.adapters.portalclient import (
    PortalClient,
    PortalPage,
    ScrapeLimits,
    parse_retry_after,
)
from chalicelib.domain.forms import FormError, FormRequest, build_request
from chalicelib.domain.parse import (
    first_link,
    is_not_found,
    next_history_request,
    parse_detail,
    parse_history,
)
from chalicelib.domain.profile import PortalProfile
from chalicelib.errors import (
    LayoutChangedError,
    LoginFailedError,
    OsNotFoundError,
    PermanentScrapeError,
    TooLargeError,
    TransientScrapeError,
)

__all__ = ["Credentials", "PortalPage", "PortalScraper", "ScrapeLimits", "parse_retry_after"]

logger = logging.getLogger(__name__)

#: What each page read is for (``PortalPage.what``), by step: the requests that lead to
#: the detail page, and those that read history pages (``profile check`` sorts pages so).
DETAIL_STEPS = ("detail page", "search form action", "frame")
HISTORY_STEPS = ("history page", "history link", "next page link", "history postback")
#: History pages one OS may span (a portal whose "next" never ends is ``TooLargeError``).
MAX_PAGES = 100
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class Credentials:
    """The portal login; ``repr`` never shows the password."""

    username: str
    password: str = field(repr=False)


class PortalScraper:
    """Scrapes OS records; one instance per warm container keeps the portal session.

    ``on_page`` (optional) sees every page read, in order: what ``profile check`` prints.
    """

    def __init__(
        self,
        session: requests.Session,
        profile: PortalProfile,
        credentials: Credentials,
        *,
        limits: ScrapeLimits | None = None,
        on_page: Callable[[PortalPage], None] | None = None,
    ) -> None:
        self.profile = profile
        self.credentials = credentials
        self.client = PortalClient(session, profile, limits or ScrapeLimits(), on_page)
        self._logged_in = False
        self._logins = 0

    @property
    def session(self) -> requests.Session:
        return self.client.session

    @property
    def limits(self) -> ScrapeLimits:
        return self.client.limits

    @limits.setter
    def limits(self, value: ScrapeLimits) -> None:
        self.client.limits = value

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
        page = self._detail_page(numero_os, progress, deadline)
        record = parse_detail(page.text, page.url, self.profile, numero_os)
        progress("detail", 40)
        history, pages = self._history(numero_os, page, progress, deadline)
        record["numero"] = record.get("numero") or numero_os
        record["historico"] = history
        record["source_url"] = self.profile.detail_url(numero_os)
        record["pages"] = pages
        return record

    def _detail_page(self, numero: str, progress: Progress, deadline: float | None) -> PortalPage:
        """The page the fields are on: the detail URL's, or the search form's answer, then
        each frame's page in turn."""
        rule = self.profile.detail
        url = self.profile.detail_url(numero)
        if rule.form_selector:
            search = self._page(FormRequest("GET", url), "search page", progress, deadline)
            form = Selector(text=search.text).css(rule.form_selector)
            if not form:
                raise LayoutChangedError(search.url, "detail.form_selector")
            try:
                request = build_request(
                    form[0], search.url, submit=rule.submit, values={rule.number_field: numero}
                )
            except FormError:
                raise LayoutChangedError(search.url, "detail.submit") from None
            page = self._page(
                request, "search form action", progress, deadline, numero, search.encoding
            )
        else:
            page = self._page(FormRequest("GET", url), "detail page", progress, deadline, numero)
        for selector in rule.frames:
            if is_not_found(Selector(text=page.text), self.profile):
                raise OsNotFoundError(numero)
            link = first_link(page.text, page.url, selector)
            if link is None:
                raise LayoutChangedError(page.url, "detail.frames")
            page = self._page(FormRequest("GET", link), "frame", progress, deadline, numero)
        return page

    def _history(
        self, numero: str, detail: PortalPage, progress: Progress, deadline: float | None
    ) -> tuple[list[dict[str, Any]], int]:
        """Every history row, over every page (by link or postback), and the pages read."""
        rule = self.profile.history
        if rule is None:
            return [], 1
        page = detail
        if rule.url:
            request = FormRequest("GET", self.profile.history_url(numero))
            page = self._page(request, "history page", progress, deadline, numero)
        elif rule.link_selector:
            link = first_link(detail.text, detail.url, rule.link_selector)
            if link is None:
                raise LayoutChangedError(detail.url, "history.link_selector")
            page = self._page(FormRequest("GET", link), "history link", progress, deadline)
        history = self._rows([], parse_history(page.text, self.profile, page.url))
        pages, seen = 1, {_key(FormRequest("GET", page.url))}
        while True:
            request = next_history_request(page.text, page.url, self.profile)
            if request is None or _key(request) in seen:
                break
            if pages >= MAX_PAGES:
                raise TooLargeError("history pages", pages + 1, MAX_PAGES, "pages read per OS")
            seen.add(_key(request))
            what = "next page link" if request.method == "GET" else "history postback"
            page = self._page(request, what, progress, deadline, None, page.encoding)
            history = self._rows(history, parse_history(page.text, self.profile, page.url))
            pages += 1
            progress("history", min(90, 40 + 10 * pages))
        return history, pages

    def _rows(
        self, history: list[dict[str, Any]], more: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """``history + more``, or TooLargeError once past the cap (no further page read)."""
        total, limit = len(history) + len(more), self.limits.max_history_rows
        if total > limit:
            raise TooLargeError("history rows", total, limit, "RASPA_MAX_HISTORY_ROWS")
        return history + more

    # ------------------------------------------------------------- session
    def _page(
        self,
        request: FormRequest,
        what: str,
        progress: Progress,
        deadline: float | None,
        numero: str | None = None,
        form_encoding: str | None = None,
    ) -> PortalPage:
        """A portal page, logging in first or again (once) when the session is gone;
        with ``numero``, the answer is checked for the portal's ways of saying "não
        encontrada" (a status, a redirect)."""
        self.client.on_site(request.url, what)  # before logging in for it
        if not self._logged_in:
            self._login(progress, deadline)
        page = self.client.fetch(request, what, deadline, form_encoding)
        if self._expired(page):
            logger.info("portal session expired; logging in again")
            self._logged_in = False
            self._login(progress, deadline)
            page = self.client.fetch(request, what, deadline, form_encoding)
            if self._expired(page):
                raise TransientScrapeError("the portal keeps asking for a login")
        if numero is not None:
            self._check_found(page, request, numero)
        _check_answered(page)
        return page

    def _check_found(self, page: PortalPage, request: FormRequest, numero: str) -> None:
        rule = self.profile.detail
        if page.status in rule.not_found_status:
            raise OsNotFoundError(numero)
        gone = rule.not_found_redirect
        if gone and _path(page.url) == gone and _path(request.url) != gone:
            raise OsNotFoundError(numero)

    def _login(self, progress: Progress, deadline: float | None) -> None:
        rule = self.profile.login
        page = self.client.fetch(
            FormRequest("GET", self.profile.login_url()), "login page", deadline
        )
        _check_answered(page)
        form = Selector(text=page.text).css(rule.form_selector)
        if not form:
            raise TransientScrapeError(f"no login form at {page.url}")
        values = {
            rule.username_field: self.credentials.username,
            rule.password_field: self.credentials.password,
        }
        try:
            request = build_request(form[0], page.url, submit=rule.submit, values=values)
        except FormError:
            raise LayoutChangedError(page.url, "login.submit") from None
        response = self.client.fetch(request, "login form action", deadline, page.encoding)
        refused = bool(Selector(text=response.text).css(rule.failure_selector))
        if refused or self._expired(response):
            self._logged_in = False
            raise LoginFailedError(
                f"the portal refused the login of user {self.credentials.username!r} "
                f"at {request.url}"
            )
        _check_answered(response)
        self._logged_in = True
        self._logins += 1
        progress("login", 15)

    def _expired(self, page: PortalPage) -> bool:
        """Whether the portal answered with its login (a status, its path, its form)."""
        rule = self.profile.login
        if page.status in rule.expired_status:
            return True
        if _path(page.url) == _path(self.profile.login_url()):
            return True
        return bool(Selector(text=page.text).css(rule.login_page_marker))


def _check_answered(page: PortalPage) -> None:
    """PermanentScrapeError for a 4xx no rule of the profile explained."""
    if page.status >= 400:
        raise PermanentScrapeError(f"portal answered {page.status} at {page.url}")


def _path(url: str) -> str:
    try:
        return urlsplit(url).path
    except ValueError:
        return ""


def _key(request: FormRequest) -> tuple[str, str, str]:
    """What makes a history page request new: its URL and, for a postback, its event."""
    event = dict(request.fields or ())
    return request.url, event.get("__EVENTTARGET", ""), event.get("__EVENTARGUMENT", "")

"""Scraper policy with a scripted transport: login, session reuse, error classification."""

from __future__ import annotations

import io
from email.utils import formatdate
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
from requests.adapters import BaseAdapter

from chalicelib.errors import (
    LayoutChangedError,
    LoginFailedError,
    OsNotFoundError,
    PermanentScrapeError,
    TransientScrapeError,
)
from chalicelib.profile import DEFAULT_PROFILE_PATH, load_profile
from chalicelib.scraper import Credentials, PortalScraper, parse_retry_after

BASE = "http://portal.test"
PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "portal"


def fixture(name: str) -> bytes:
    return (PAGES / name).read_bytes()


class ScriptedAdapter(BaseAdapter):
    """Answers requests from a routing function: (method, url) -> response spec or exception."""

    def __init__(self, route: Callable[[str, str, Any], Any]) -> None:
        super().__init__()
        self.route = route
        self.requests: list[tuple[str, str]] = []

    def send(self, request, **kwargs):
        self.requests.append((request.method, request.url))
        answer = self.route(request.method, request.url, request.body)
        if isinstance(answer, Exception):
            raise answer
        status, body, headers = answer if len(answer) == 3 else (*answer, {})
        response = requests.Response()
        response.status_code = status
        response._content = body
        response._content_consumed = True
        response.raw = io.BytesIO(body)
        response.headers.update({"Content-Type": "text/html; charset=iso-8859-1", **headers})
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass


def portal_route(
    *,
    detail: Callable[[str], Any] | None = None,
    login_ok: bool = True,
    expire_after: int | None = None,
):
    """A portal: login form, login post, paginated detail pages for OS 123451."""
    state = {"served": 0, "posts": []}

    def route(method, url, body):
        if url == f"{BASE}/login" and method == "GET":
            return 200, fixture("login.html")
        if url == f"{BASE}/login":
            state["posts"].append(body)
            # A real login redirects; a refused one shows the form again with an error.
            if login_ok:
                return 302, b"", {"Location": f"{BASE}/"}
            return 200, fixture("login_failed.html")
        state["served"] += 1
        if expire_after is not None and state["served"] > expire_after:
            state["served"] = -(10**6)  # expired once; the next login makes it valid again
            return 200, fixture("login.html")
        if detail:
            answer = detail(url)
            if answer is not None:
                return answer
        if url.endswith("?pagina=2"):
            return 200, fixture("detail_page2.html")
        if url.endswith("?pagina=3"):
            return 200, fixture("detail_last_page.html")
        return 200, fixture("detail_default.html")

    return route, state


def scraper_for(route) -> tuple[PortalScraper, ScriptedAdapter]:
    session = requests.Session()
    adapter = ScriptedAdapter(route)
    session.mount("http://", adapter)
    profile = load_profile(DEFAULT_PROFILE_PATH, base_url=BASE)
    return PortalScraper(session, profile, Credentials("demo", "s3cret-pass")), adapter


def test_scrape_logs_in_once_posting_every_hidden_input_and_reads_all_pages():
    route, state = portal_route()
    scraper, _adapter = scraper_for(route)
    progress = []
    record = scraper.scrape("123451", lambda step, pct: progress.append(step))
    assert record["numero"] == "123451" and record["pages"] == 3
    assert len(record["historico"]) == 23
    posted = (
        state["posts"][0].decode() if isinstance(state["posts"][0], bytes) else state["posts"][0]
    )
    for part in ("csrf_token=fixture-token", "origem=portal", "usuario=demo", "senha=s3cret-pass"):
        assert part in posted
    assert progress == ["login", "detail", "history", "history"]


def test_session_is_reused_for_later_scrapes():
    route, _ = portal_route()
    scraper, adapter = scraper_for(route)
    scraper.scrape("123451")
    scraper.scrape("123451")
    assert scraper.logins == 1
    assert sum(1 for m, u in adapter.requests if u.endswith("/login") and m == "POST") == 1


def test_expired_session_logs_in_again_once_and_retries_the_page():
    route, _ = portal_route(expire_after=1)
    scraper, _ = scraper_for(route)
    record = scraper.scrape("123451")
    assert record["pages"] == 3 and scraper.logins == 2


def test_refused_login_is_a_login_failure_without_the_password_in_the_message():
    route, _ = portal_route(login_ok=False)
    scraper, _ = scraper_for(route)
    with pytest.raises(LoginFailedError) as info:
        scraper.scrape("123451")
    assert "s3cret-pass" not in str(info.value) and "s3cret-pass" not in repr(scraper.credentials)


@pytest.mark.parametrize(
    "answer,retry_after",
    [
        ((500, b"erro"), None),
        ((502, b"bad gateway"), None),
        ((503, b"busy", {"Retry-After": "120"}), 120.0),
        ((429, b"slow down", {"Retry-After": "7"}), 7.0),
        (requests.ConnectTimeout("connect timed out"), None),
        (requests.ReadTimeout("read timed out"), None),
        (requests.ConnectionError("refused"), None),
        (requests.exceptions.ChunkedEncodingError("cut"), None),
    ],
)
def test_transient_failures_are_classified_with_retry_after(answer, retry_after):
    route, _ = portal_route(detail=lambda url: answer)
    scraper, _ = scraper_for(route)
    with pytest.raises(TransientScrapeError) as info:
        scraper.scrape("123451")
    assert info.value.retry_after == retry_after
    assert info.value.transient


def test_other_client_errors_are_permanent():
    route, _ = portal_route(detail=lambda url: (403, b"forbidden"))
    scraper, _ = scraper_for(route)
    with pytest.raises(PermanentScrapeError) as info:
        scraper.scrape("123451")
    assert not info.value.transient


def test_not_found_page_and_drifted_layout_are_permanent():
    route, _ = portal_route(detail=lambda url: (200, fixture("not_found.html")))
    with pytest.raises(OsNotFoundError):
        scraper_for(route)[0].scrape("950000")
    route, _ = portal_route(detail=lambda url: (200, fixture("detail_drifted.html")))
    with pytest.raises(LayoutChangedError) as info:
        scraper_for(route)[0].scrape("123451")
    assert info.value.url == f"{BASE}/os/123451"


def test_a_page_that_stays_on_the_login_form_is_transient():
    route, _ = portal_route(
        detail=lambda url: (200, fixture("login.html")) if "/os/" in url else None
    )
    with pytest.raises(TransientScrapeError, match="login"):
        scraper_for(route)[0].scrape("123451")


def test_an_exhausted_time_budget_stops_before_the_next_request():
    route, _ = portal_route()
    scraper, adapter = scraper_for(route)
    with pytest.raises(TransientScrapeError, match="time budget"):
        scraper.scrape("123451", deadline=0.0)
    assert adapter.requests == []


def test_a_history_loop_is_not_followed_forever():
    route, _ = portal_route(
        detail=lambda url: (200, fixture("detail_page2.html")) if "pagina" in url else None
    )
    scraper, adapter = scraper_for(route)
    record = scraper.scrape("123451")
    # Page 3 is answered with page 2's content, whose "next" link is page 3 again: not refetched.
    assert record["pages"] == 3
    assert sum(1 for _, url in adapter.requests if url.endswith("pagina=3")) == 1


def test_retry_after_parsing():
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after(formatdate(1000.0 + 90, usegmt=True), now=1000.0) == 90.0
    assert parse_retry_after(formatdate(1000.0 - 90, usegmt=True), now=1000.0) == 0.0

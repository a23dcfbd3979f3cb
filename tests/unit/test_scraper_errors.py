"""Error classification at the scraper's boundary, through a scripted transport."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
import requests

from chalicelib.adapters.scraper import ScrapeLimits, parse_retry_after
from chalicelib.errors import (
    OffSiteError,
    PermanentScrapeError,
    ProfileError,
    ScrapeError,
    TransientScrapeError,
)


@pytest.mark.parametrize(
    "answer,retry_after",
    [
        ((500, b"erro"), None),
        ((502, b"bad gateway"), None),
        ((503, b"busy", {"Retry-After": "120"}), 120.0),
        ((503, b"busy", {"Retry-After": "soon"}), None),
        ((429, b"slow down", {"Retry-After": "7"}), 7.0),
        (requests.ConnectTimeout("connect timed out"), None),
        (requests.ReadTimeout("read timed out"), None),
        (requests.ConnectionError("refused"), None),
        (requests.exceptions.ChunkedEncodingError("cut"), None),
        (requests.exceptions.ContentDecodingError("gzip"), None),
        (requests.TooManyRedirects("loop"), None),
    ],
)
def test_transient_failures_are_classified_with_retry_after(fake_portal, answer, retry_after):
    route, _ = fake_portal.route(detail=lambda url: answer)
    scraper, _ = fake_portal.scraper(route)
    with pytest.raises(TransientScrapeError) as info:
        scraper.scrape("123451")
    assert info.value.retry_after == retry_after
    assert info.value.transient and info.value.__cause__ is None


def test_retry_after_as_an_http_date_becomes_seconds(fake_portal):
    when = formatdate(time.time() + 60, usegmt=True)
    route, _ = fake_portal.route(detail=lambda url: (503, b"", {"Retry-After": when}))
    with pytest.raises(TransientScrapeError) as info:
        fake_portal.scraper(route)[0].scrape("123451")
    assert 55 <= info.value.retry_after <= 60


def test_a_failing_login_page_is_transient_too(fake_portal):
    def route(method, url, body):
        return 503, b"", {"Retry-After": "3"}

    with pytest.raises(TransientScrapeError) as info:
        fake_portal.scraper(route)[0].scrape("123451")
    assert info.value.retry_after == 3.0


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_other_client_errors_are_permanent(fake_portal, status):
    route, _ = fake_portal.route(detail=lambda url: (status, b"no"))
    with pytest.raises(PermanentScrapeError) as info:
        fake_portal.scraper(route)[0].scrape("123451")
    assert not info.value.transient and str(status) in str(info.value)


@pytest.mark.parametrize("base_url", ["portal.test", "ftp://portal.test", "http://"])
def test_a_misconfigured_base_url_is_refused_when_the_profile_loads(fake_portal, base_url):
    # Given a base URL no request could go to; when the scraper is built, then the
    # profile is refused naming the key, before any request
    with pytest.raises(ProfileError, match="base_url"):
        fake_portal.scraper(fake_portal.route()[0], base_url=base_url)


@pytest.mark.parametrize("href", ["http://[bad", "https://portal.test:99999/x"])
def test_a_next_link_that_is_no_url_is_refused_not_a_requests_error(fake_portal, href):
    page = fake_portal.page("detail_default.html").replace(
        b'href="/os/123451?pagina=2"', f'href="{href}"'.encode()
    )
    route, _ = fake_portal.route(detail=lambda url: (200, page))
    scraper, adapter = fake_portal.scraper(route)
    with pytest.raises(OffSiteError) as info:
        scraper.scrape("123451")
    assert info.value.url == href and info.value.reason == "off_site"
    assert sum(1 for _, url in adapter.requests if "/os/" in url) == 1


def test_no_requests_exception_ever_escapes(fake_portal):
    route, _ = fake_portal.route(detail=lambda url: requests.RequestException("odd"))
    with pytest.raises(ScrapeError) as info:
        fake_portal.scraper(route)[0].scrape("123451")
    assert not isinstance(info.value, requests.RequestException)


def test_a_page_that_stays_on_the_login_form_is_transient(fake_portal):
    route, _ = fake_portal.route(
        detail=lambda url: (200, fake_portal.page("login.html")) if "/os/" in url else None
    )
    scraper, _ = fake_portal.scraper(route)
    with pytest.raises(TransientScrapeError, match="login"):
        scraper.scrape("123451")
    assert scraper.logins == 2  # logged in again exactly once


def test_an_exhausted_time_budget_stops_before_the_next_request(fake_portal):
    scraper, adapter = fake_portal.scraper(fake_portal.route()[0])
    with pytest.raises(TransientScrapeError, match="time budget"):
        scraper.scrape("123451", deadline=0.0)
    assert adapter.requests == []


def test_request_timeouts_are_shortened_to_fit_the_deadline(fake_portal):
    scraper, adapter = fake_portal.scraper(fake_portal.route()[0])
    adapter.timeout = (5.0, 30.0)  # what TimeoutHTTPAdapter would carry
    scraper.scrape("123451", deadline=time.monotonic() + 2.0)
    assert adapter.timeouts and all(c <= 2.0 and r <= 2.0 for c, r in adapter.timeouts)
    scraper.scrape("123451")
    assert adapter.timeouts[-1] == (5.0, 30.0)  # no deadline: the adapter's default applies


def test_without_a_deadline_the_request_timeout_still_bounds_every_request(fake_portal):
    # Given a request timeout shorter than the adapter's default read timeout
    scraper, adapter = fake_portal.scraper(fake_portal.route()[0])
    scraper.limits = ScrapeLimits(request_timeout_seconds=3.0)
    adapter.timeout = (5.0, 30.0)
    # When scraping with no deadline, then no socket operation may outlive the request's
    scraper.scrape("123451")
    assert adapter.timeouts and all(c <= 3.0 and r <= 3.0 for c, r in adapter.timeouts)


def test_retry_after_parsing():
    assert parse_retry_after("30") == 30.0 and parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("") is None
    assert parse_retry_after("soon") is None and parse_retry_after("-5") is None
    assert parse_retry_after(formatdate(1000.0 + 90, usegmt=True), now=1000.0) == 90.0
    assert parse_retry_after(formatdate(1000.0 - 90, usegmt=True), now=1000.0) == 0.0

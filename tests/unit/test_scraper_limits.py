"""What one request and one OS may cost: total time, page bytes (decoded, while
streaming) and history rows; through streamed urllib3 responses, no network, no sleeps."""

from __future__ import annotations

import io
import time
import zlib
from typing import Any, Callable

import pytest
import requests
import urllib3
from requests.adapters import BaseAdapter

from chalicelib.adapters.scraper import Credentials, PortalScraper, ScrapeLimits
from chalicelib.adapters.transport import READ_SIZE
from chalicelib.config import Settings
from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, load_profile
from chalicelib.errors import TooLargeError, TransientScrapeError


class Clock:
    """``time.monotonic`` that moves only when a dripping body says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Body(io.BytesIO):
    """A response body that counts what is read of it; ``drip`` returns one byte per
    read and advances the clock by ``pause`` each time."""

    def __init__(self, data: bytes, clock: Clock | None = None, pause: float = 0.0) -> None:
        super().__init__(data)
        self.clock, self.pause = clock, pause
        self.consumed = 0

    def _took(self, data: bytes) -> bytes:
        self.consumed += len(data)
        if self.clock is not None:
            self.clock.now += self.pause
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._took(super().read(1 if self.clock else size))

    def read1(self, size: int = -1) -> bytes:
        return self._took(super().read1(1 if self.clock else size))


class StreamingAdapter(BaseAdapter):
    """Answers ``route(method, url)`` -> ``(status, body, headers)`` as a streamed urllib3
    response, the way requests' HTTPAdapter builds one with ``stream=True``."""

    def __init__(self, route: Callable[[str, str], Any]) -> None:
        super().__init__()
        self.route = route
        self.requests: list[tuple[str, str]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        assert kwargs["stream"] is True
        self.requests.append((request.method or "", request.url or ""))
        status, body, headers = self.route(request.method, request.url)
        body = body if isinstance(body, Body) else Body(body)
        headers = {"Content-Type": "text/html; charset=iso-8859-1", **headers}
        raw = urllib3.HTTPResponse(
            body=body, headers=headers, status=status, preload_content=False, decode_content=True
        )
        response = requests.Response()
        response.status_code, response.raw, response.url = status, raw, request.url or ""
        response.headers.update(headers)
        response.request = request
        return response

    def close(self) -> None:
        pass


BASE = "https://portal.test"


def portal(pages: Callable[[str], Any], fake_portal) -> Callable[[str, str], Any]:
    """The scripted portal's login, then ``pages(url)`` (None: the saved pages)."""

    def route(method: str, url: str) -> Any:
        if url == f"{BASE}/login" and method == "GET":
            return 200, fake_portal.page("login.html"), {}
        if url == f"{BASE}/login":
            return 302, b"", {"Location": f"{BASE}/"}
        answer = pages(url)
        if answer is not None:
            return answer
        name = {"?pagina=2": "detail_page2.html", "?pagina=3": "detail_last_page.html"}
        page = next((n for end, n in name.items() if url.endswith(end)), "detail_default.html")
        return 200, fake_portal.page(page), {}

    return route


def scraper(route, limits: ScrapeLimits | None = None) -> tuple[PortalScraper, StreamingAdapter]:
    session = requests.Session()
    adapter = StreamingAdapter(route)
    session.mount("https://", adapter)
    profile = load_profile(DEFAULT_PROFILE_PATH, base_url=BASE)
    return PortalScraper(session, profile, Credentials("demo", "pw"), limits=limits), adapter


# --------------------------------------------------------------------- limits
def test_the_limits_default_to_the_settings_defaults():
    s = Settings()
    assert ScrapeLimits() == ScrapeLimits(
        request_timeout_seconds=s.portal_request_timeout_seconds,
        max_page_bytes=s.max_page_bytes,
        max_history_rows=s.max_history_rows,
    )


@pytest.mark.parametrize(
    "values", [{"request_timeout_seconds": 0}, {"max_page_bytes": 0}, {"max_history_rows": -1}]
)
def test_limits_must_be_positive(values):
    with pytest.raises(ValueError):
        ScrapeLimits(**values)


def test_a_streamed_scrape_reads_every_page_whole(fake_portal):
    s, adapter = scraper(portal(lambda url: None, fake_portal))
    record = s.scrape("123451")
    assert record["pages"] == 3 and len(record["historico"]) == 23
    # login form, login post, its redirect to "/", then the three pages; each streamed
    assert len(adapter.requests) == 6


# ---------------------------------------------------------------------- time
def test_a_dripping_page_ends_at_the_attempts_deadline_not_when_the_portal_is_done(
    fake_portal, monkeypatch
):
    # Given a detail page sent one byte per 100 ms (each read well within any read timeout)
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock)
    dripping = Body(fake_portal.page("detail_default.html"), clock, pause=0.1)
    s, _ = scraper(portal(lambda url: (200, dripping, {}), fake_portal))
    # When the attempt has 1.5 s left
    with pytest.raises(TransientScrapeError, match="portal too slow") as info:
        s.scrape("123451", deadline=clock.now + 1.5)
    # Then reading stopped as the deadline passed: 15 bytes of a page of thousands
    assert info.value.transient
    assert dripping.consumed <= 16 and clock.now <= 1_000.0 + 1.6


def test_a_dripping_page_ends_at_the_request_timeout_without_a_deadline(fake_portal, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock)
    dripping = Body(fake_portal.page("detail_default.html"), clock, pause=0.1)
    s, _ = scraper(
        portal(lambda url: (200, dripping, {}), fake_portal),
        ScrapeLimits(request_timeout_seconds=2.0),
    )
    with pytest.raises(TransientScrapeError, match="RASPA_PORTAL_REQUEST_TIMEOUT_SECONDS"):
        s.scrape("123451")
    assert dripping.consumed <= 21


# ---------------------------------------------------------------------- size
def test_a_page_over_the_cap_stops_being_read_at_the_cap(fake_portal):
    # Given a 10 MB page without Content-Length (chunked or read until the end)
    big = Body(b"<html>" + b"x" * 10_000_000)
    s, _ = scraper(
        portal(lambda url: (200, big, {}), fake_portal), ScrapeLimits(max_page_bytes=50_000)
    )
    with pytest.raises(TooLargeError) as info:
        s.scrape("123451")
    # Then it fails as too large after reading just past the cap, not the rest
    assert (info.value.what, info.value.limit, info.value.setting) == (
        "page",
        50_000,
        "RASPA_MAX_PAGE_BYTES",
    )
    assert info.value.reason == "too_large" and not info.value.transient
    assert 50_000 < info.value.size <= 50_000 + READ_SIZE
    assert big.consumed <= 50_000 + READ_SIZE


def test_a_declared_length_over_the_cap_is_refused_before_reading(fake_portal):
    big = Body(b"x" * 100_000)
    route = portal(lambda url: (200, big, {"Content-Length": "100000"}), fake_portal)
    s, _ = scraper(route, ScrapeLimits(max_page_bytes=50_000))
    with pytest.raises(TooLargeError) as info:
        s.scrape("123451")
    assert info.value.size == 100_000 and big.consumed == 0


def gzipped_zeros(megabytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    zeros = bytes(1_000_000)
    return b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()


def test_a_gzip_bomb_is_capped_at_its_decoded_size(fake_portal):
    # Given 200 MB of zeros gzipped into 200 KB (its Content-Length is small)
    packed = gzipped_zeros(200)
    assert packed[:2] == b"\x1f\x8b" and len(packed) < 300_000  # gzip, and small
    bomb = Body(packed)
    headers = {"Content-Encoding": "gzip", "Content-Length": str(len(packed))}
    s, _ = scraper(
        portal(lambda url: (200, bomb, headers), fake_portal), ScrapeLimits(max_page_bytes=100_000)
    )
    # When scraping, then the decoded bytes hit the cap and the rest is never inflated
    with pytest.raises(TooLargeError) as info:
        s.scrape("123451")
    assert 100_000 < info.value.size <= 100_000 + READ_SIZE
    assert bomb.consumed <= 2 * READ_SIZE < len(packed) // 5


def test_history_over_the_row_cap_fails_before_the_next_page_is_fetched(fake_portal):
    # Given OS 123451's 23 rows over 3 pages of 10, and a cap of 15 rows
    s, adapter = scraper(portal(lambda url: None, fake_portal), ScrapeLimits(max_history_rows=15))
    with pytest.raises(TooLargeError) as info:
        s.scrape("123451")
    # Then it fails on page 2 (20 rows) and page 3 is never asked for
    assert (info.value.what, info.value.size, info.value.limit, info.value.setting) == (
        "history rows",
        20,
        15,
        "RASPA_MAX_HISTORY_ROWS",
    )
    assert not any(url.endswith("pagina=3") for _, url in adapter.requests)


def test_history_exactly_at_the_row_cap_is_accepted(fake_portal):
    s, _ = scraper(portal(lambda url: None, fake_portal), ScrapeLimits(max_history_rows=23))
    assert len(s.scrape("123451")["historico"]) == 23

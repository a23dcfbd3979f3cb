"""The scraper against a hostile portal on loopback: links and redirects off its origin
(a second server counts what reaches it), answers dripped a byte at a time, pages of
10 MB. Each test is an attack a hostile-user review made work."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Callable, Iterator

import pytest

from chalicelib.adapters.scraper import Credentials, PortalScraper, ScrapeLimits
from chalicelib.adapters.transport import READ_SIZE, OffOriginError, build_session
from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, load_profile
from chalicelib.errors import OffSiteError, TooLargeError, TransientScrapeError
from local.portal import OffsiteServer, control

pytestmark = pytest.mark.integration
PASSWORD = "demo-password"


def make_scraper(
    base_url: str, limits: ScrapeLimits | None = None, *, read_timeout: float = 2
) -> PortalScraper:
    """As ``Services.new_portal_scraper`` builds it: a one-origin session with a read timeout."""
    profile = load_profile(DEFAULT_PROFILE_PATH, base_url=base_url)
    session = build_session(connect_timeout=1, read_timeout=read_timeout, origin=profile.base_url)
    return PortalScraper(session, profile, Credentials("demo", PASSWORD), limits=limits)


@pytest.fixture
def offsite() -> Iterator[OffsiteServer]:
    with OffsiteServer(PASSWORD) as server:
        yield server


class RawServer:
    """A loopback server that answers each connection with ``answer(conn)`` (bytes on the
    socket, however slowly), for what the demo portal does not misbehave at."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stopping = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the client hung up: that is the point
            conn.recv(65536)  # the request
            self.answer(conn)

    def drip(self, conn: socket.socket, data: bytes, pause: float = 0.1) -> None:
        for i in range(len(data)):
            if self.stopping.wait(pause):
                return
            conn.sendall(data[i : i + 1])

    def stop(self) -> None:
        self.stopping.set()
        self.listener.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    started: list[RawServer] = []

    def start(answer: Callable[[socket.socket], None]) -> RawServer:
        started.append(RawServer(answer))
        return started[-1]

    yield start
    for server in started:
        server.stop()


# ------------------------------------------------------------------ off-site
@pytest.mark.parametrize(
    "mode,what",
    [
        ("login_action", "login form action"),
        ("redirect_307", "redirect"),
        ("next_link", "next page link"),
    ],
)
def test_an_off_site_link_or_redirect_sends_nothing_to_the_other_server(
    portal, offsite, mode, what
):
    # Given the portal pointing its login action, a 307 or its next link off-site
    control.faults(portal.url, offsite=mode, offsite_url=f"{offsite.url}/steal")
    # When an OS is scraped, then it fails as off_site naming the refused URL
    with pytest.raises(OffSiteError) as info:
        make_scraper(portal.url).scrape("123451")
    assert info.value.url == f"{offsite.url}/steal" and info.value.field == what
    assert info.value.reason == "off_site" and not info.value.transient
    # And the other server got no connection at all, let alone the password
    assert offsite.stats() == {"connections": 0, "requests": 0, "secret_seen": 0, "paths": []}


def test_the_session_refuses_a_307_off_site_even_when_requests_follows_it(portal, offsite):
    # Given the 307 hostile mode and the scraper's session used directly, redirects on
    control.faults(portal.url, offsite="redirect_307", offsite_url=f"{offsite.url}/steal")
    session = make_scraper(portal.url).session
    form = {"usuario": "demo", "senha": PASSWORD}
    # When requests re-posts the form to the Location, then the adapter refuses it
    with pytest.raises(OffOriginError):
        session.post(f"{portal.url}/login", data=form, allow_redirects=True, timeout=5)
    assert offsite.stats()["connections"] == 0 and offsite.stats()["secret_seen"] == 0
    assert control.stats(portal.url)["by_status"] == {"307": 1}


# ---------------------------------------------------------------------- time
def test_a_dripping_portal_is_cut_at_the_attempts_deadline(portal):
    # Given a portal sending its pages one byte every 100 ms (each read within 2 s)
    control.faults(portal.url, drip_ms=100)
    budget = 1.5
    started = time.monotonic()
    # When the attempt has 1.5 s
    with pytest.raises(TransientScrapeError, match="portal too slow"):
        make_scraper(portal.url).scrape("123451", deadline=started + budget)
    # Then it ends when the budget does, not when the portal is done (minutes later)
    assert time.monotonic() - started < budget + 1


def test_a_dripping_portal_is_cut_at_the_request_timeout_without_a_deadline(portal):
    control.faults(portal.url, drip_ms=100, drip_bytes=3)
    started = time.monotonic()
    scraper = make_scraper(portal.url, ScrapeLimits(request_timeout_seconds=1.0))
    with pytest.raises(TransientScrapeError, match="REQUEST_TIMEOUT"):
        scraper.scrape("123451")
    assert time.monotonic() - started < 1.0 + 1


def test_a_portal_dripping_its_status_line_and_headers_is_cut_too(raw_server):
    # Given a server that answers one byte of status line and headers every 100 ms
    def headers_forever(conn: socket.socket) -> None:
        server.drip(conn, b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 10_000)

    server = raw_server(headers_forever)
    started = time.monotonic()
    with pytest.raises(TransientScrapeError, match="portal too slow"):
        make_scraper(server.url).scrape("123451", deadline=started + 1.0)
    assert time.monotonic() - started < 1.0 + 1


# ---------------------------------------------------------------------- size
def test_a_10_mb_page_is_too_large_and_not_read(portal):
    # Given an OS whose 75,000 history rows are on one page of about 10 MB (the portal takes
    # a while to render it on a busy machine: only its size may fail this scrape)
    control.faults(portal.url, history_rows=75_000)
    started = time.monotonic()
    with pytest.raises(TooLargeError) as info:
        make_scraper(portal.url, read_timeout=10).scrape("123451")
    # Then the page is refused by its size (the default cap, 2 MB), permanently
    assert (info.value.what, info.value.setting) == ("page", "RASPA_MAX_PAGE_BYTES")
    assert info.value.size > 10_000_000 and info.value.limit == 2 * 1024 * 1024
    assert info.value.reason == "too_large" and not info.value.transient
    assert time.monotonic() - started < 20


def test_an_endless_chunked_body_stops_being_read_at_the_cap(raw_server):
    # Given a server streaming a chunked body that never ends (no length to refuse early)
    sent = []

    def endless(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"<p>" + b"x" * 8_189
        while len(sent) < 10_000:  # 80 MB at most
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent.append(len(chunk))

    server = raw_server(endless)
    scraper = make_scraper(server.url, ScrapeLimits(max_page_bytes=100_000))
    with pytest.raises(TooLargeError) as info:
        scraper.scrape("123451")
    # Then reading stopped one read past the cap
    assert 100_000 < info.value.size <= 100_000 + READ_SIZE


def test_more_history_rows_than_the_cap_are_too_large(portal):
    control.faults(portal.url, history_rows=300)
    scraper = make_scraper(portal.url, ScrapeLimits(max_history_rows=100))
    with pytest.raises(TooLargeError) as info:
        scraper.scrape("123451")
    assert (info.value.what, info.value.size, info.value.limit) == ("history rows", 300, 100)


def test_history_rows_mode_serves_every_row_on_one_page(portal):
    control.faults(portal.url, history_rows=120)
    record = make_scraper(portal.url).scrape("123451")
    assert record["pages"] == 1 and len(record["historico"]) == 120

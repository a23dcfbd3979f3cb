"""The scraper's transport: default timeouts, no urllib3 retries, one origin, a deadline
that cuts blocked reads, and bounded body reads (no network: socketpairs and fakes)."""

from __future__ import annotations

import gzip
import io
import socket
import time

import pytest
import requests
import urllib3
from requests.adapters import HTTPAdapter

from chalicelib.adapters.transport import (
    READ_SIZE,
    BodyTooLargeError,
    OffOriginError,
    TimeoutHTTPAdapter,
    build_session,
    deadline,
    read_body,
    watch_socket,
)


def test_session_mounts_a_timeout_adapter_without_retries():
    session = build_session(connect_timeout=2, read_timeout=7)
    for prefix in ("http://", "https://"):
        adapter = session.get_adapter(prefix + "portal.example")
        assert isinstance(adapter, TimeoutHTTPAdapter)
        assert adapter.timeout == (2, 7)
        assert adapter.max_retries.total == 0


def test_session_sends_the_user_agent_and_sizes_the_pool():
    session = build_session(connect_timeout=1, read_timeout=1, pool_size=8, user_agent="x/2")
    assert session.headers["User-Agent"] == "x/2"
    assert session.get_adapter("http://portal.example")._pool_maxsize == 8


def test_adapter_applies_the_default_timeout_only_when_none_is_given(monkeypatch):
    seen = []
    adapter = TimeoutHTTPAdapter((1, 2))
    monkeypatch.setattr(
        "requests.adapters.HTTPAdapter.send", lambda self, request, **kw: seen.append(kw["timeout"])
    )
    adapter.send(object(), timeout=None)
    adapter.send(object(), timeout=9)
    assert seen == [(1, 2), 9]


# ------------------------------------------------------------------ one origin
@pytest.fixture
def sent(monkeypatch) -> list[str]:
    """What reaches HTTPAdapter.send (the wire), answered by ``answers`` in order."""
    urls: list[str] = []

    def send(self, request, **kwargs):
        urls.append(request.url)
        response = requests.Response()
        response.status_code, response.url, response.request = 200, request.url, request
        response._content = b"ok"
        if request.url.endswith("/login"):  # a 307 sends the client elsewhere, re-posting
            response.status_code = 307
            response.headers["Location"] = "https://evil.test/steal"
        return response

    monkeypatch.setattr(HTTPAdapter, "send", send)
    return urls


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.test/login",
        "http://portal.test/login",  # same host, plain http
        "https://portal.test:8443/login",
        "https://sub.portal.test/login",
        "https://portal.test.evil.test/login",
    ],
)
def test_the_adapter_refuses_another_origin_before_sending(sent, url):
    session = build_session(connect_timeout=1, read_timeout=1, origin="https://portal.test")
    with pytest.raises(OffOriginError) as info:
        session.get(url)
    assert info.value.url == url and sent == []


def test_the_adapter_lets_the_origin_through_default_port_spelled_or_not(sent):
    session = build_session(connect_timeout=1, read_timeout=1, origin="https://Portal.test")
    session.get("https://portal.test/os/1")
    session.get("https://portal.test:443/os/2")
    assert sent == ["https://portal.test/os/1", "https://portal.test:443/os/2"]


def test_a_307_that_requests_follows_by_itself_is_refused_before_the_credentials_leave(sent):
    # Given a session for the portal, and a login post the portal answers 307 off-site
    session = build_session(connect_timeout=1, read_timeout=1, origin="https://portal.test")
    # When requests follows the redirect itself, then the adapter refuses the second hop
    with pytest.raises(OffOriginError) as info:
        session.post("https://portal.test/login", data={"senha": "s3cret"}, allow_redirects=True)
    assert info.value.url == "https://evil.test/steal"
    assert sent == ["https://portal.test/login"]


def test_an_adapter_without_origin_sends_anywhere(sent):
    session = build_session(connect_timeout=1, read_timeout=1)
    session.get("https://anywhere.test/")
    assert sent == ["https://anywhere.test/"]


def test_an_origin_that_is_no_http_url_is_refused():
    with pytest.raises(ValueError):
        TimeoutHTTPAdapter((1, 1), origin="ftp://portal.test")


# ------------------------------------------------------------------- deadline
@pytest.fixture
def pair():
    """Two connected sockets (a socketpair: no network); reads give up after 10 s, so a
    guard that failed fails the test instead of hanging it."""
    ours, theirs = socket.socketpair()
    ours.settimeout(10)
    yield ours, theirs
    ours.close()
    theirs.close()


def test_a_read_blocked_past_the_deadline_is_cut_there(pair):
    # Given a socket whose peer sends nothing
    ours, _ = pair  # if the guard failed, the test fails with a timeout, not a hang
    started = time.monotonic()
    # When it is read under a deadline 0.3 s away
    with deadline(started + 0.3) as guard:
        watch_socket(ours)
        data = ours.recv(1)
    # Then the read returns (end of stream) about when the deadline passed
    assert data == b"" and guard.expired
    assert time.monotonic() - started < 2


def test_a_closed_guard_never_cuts_the_socket_again(pair):
    ours, theirs = pair
    with deadline(time.monotonic() + 60) as guard:
        watch_socket(ours)
    guard.expire()  # what its timer would do, too late
    theirs.sendall(b"k")
    assert ours.recv(1) == b"k" and not guard.expired


def test_a_socket_watched_after_the_deadline_is_cut_at_once(pair):
    ours, _ = pair
    with deadline(time.monotonic() + 60) as guard:
        guard.expire()
        watch_socket(ours)
        assert ours.recv(1) == b""


def test_without_a_deadline_nothing_is_watched(pair):
    ours, theirs = pair
    with deadline(None) as guard:
        watch_socket(ours)
    theirs.sendall(b"k")
    assert guard is None and ours.recv(1) == b"k"


# ----------------------------------------------------------------------- body
def streamed(data: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.headers.update(headers or {})
    response.raw = urllib3.HTTPResponse(
        body=io.BytesIO(data), headers=headers, preload_content=False, decode_content=True
    )
    return response


def test_read_body_returns_the_whole_body_within_the_limits():
    body = b"<p>" + "ção".encode("latin-1") * 10_000
    assert read_body(streamed(body), deadline=time.monotonic() + 5, max_bytes=len(body)) == body


def test_read_body_stops_one_read_past_the_cap():
    with pytest.raises(BodyTooLargeError) as info:
        read_body(streamed(b"x" * 1_000_000), deadline=time.monotonic() + 5, max_bytes=10_000)
    assert 10_000 < info.value.size <= 10_000 + READ_SIZE and info.value.limit == 10_000


def test_read_body_counts_decoded_bytes():
    packed = gzip.compress(b"a" * 50_000)
    response = streamed(packed, {"Content-Encoding": "gzip"})
    with pytest.raises(BodyTooLargeError):
        read_body(response, deadline=time.monotonic() + 5, max_bytes=len(packed) * 2)


def test_read_body_past_its_deadline_is_a_timeout_of_requests():
    with pytest.raises(requests.Timeout):
        read_body(streamed(b"late"), deadline=time.monotonic() - 1, max_bytes=100)


def test_a_cut_or_broken_body_becomes_a_requests_error():
    # A declared length the body never reaches: urllib3's IncompleteRead
    response = streamed(b"short", {"Content-Length": "100"})
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        read_body(response, deadline=time.monotonic() + 5, max_bytes=1_000)

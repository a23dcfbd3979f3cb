"""What every family portal shares: the threading HTTP server, its state and counters, the
control endpoints and the request/response plumbing of a family's request handler.

A family is a ``FamilyHandler`` subclass: its ``portal()`` answers one request from
``self.method``, ``self.url_path``, ``self.query``, ``self.form`` (the body, percent-decoded
in the family's encoding, as a browser posts in the page's charset) and ``self.cookies``.
Control endpoints (JSON, never counted): ``GET /_stats``, ``POST /_expire`` (drops every
session) and ``POST /_reset`` (sessions, issued form state and counters).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections import Counter, OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

__all__ = ["FamilyHandler", "FamilyServer", "State"]

#: How many issued form states (view states) a portal remembers.
MAX_TOKENS = 20_000


class State:
    """Sessions, issued form state and counters, guarded by one lock."""

    def __init__(self, username: str, password: str, options: dict[str, str]) -> None:
        self.username, self.password, self.options = username, password, options
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            #: session id → {"user": name or None, ...family data}
            self.sessions: dict[str, dict[str, Any]] = {}
            #: issued form state (a view state) → what the page it was issued with allows
            self.tokens: OrderedDict[str, dict[str, Any]] = OrderedDict()
            self.requests = 0
            self.logins = 0
            self.postbacks = 0
            self.by_path: Counter[str] = Counter()

    def expire_sessions(self) -> int:
        with self.lock:
            count = len(self.sessions)
            self.sessions.clear()
            return count

    def remember(self, token: str, info: dict[str, Any]) -> None:
        with self.lock:
            self.tokens[token] = info
            while len(self.tokens) > MAX_TOKENS:
                self.tokens.popitem(last=False)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "logins": self.logins,
                "by_path": dict(self.by_path),
                "postbacks": self.postbacks,
                "sessions": sum(1 for s in self.sessions.values() if s.get("user")),
            }


class FamilyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: State

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class FamilyHandler(BaseHTTPRequestHandler):
    """One request of a family portal (HTTP/1.1 keep-alive, Content-Length always sent)."""

    server: FamilyServer
    protocol_version = "HTTP/1.1"
    wbufsize = -1
    disable_nagle_algorithm = True
    #: The pages' encoding and Content-Type; headers every answer carries.
    ENCODING: ClassVar[str] = "utf-8"
    CONTENT_TYPE: ClassVar[str] = "text/html; charset=utf-8"
    HEADERS: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: option → allowed values (the first is the default).
    OPTIONS: ClassVar[dict[str, tuple[str, ...]]] = {}

    method = url_path = raw_query = ""
    query: dict[str, str]
    form: dict[str, str]
    cookies: dict[str, str]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    @property
    def state(self) -> State:
        return self.server.state

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path in ("/_stats", "/_expire", "/_reset"):
            self._control(method, url.path)
            return
        self.method, self.url_path, self.raw_query = method, url.path, url.query
        self.query = dict(parse_qsl(url.query, keep_blank_values=True))
        self.form = _decode_form(body, self.ENCODING)
        self.cookies = {}
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name:
                self.cookies.setdefault(name, value)
        with self.state.lock:
            self.state.requests += 1
            self.state.by_path[url.path] += 1
        self.portal()

    def portal(self) -> None:
        """Answer the request (a family overrides it)."""
        raise NotImplementedError

    def _control(self, method: str, path: str) -> None:
        state = self.state
        if path == "/_stats" and method == "GET":
            self.send_json(200, state.stats())
        elif path == "/_expire" and method == "POST":
            self.send_json(200, {"expired": state.expire_sessions()})
        elif path == "/_reset" and method == "POST":
            state.reset()
            self.send_json(200, {"reset": True})
        else:
            self.send_json(405, {"error": "method_not_allowed"})

    # ------------------------------------------------------------- helpers
    def session(self, cookie: str) -> dict[str, Any] | None:
        """The session the cookie ``cookie`` names, if it still exists."""
        with self.state.lock:
            return self.state.sessions.get(self.cookies.get(cookie, ""))

    def credentials_ok(self, username: str | None, password: str | None) -> bool:
        return username == self.state.username and password == self.state.password

    # ------------------------------------------------------------- writing
    def send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.send_response(status)
        for key, value in self.HEADERS:
            self.send_header(key, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers or []:
            self.send_header(key, value)
        self._headers_buffer.append(b"\r\n")  # type: ignore[attr-defined]
        data = b"".join(self._headers_buffer) + body  # type: ignore[attr-defined]
        self._headers_buffer = []  # type: ignore[attr-defined]
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)
            self.wfile.flush()

    def send_html(
        self, status: int, html: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        body = html.encode(self.ENCODING, errors="xmlcharrefreplace")
        self.send(status, body, self.CONTENT_TYPE, headers)

    def send_json(self, status: int, payload: Any) -> None:
        self.send(status, json.dumps(payload).encode(), "application/json")


def _decode_form(body: bytes, encoding: str) -> dict[str, str]:
    """An urlencoded body, its %XX escapes read in ``encoding``; the first of repeated names."""
    if not body:
        return {}
    pairs = parse_qsl(
        body.decode("latin-1"), keep_blank_values=True, encoding=encoding, errors="replace"
    )
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form

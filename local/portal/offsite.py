"""A portal look-alike on another origin, for the demo portal's hostile modes to point at:
it counts every connection and request it gets and whether any carried a secret (the
portal's password, raw or URL-encoded, in the request line, a header or the body).

Whatever it is asked, it answers a login page like the portal's, so a client that was
lured there sees nothing odd. ``stats()`` (in process) gives ``connections``,
``requests``, ``secret_seen`` (requests carrying the secret) and ``paths``.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, quote_plus

from local.portal import templates

__all__ = ["OffsiteServer"]


class _Counts:
    def __init__(self, secret: str) -> None:
        self.lock = threading.Lock()
        self.marks = {m.encode() for m in (secret, quote(secret), quote_plus(secret)) if m}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.connections = 0
            self.requests = 0
            self.secret_seen = 0
            self.paths: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_POST

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = self.requestline.encode("latin-1", "replace") + bytes(self.headers) + body
        counts = self.server.counts
        with counts.lock:
            counts.requests += 1
            counts.paths.append(f"{self.command} {self.path}")
            if any(mark in seen for mark in counts.marks):
                counts.secret_seen += 1
        page = templates.login_page("offsite", "/").encode("iso-8859-1", "xmlcharrefreplace")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=iso-8859-1")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    counts: _Counts

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.counts.lock:
            self.counts.connections += 1  # even one that never sends a request
        super().process_request(request, client_address)


class OffsiteServer:
    """The look-alike on ``host:port`` (0 picks a free port), from a background thread."""

    def __init__(self, secret: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self._counts = _Counts(secret)
        self._server = _Server((host, port), _Handler)
        self._server.counts = self._counts
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> OffsiteServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="offsite", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def stats(self) -> dict[str, Any]:
        c = self._counts
        with c.lock:
            return {
                "connections": c.connections,
                "requests": c.requests,
                "secret_seen": c.secret_seen,
                "paths": list(c.paths),
            }

    def reset(self) -> None:
        self._counts.reset()

    def __enter__(self) -> OffsiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

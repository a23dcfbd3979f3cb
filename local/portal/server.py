"""The demo portal's HTTP server (stdlib only), with fault injection and request statistics.

Portal pages (HTML, Latin-1): ``GET|POST /login`` (form with a single-use CSRF token and a
hidden ``origem``; success: 302 to ``next`` with an HttpOnly ``PORTALSESSID`` cookie;
failure: the form again with ``div.erro``), ``/`` and ``/os/{numero}[?pagina=k]`` (OS
100000–899999 exist, any other number answers 200 with ``p.aviso``). Without a valid
session they redirect to ``/login?next=...``. Default login: ``demo`` / ``demo-password``.

Control endpoints (JSON, no session, never faulted nor counted):

* ``POST /_faults`` replaces the whole fault configuration (keys left out take their
  defaults; unknown keys or bad values: 400): ``latency_ms``, ``error_rate`` (500),
  ``unavailable_rate`` (503 with ``Retry-After: retry_after_s``), ``hang_rate`` (sleep
  ``hang_ms``), ``session_ttl_requests``, ``layout`` ("default" | "drifted"), ``seed``;
  and the hostile modes, all off by default:

  * ``offsite`` with ``offsite_url`` (an absolute http(s) URL, e.g. ``OffsiteServer``'s):
    "login_action" (the login form posts there), "redirect_307" (every ``POST /login``
    answers 307 to it, which a client that follows it re-posts the credentials to) or
    "next_link" (every detail page's "próxima" link points there);
  * ``drip_ms`` with ``drip_bytes`` (1): every portal page's body is sent that many bytes
    at a time, that many ms apart (headers at once), until done or the client hangs up;
  * ``history_rows``: every OS has that many history rows, all on one page (about 140
    bytes each: 75,000 make a 10 MB page).

  ``GET /_faults`` returns it.
* ``GET /_stats``: ``requests``, ``logins``, ``by_kind`` (login/detail/history/other),
  ``by_status``, ``concurrent``, ``peak_concurrent`` (every request being handled, sleeps
  included), ``open``, ``peak_open`` (requests whose client still waits: one that hung up
  during a latency or hang sleep, a client's timeout, stops counting then, though the
  portal keeps sleeping) and ``abandoned`` (requests whose client hung up during a sleep).
* ``POST /_reset`` clears faults, statistics, sessions and CSRF tokens.

Longer than 400 lines: one request handler serves every page, fault and hostile mode of
the demo portal, which share its session, counters and fault configuration.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import select
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from local.portal import templates
from local.portal.data import HISTORY_PAGE_SIZE, history_pages, record_for

__all__ = ["Faults", "PortalServer"]

ENCODING = "iso-8859-1"
COOKIE = "PORTALSESSID"
#: How often a sleeping request looks whether its client hung up.
_SLICE_SECONDS = 0.05
OFFSITE_MODES = ("", "login_action", "redirect_307", "next_link")
MAX_HISTORY_ROWS = 200_000


@dataclass
class Faults:
    """What the portal does wrong, set through ``POST /_faults``."""

    latency_ms: float = 0
    error_rate: float = 0
    unavailable_rate: float = 0
    retry_after_s: int = 1
    hang_rate: float = 0
    hang_ms: float = 30_000
    session_ttl_requests: int = 0
    layout: str = "default"
    seed: int | None = None
    offsite: str = ""
    offsite_url: str = ""
    drip_ms: float = 0
    drip_bytes: int = 1
    history_rows: int = 0

    @classmethod
    def parse(cls, payload: Any) -> Faults:
        """Validate a JSON body; raises ValueError naming the bad key."""
        if not isinstance(payload, dict):
            raise ValueError("body must be a JSON object")
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in payload.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}")
            if key == "layout":
                if value not in ("default", "drifted"):
                    raise ValueError("layout must be 'default' or 'drifted'")
            elif key == "offsite":
                if value not in OFFSITE_MODES:
                    raise ValueError(
                        f"offsite must be one of {', '.join(map(repr, OFFSITE_MODES))}"
                    )
            elif key == "offsite_url":
                if not isinstance(value, str) or (
                    value and not value.startswith(("http://", "https://"))
                ):
                    raise ValueError("offsite_url must be an absolute http(s) URL")
            elif key in ("drip_bytes", "history_rows"):
                least = 1 if key == "drip_bytes" else 0
                if not _is_int(value) or not least <= value <= MAX_HISTORY_ROWS:
                    raise ValueError(f"{key} must be an integer from {least} to {MAX_HISTORY_ROWS}")
            elif key == "seed":
                if value is not None and not _is_int(value):
                    raise ValueError("seed must be an integer")
            elif key in ("retry_after_s", "session_ttl_requests"):
                if not _is_int(value) or value < 0:
                    raise ValueError(f"{key} must be a non-negative integer")
            elif not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} must be a non-negative number")
            elif key.endswith("_rate") and value > 1:
                raise ValueError(f"{key} must be between 0 and 1")
            values[key] = value
        if values.get("offsite") and not values.get("offsite_url"):
            raise ValueError("offsite needs offsite_url")
        return cls(**values)

    def offsite_for(self, mode: str) -> str | None:
        """Where the link of ``mode`` points, if that hostile mode is on."""
        return self.offsite_url if self.offsite == mode else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _State:
    """Everything the portal remembers, guarded by one lock."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.faults = Faults()
            self.rng = random.Random()
            self.sessions: dict[str, int] = {}
            self.csrf: set[str] = set()
            self.requests = 0
            self.logins = 0
            self.by_kind: Counter[str] = Counter()
            self.by_status: Counter[str] = Counter()
            self.concurrent = 0
            self.peak = 0
            self.open = 0
            self.peak_open = 0
            self.abandoned = 0

    def set_faults(self, faults: Faults) -> None:
        with self.lock:
            self.faults = faults
            self.rng = random.Random(faults.seed)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "logins": self.logins,
                "by_kind": {
                    k: self.by_kind.get(k, 0) for k in ("login", "detail", "history", "other")
                },
                "by_status": dict(self.by_status),
                "concurrent": self.concurrent,
                "peak_concurrent": self.peak,
                "open": self.open,
                "peak_open": self.peak_open,
                "abandoned": self.abandoned,
            }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write; with Nagle on, keep-alive clients wait 40 ms each.
    wbufsize = -1
    disable_nagle_algorithm = True
    #: Whether the client of the request being handled still waits for its answer.
    _waiting = False
    _counted = False
    #: The faults of the portal request being handled (None for control endpoints).
    _faults: Faults | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # ------------------------------------------------------------ dispatch
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        self._faults = None
        if url.path.startswith("/_"):
            self._control(method, url.path, body)
            return
        state = self.server.state
        kind = _kind(url.path, url.query)
        with state.lock:
            state.requests += 1
            state.by_kind[kind] += 1
            state.concurrent += 1
            state.peak = max(state.peak, state.concurrent)
            state.open += 1
            state.peak_open = max(state.peak_open, state.open)
            faults = state.faults
            roll = state.rng.random()
        self._faults = faults
        self._waiting = True  # the client waits for this answer
        self._counted = False  # its status is in by_status
        status = 0  # stays 0 if the handler fails before answering
        try:
            status = self._portal(method, url.path, url.query, body, faults, roll)
        finally:
            with state.lock:
                state.concurrent -= 1
                if not self._counted:
                    state.by_status[str(status)] += 1
                if self._waiting:
                    state.open -= 1

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # ------------------------------------------------------------- portal
    def _portal(
        self, method: str, path: str, query: str, body: bytes, faults: Faults, roll: float
    ) -> int:
        if faults.latency_ms:
            self._sleep(faults.latency_ms / 1000)
        if roll < faults.hang_rate:
            self._sleep(faults.hang_ms / 1000)
            return self._html(200, templates.home_page())
        roll -= faults.hang_rate
        if roll < faults.error_rate:
            return self._html(500, "<h1>Erro interno do servidor</h1>")
        roll -= faults.error_rate
        if roll < faults.unavailable_rate:
            return self._html(
                503, "<h1>Serviço indisponível</h1>", {"Retry-After": str(faults.retry_after_s)}
            )
        if path == "/login":
            return self._login(method, query, body, faults)
        session = self._session(faults)
        if session is None:
            target = path + (f"?{query}" if query else "")
            return self._redirect(f"/login?next={quote(target, safe='')}")
        if path == "/" and method == "GET":
            return self._html(200, templates.home_page())
        if path.startswith("/os/") and method == "GET":
            return self._detail(unquote(path[len("/os/") :]), query, faults)
        return self._html(404, "<h1>Página não encontrada</h1>")

    def _sleep(self, seconds: float) -> None:
        """Sleep like a slow portal: to the end even if the client hangs up (it then stops
        counting as open), or until the portal stops."""
        state = self.server.state
        deadline = time.monotonic() + seconds
        while not state.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._wait_or_hang_up(min(left, _SLICE_SECONDS))
            if self._waiting and self._client_gone():
                with state.lock:
                    self._waiting = False
                    state.open -= 1
                    state.abandoned += 1

    def _wait_or_hang_up(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the waiting client hangs up meanwhile: its socket
        turns readable at once, so it stops counting as open without a polling lag."""
        if not self._waiting:
            self.server.state.stopping.wait(seconds)
            return
        try:
            readable, _, _ = select.select([self.connection], [], [], seconds)
        except (OSError, ValueError):
            return
        if readable and not self._client_gone():
            self.server.state.stopping.wait(seconds)  # data, not a hang-up: wait it out

    def _client_gone(self) -> bool:
        """Whether the client closed its end (end of stream where no request is due)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _session(self, faults: Faults) -> str | None:
        cookie = SimpleCookie(self.headers.get("Cookie") or "")
        if COOKIE not in cookie:
            return None
        sid = cookie[COOKIE].value
        state = self.server.state
        with state.lock:
            if sid not in state.sessions:
                return None
            state.sessions[sid] += 1
            if faults.session_ttl_requests and state.sessions[sid] > faults.session_ttl_requests:
                del state.sessions[sid]
                return None
        return sid

    def _login(self, method: str, query: str, body: bytes, faults: Faults) -> int:
        state = self.server.state
        action = faults.offsite_for("login_action") or "/login"
        if method == "GET":
            next_url = parse_qs(query).get("next", ["/"])[0]
            return self._html(200, templates.login_page(self._new_csrf(), next_url, None, action))
        elsewhere = faults.offsite_for("redirect_307")
        if elsewhere:
            return self._send(307, b"", "text/html", {"Location": elsewhere})
        # The form comes in the page's charset, as browsers send it (%E7 for "ç").
        posted = parse_qs(body.decode(ENCODING), encoding=ENCODING)
        form = {k: v[0] for k, v in posted.items()}
        next_url = form.get("next", "/")
        if not next_url.startswith("/") or next_url.startswith("//"):
            next_url = "/"
        with state.lock:
            csrf_ok = form.get("csrf_token") in state.csrf
            state.csrf.discard(form.get("csrf_token", ""))
        creds_ok = _same(form.get("usuario", ""), state.username) and _same(
            form.get("senha", ""), state.password
        )
        if not (csrf_ok and creds_ok and form.get("origem") == "portal"):
            # Like many legacy portals, one message for every refusal (bad CSRF token included).
            error = "Usuário ou senha inválidos"
            page = templates.login_page(self._new_csrf(), next_url, error, action)
            return self._html(200, page)
        sid = secrets.token_hex(16)
        with state.lock:
            state.sessions[sid] = 0
            state.logins += 1
        return self._redirect(next_url, {"Set-Cookie": f"{COOKIE}={sid}; Path=/; HttpOnly"})

    def _new_csrf(self) -> str:
        token = secrets.token_urlsafe(16)
        with self.server.state.lock:
            self.server.state.csrf.add(token)
        return token

    def _detail(self, numero: str, query: str, faults: Faults) -> int:
        record = record_for(numero, faults.history_rows or None)
        if record is None:
            return self._html(200, templates.not_found_page(numero))
        try:
            page = int(parse_qs(query).get("pagina", ["1"])[0])
        except ValueError:
            page = 1
        # history_rows: the whole history on one page.
        size = max(1, faults.history_rows) if faults.history_rows else HISTORY_PAGE_SIZE
        page = min(max(page, 1), history_pages(record, size))
        html = templates.detail_page(
            record,
            page,
            faults.layout,
            page_size=size,
            next_href=faults.offsite_for("next_link"),
        )
        return self._html(200, html)

    # ------------------------------------------------------------ control
    def _control(self, method: str, path: str, body: bytes) -> None:
        state = self.server.state
        if path == "/_stats" and method == "GET":
            self._json(200, state.stats())
        elif path == "/_faults" and method == "GET":
            self._json(200, asdict(state.faults))
        elif path == "/_faults" and method == "POST":
            try:
                faults = Faults.parse(json.loads(body or b"{}"))
            except ValueError as exc:
                self._json(400, {"error": "invalid_faults", "message": str(exc)})
                return
            state.set_faults(faults)
            self._json(200, asdict(faults))
        elif path == "/_reset" and method == "POST":
            state.reset()
            self._json(200, {"reset": True})
        else:
            self._json(404, {"error": "not_found", "message": f"no control endpoint {path}"})

    # ------------------------------------------------------------ writing
    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> int:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        # The client may have given up (a timeout): that is the point of a hang.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if body and self._faults is not None and self._faults.drip_ms:
                self.end_headers()
                self._drip(body, self._faults, status)
            else:
                # Headers and body in one write, the request counted as answered just
                # before: a client that has its answer (and starts its next request) is
                # never still counted as waiting for this one.
                self._headers_buffer.append(b"\r\n")  # type: ignore[attr-defined]
                data = b"".join(self._headers_buffer) + body  # type: ignore[attr-defined]
                self._headers_buffer = []  # type: ignore[attr-defined]
                self._answered(status)
                self.wfile.write(data)
                self.wfile.flush()
        return status

    def _answered(self, status: int) -> None:
        """The client gets its answer now: counted by its status, and no longer open (so
        what the client reads next, the statistics included, already knows it)."""
        state = self.server.state
        with state.lock:
            if self._faults is not None and not self._counted:  # a portal request
                self._counted = True
                state.by_status[str(status)] += 1
            if self._waiting:
                self._waiting = False
                state.open -= 1

    def _drip(self, body: bytes, faults: Faults, status: int) -> None:
        """Send the headers, then ``drip_bytes`` of the body every ``drip_ms``, until done,
        the client hangs up or the portal stops."""
        self.wfile.flush()
        step, pause = faults.drip_bytes, faults.drip_ms / 1000
        for start in range(0, len(body), step):
            if start:
                self._sleep(pause)
                if not self._waiting or self.server.state.stopping.is_set():
                    return
            if start + step >= len(body):
                self._answered(status)  # the last bytes go out
            self.wfile.write(body[start : start + step])
            self.wfile.flush()

    def _html(self, status: int, html: str, headers: dict[str, str] | None = None) -> int:
        return self._send(
            status,
            html.encode(ENCODING, errors="xmlcharrefreplace"),
            f"text/html; charset={ENCODING}",
            headers,
        )

    def _json(self, status: int, payload: Any) -> int:
        return self._send(status, json.dumps(payload).encode(), "application/json")

    def _redirect(self, location: str, headers: dict[str, str] | None = None) -> int:
        return self._send(302, b"", "text/html", {"Location": location, **(headers or {})})


def _same(given: str, expected: str) -> bool:
    """A constant-time comparison that takes any text (``compare_digest`` refuses
    non-ASCII strings, as a password like "senha-ção" is)."""
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _kind(path: str, query: str) -> str:
    if path == "/login":
        return "login"
    if path.startswith("/os/"):
        page = parse_qs(query).get("pagina", ["1"])[0]
        return "history" if page.isdigit() and int(page) >= 2 else "detail"
    return "other"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client that hung up mid-answer (a timeout, a size cap): expected
        super().handle_error(request, client_address)


class PortalServer:
    """The demo portal on ``host:port`` (0 picks a free port), served from a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "demo",
        password: str = "demo-password",
    ) -> None:
        self.host, self.port = host, port
        self._state = _State(username, password)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._bound_port: int | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` with the port actually bound (after ``start()``)."""
        if self._bound_port is None:
            raise RuntimeError("start() the portal first")
        return f"http://{self.host}:{self._bound_port}"

    def _bind(self) -> _Server:
        self._state.stopping.clear()
        server = _Server((self.host, self.port), _Handler)
        server.state = self._state
        self._bound_port = server.server_address[1]
        return server

    def start(self) -> PortalServer:
        """Serve from a daemon thread; returns self."""
        self._server = self._bind()
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="demo-portal", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests sleeping in latency or hang faults wake up at once."""
        self._state.stopping.set()
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> PortalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until_up(url: str, timeout: float = 5.0) -> None:
    """Block until the portal answers ``/_stats`` (for scripts that start it elsewhere)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/_stats", timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)

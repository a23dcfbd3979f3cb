"""Unit-test fixtures: no network at all, saved portal pages and a scripted portal transport."""

from __future__ import annotations

import io
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest
import requests
from requests.adapters import BaseAdapter

from chalicelib.adapters.scraper import Credentials, PortalScraper
from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, load_profile

BASE = "https://portal.test"  # plain http is refused outside loopback
PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "portals" / "demo"
PASSWORD = "s3cret-pass"


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests never touch the network: opening a socket fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("unit tests must not open network connections")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def saved_page(name: str) -> bytes:
    """A page saved from the demo portal, as the bytes it serves (Latin-1)."""
    return (PAGES / name).read_bytes()


class ScriptedAdapter(BaseAdapter):
    """Answers from ``route(method, url, body)``: ``(status, body[, headers])`` or an exception."""

    def __init__(self, route: Callable[[str, str, Any], Any]) -> None:
        super().__init__()
        self.route = route
        self.requests: list[tuple[str, str]] = []
        self.timeouts: list[Any] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.requests.append((request.method or "", request.url or ""))
        self.timeouts.append(kwargs.get("timeout"))
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
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def portal_route(
    *,
    detail: Callable[[str], Any] | None = None,
    login_ok: bool = True,
    expire_after: int | None = None,
) -> tuple[Callable[[str, str, Any], Any], dict[str, Any]]:
    """A scripted portal: login form, login post, OS 123451's three pages.

    ``detail(url)`` may override any non-login answer; ``expire_after=n`` makes the
    session expire (once) after n page requests, answering the login form instead.
    """
    state: dict[str, Any] = {"served": 0, "posts": []}

    def route(method: str, url: str, body: Any) -> Any:
        if url == f"{BASE}/login" and method == "GET":
            return 200, saved_page("login.html")
        if url == f"{BASE}/login":
            state["posts"].append(body.decode() if isinstance(body, bytes) else body)
            # A real login redirects; a refused one shows the form again with an error.
            if login_ok:
                return 302, b"", {"Location": f"{BASE}/"}
            return 200, saved_page("login_failed.html")
        state["served"] += 1
        if expire_after is not None and state["served"] > expire_after:
            state["served"] = -(10**6)  # expired once; valid again after the next login
            return 200, saved_page("login.html")
        if detail:
            answer = detail(url)
            if answer is not None:
                return answer
        if url.endswith("?pagina=2"):
            return 200, saved_page("detail_page2.html")
        if url.endswith("?pagina=3"):
            return 200, saved_page("detail_last_page.html")
        return 200, saved_page("detail_default.html")

    return route, state


def scraper_for(
    route: Callable[[str, str, Any], Any], base_url: str = BASE
) -> tuple[PortalScraper, ScriptedAdapter]:
    """A scraper whose session talks to ``route`` instead of the network."""
    session = requests.Session()
    adapter = ScriptedAdapter(route)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    profile = load_profile(DEFAULT_PROFILE_PATH, base_url=base_url)
    return PortalScraper(session, profile, Credentials("demo", PASSWORD)), adapter


@pytest.fixture
def fake_portal() -> SimpleNamespace:
    """The scripted portal's helpers: ``route``, ``scraper``, ``page``, ``base``, ``password``."""
    return SimpleNamespace(
        base=BASE, password=PASSWORD, page=saved_page, route=portal_route, scraper=scraper_for
    )

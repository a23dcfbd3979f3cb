"""``FamilyPortal``: one family's demo portal on ``host:port``, served from a daemon thread."""

from __future__ import annotations

import threading
from typing import Any

from local.families.aspnet import AspNetHandler
from local.families.base import FamilyHandler, FamilyServer, State
from local.families.jsf import JsfHandler
from local.families.php import PhpHandler

__all__ = ["HANDLERS", "FamilyPortal"]

HANDLERS: dict[str, type[FamilyHandler]] = {
    "aspnet": AspNetHandler,
    "jsf": JsfHandler,
    "php": PhpHandler,
}
#: Where each family's login page is (for people and scripts).
LOGIN_PATHS = {"aspnet": "/Login.aspx", "jsf": "/app/login.xhtml", "php": "/index.php"}


class FamilyPortal:
    """The ``family`` demo portal; ``options`` are the family's (aspnet: ``pager``)."""

    def __init__(
        self,
        family: str,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "demo",
        password: str = "demo-password",
        **options: str,
    ) -> None:
        if family not in HANDLERS:
            raise ValueError(f"unknown family {family!r}; one of {', '.join(HANDLERS)}")
        self.family, self.host, self.port = family, host, port
        self._handler = HANDLERS[family]
        allowed = self._handler.OPTIONS
        for key, value in options.items():
            if key not in allowed or value not in allowed[key]:
                choices = {k: list(v) for k, v in allowed.items()}
                raise ValueError(f"bad option {key}={value!r} for {family}; options: {choices}")
        settings = {key: values[0] for key, values in allowed.items()} | options
        self._state = State(username, password, settings)
        self._server: FamilyServer | None = None
        self._thread: threading.Thread | None = None
        self._bound_port: int | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` with the port actually bound (after ``start()``)."""
        if self._bound_port is None:
            raise RuntimeError("start() the portal first")
        return f"http://{self.host}:{self._bound_port}"

    @property
    def login_path(self) -> str:
        return LOGIN_PATHS[self.family]

    def start(self) -> FamilyPortal:
        server = FamilyServer((self.host, self.port), self._handler)
        server.state = self._state
        self._server, self._bound_port = server, server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.1,), name=f"family-{self.family}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def stats(self) -> dict[str, Any]:
        """``requests``, ``logins``, ``by_path``, ``postbacks``, ``sessions`` (signed in)."""
        return self._state.stats()

    def expire_sessions(self) -> int:
        """Drop every session (as ``POST /_expire``); returns how many there were."""
        return self._state.expire_sessions()

    def reset(self) -> None:
        """Sessions, issued form state and counters cleared (as ``POST /_reset``)."""
        self._state.reset()

    def __enter__(self) -> FamilyPortal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

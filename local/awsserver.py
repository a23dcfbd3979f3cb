"""moto's AWS emulation on loopback, made as atomic as the real services.

moto's backends keep state in plain Python objects without locks, so two threads can
both pass a DynamoDB condition or both receive one SQS message. Real DynamoDB
conditional writes and SQS receives are atomic; this server restores that by running
one request at a time. Long polls (``ReceiveMessage`` with ``WaitTimeSeconds``) are
emulated outside the lock, as repeated short polls, so a waiting poller never blocks
the other clients.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from local.moto_fixes import install as install_moto_fixes

__all__ = ["AwsServer"]

_POLL_INTERVAL = 0.02


class _Serialized:
    """WSGI middleware: one request at a time; SQS long polls become short polls."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == "AmazonSQS.ReceiveMessage":
            return self._long_poll(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))

    def _long_poll(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
        wait = float(payload.get("WaitTimeSeconds", 0) or 0)
        payload["WaitTimeSeconds"] = 0
        body = json.dumps(payload).encode()
        deadline = time.monotonic() + wait
        while True:
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list, exc_info: Any = None, *, into=captured) -> Any:
                into.update(status=status, headers=headers)
                return lambda data: None

            env = dict(environ, CONTENT_LENGTH=str(len(body)))
            env["wsgi.input"] = io.BytesIO(body)
            with self.lock:
                chunks = list(self.app(env, capture))
            raw = b"".join(chunks)
            if b'"Messages"' in raw or time.monotonic() >= deadline:
                start_response(captured["status"], captured["headers"])
                return [raw]
            time.sleep(_POLL_INTERVAL)


class AwsServer:
    """A moto server on ``host:port`` (0 picks a free port) in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> AwsServer:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        install_moto_fixes()
        app = _Serialized(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self.host, self.port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="aws-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> AwsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""moto's AWS emulation on loopback, made as atomic as the real services.

moto's backends keep state in plain Python objects without locks, so two threads can
both pass a DynamoDB condition or both receive one SQS message. Real DynamoDB
conditional writes and SQS receives are atomic; this server restores that by running
one request at a time. Long polls (``ReceiveMessage`` with ``WaitTimeSeconds``) wait
outside the lock: a waiting poll looks at its queue again when a request that can make
a message visible has completed (an SQS send or visibility change, an S3 upload that
notifies a queue), or every ``RECHECK_SECONDS`` (a visibility timeout or delay running
out), so idle pollers neither block the other clients nor keep a core busy. moto lists
its service packages from the disk for every request it routes; the list is read once.

``AwsProcess`` runs the server in a process of its own (``python -m local.awsserver``
prints the URL on its first line and serves until SIGTERM), for harnesses whose own
process is busy.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from local.moto_fixes import install as install_moto_fixes

__all__ = ["AwsProcess", "AwsServer", "main"]

#: The longest a waiting long poll goes without looking at its queue again.
RECHECK_SECONDS = 0.2


class _Serialized:
    """WSGI middleware: one request at a time; SQS long polls wait for a change."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.changed = threading.Condition()
        self.version = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == "AmazonSQS.ReceiveMessage":
            return self._long_poll(environ, start_response)
        with self.lock:
            chunks = list(self.app(environ, start_response))
        if not target.startswith("DynamoDB"):  # SQS, S3 (notifications), anything else
            with self.changed:
                self.version += 1
                self.changed.notify_all()
        return chunks

    def _long_poll(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
        wait = float(payload.get("WaitTimeSeconds", 0) or 0)
        payload["WaitTimeSeconds"] = 0
        body = json.dumps(payload).encode()
        deadline = time.monotonic() + wait
        while True:
            seen = self.version
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list, exc_info: Any = None, *, into=captured) -> Any:
                into.update(status=status, headers=headers)
                return lambda data: None

            env = dict(environ, CONTENT_LENGTH=str(len(body)))
            env["wsgi.input"] = io.BytesIO(body)
            with self.lock:
                raw = b"".join(self.app(env, capture))
            left = deadline - time.monotonic()
            if b'"Messages"' in raw or left <= 0:
                start_response(captured["status"], captured["headers"])
                return [raw]
            with self.changed:
                if self.version == seen:
                    self.changed.wait(min(left, RECHECK_SECONDS))


def _list_services_once() -> None:
    """moto's routing asks ``list_of_moto_modules()`` (a directory listing) per request."""
    from moto import backends

    if getattr(backends.list_of_moto_modules, "cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def listed() -> tuple[str, ...]:
        return modules

    listed.cached = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = listed  # type: ignore[assignment]


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
        _list_services_once()
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


class AwsProcess:
    """The emulator in a process of its own (``python -m local.awsserver``), so the
    caller's process and moto each get a core; ``url`` and ``stop`` as ``AwsServer``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> AwsProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "local.awsserver", "--host", self.host],
            stdout=subprocess.PIPE,
            cwd=str(Path(__file__).absolute().parents[1]),
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().decode().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the AWS emulator did not start: {line!r}")
        self.url = line
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM; the first line printed is the URL."""
    parser = argparse.ArgumentParser(description="raspa's AWS emulation (moto) on loopback")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    server = AwsServer(args.host, args.port).start()
    print(server.url, flush=True)
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

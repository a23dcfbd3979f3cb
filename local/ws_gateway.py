"""A local stand-in for API Gateway's WebSocket API.

Browsers connect to ``ws://host:port/?query``; each connection gets an id, and the
app's ``$connect`` / ``$default`` / ``$disconnect`` handlers are invoked with
API Gateway-shaped events (a refused ``$connect`` refuses the handshake with its status,
403 by default, and body).
The ``@connections`` management API is served over HTTP on ``management_port``, so
the app's unchanged boto3 ``apigatewaymanagementapi`` calls reach the browser:
``POST|GET|DELETE /<stage>/@connections/{id}``; an unknown id answers 410 GoneException.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import threading
import time
import uuid
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from local.event_source import LambdaContext

__all__ = ["WebSocketGateway"]

log = logging.getLogger(__name__)
Handler = Callable[[dict, Any], Any]


class WebSocketGateway:
    """Serves WebSocket clients and the @connections API from background threads."""

    def __init__(
        self,
        *,
        connect: Handler,
        message: Handler,
        disconnect: Handler,
        host: str = "127.0.0.1",
        port: int = 0,
        management_port: int = 0,
        stage: str = "local",
    ) -> None:
        self.handlers = {"$connect": connect, "$default": message, "$disconnect": disconnect}
        self.host, self.port, self.management_port, self.stage = host, port, management_port, stage
        self.connections: dict[str, ServerConnection] = {}
        self.stats: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    # ---------------------------------------------------------------- urls
    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def management_url(self) -> str:
        """The endpoint to give boto3 (``endpoint_url``), like https://{api}/{stage}."""
        assert self._http is not None
        return f"http://{self.host}:{self._http.server_address[1]}/{self.stage}"

    # ----------------------------------------------------------- lifecycle
    def start(self) -> WebSocketGateway:
        self._thread = threading.Thread(target=self._run, name="ws-gateway", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the WebSocket gateway did not start")
        self._http = ThreadingHTTPServer(
            (self.host, self.management_port), _management_handler(self)
        )
        self._http.daemon_threads = True
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, name="ws-management", daemon=True
        )
        self._http_thread.start()
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    def __enter__(self) -> WebSocketGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(
            self._serve, self.host, self.port, process_request=self._handshake, max_size=128 * 1024
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    # ------------------------------------------------------------ routes
    def _event(
        self,
        route: str,
        connection_id: str,
        *,
        body: str | None = None,
        request: Request | None = None,
    ) -> dict[str, Any]:
        now = int(time.time() * 1000)
        event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
        event: dict[str, Any] = {
            "requestContext": {
                "routeKey": route,
                "eventType": event_type,
                "connectionId": connection_id,
                "domainName": f"{self.host}:{self.port}",
                "stage": self.stage,
                "apiId": "local",
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": now,
                "connectedAt": now,
                "messageDirection": "IN",
                "identity": {"sourceIp": "127.0.0.1"},
            },
            "isBase64Encoded": False,
        }
        if request is not None:
            query = parse_qs(urlsplit(request.path).query)
            event["headers"] = dict(request.headers.raw_items())
            event["queryStringParameters"] = {k: v[-1] for k, v in query.items()} or None
        if body is not None:
            event["body"] = body
        return event

    async def _invoke(self, route: str, event: dict[str, Any]) -> int:
        """Run a handler in a thread (it does blocking I/O); its HTTP-like status code."""
        return (await self._answer(route, event))[0]

    async def _answer(self, route: str, event: dict[str, Any]) -> tuple[int, str]:
        """Run a handler in a thread; its status code and body."""
        handler = self.handlers[route]
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                None, handler, event, LambdaContext(f"websocket_handler{route}", 30)
            )
        except Exception:
            log.exception("%s handler failed", route)
            return 500, ""
        result = result or {}
        return int(result.get("statusCode", 200)), str(result.get("body") or "")

    async def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        connection_id = base64.b64encode(secrets.token_bytes(10)).decode()
        connection.raspa_id = connection_id  # type: ignore[attr-defined]
        status, text = await self._answer(
            "$connect", self._event("$connect", connection_id, request=request)
        )
        if status != 200:
            # Like API Gateway: the handshake is refused with the handler's status (a bare
            # 403 for a refused token), and its body for a client that reads it.
            self.stats["refused"] += 1
            if status < 400 or status >= 600:
                status = 403
            body = (text or json.dumps({"message": "Forbidden"})).encode()
            return Response(
                status,
                HTTPStatus(status).phrase,
                Headers({"Content-Type": "application/json", "Content-Length": str(len(body))}),
                body,
            )
        # Postable as soon as the client sees the handshake accepted, as in API Gateway
        # (registering it in _serve, which runs after the answer is sent, left a window
        # where @connections said "gone" to a connection the client had open).
        self.connections[connection_id] = connection
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        connection_id = connection.raspa_id  # type: ignore[attr-defined]
        self.connections[connection_id] = connection
        self.stats["connected"] += 1
        try:
            async for message in connection:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                self.stats["received"] += 1
                await self._invoke("$default", self._event("$default", connection_id, body=text))
        except Exception:  # noqa: BLE001 - a broken socket just ends the connection
            log.debug("connection %s ended abruptly", connection_id)
        finally:
            self.connections.pop(connection_id, None)
            await self._invoke("$disconnect", self._event("$disconnect", connection_id))

    # ------------------------------------------------------ @connections
    def post(self, connection_id: str, data: bytes) -> bool:
        connection = self.connections.get(connection_id)
        if connection is None or self._loop is None:
            return False
        future = asyncio.run_coroutine_threadsafe(
            connection.send(data.decode("utf-8", "replace")), self._loop
        )
        try:
            future.result(timeout=5)
        except Exception:  # noqa: BLE001 - the socket closed meanwhile: gone
            return False
        self.stats["sent"] += 1
        return True

    def close(self, connection_id: str) -> bool:
        connection = self.connections.get(connection_id)
        if connection is None or self._loop is None:
            return False
        asyncio.run_coroutine_threadsafe(connection.close(), self._loop).result(timeout=5)
        return True


def _management_handler(gateway: WebSocketGateway) -> type[BaseHTTPRequestHandler]:
    class ManagementHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _connection_id(self) -> str | None:
            path = urlsplit(self.path).path
            marker = "/@connections/"
            return unquote(path.split(marker, 1)[1]) if marker in path else None

        def _reply(
            self, status: int, payload: dict | None = None, error: str | None = None
        ) -> None:
            body = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.end_headers()
            self.wfile.write(body)

        def _gone(self) -> None:
            gateway.stats["gone"] += 1
            self._reply(
                410, {"__type": "GoneException", "message": "connection is gone"}, "GoneException"
            )

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            connection_id = self._connection_id()
            if connection_id is None:
                self._reply(404, {"message": "not found"})
            elif len(data) > 128 * 1024:
                self._reply(
                    413,
                    {"__type": "PayloadTooLargeException", "message": "message over 128 KB"},
                    "PayloadTooLargeException",
                )
            elif gateway.post(connection_id, data):
                self._reply(200)
            else:
                self._gone()

        def do_DELETE(self) -> None:
            connection_id = self._connection_id()
            if connection_id and gateway.close(connection_id):
                self._reply(204)
            else:
                self._gone()

        def do_GET(self) -> None:
            connection_id = self._connection_id()
            if connection_id and connection_id in gateway.connections:
                self._reply(200, {"identity": {"sourceIp": "127.0.0.1"}})
            else:
                self._gone()

    return ManagementHandler

"""The people using raspa in a scenario: each a signed-in user with a real WebSocket
connection to the local gateway, asking for OS numbers over the HTTP API as the page does
(``POST /buscar-os-async``, then ``{"action": "subscribe"}`` on the socket)."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["Answer", "Requester", "Socket", "SocketHub", "is_terminal"]


def _about(message: Any, task_id: str) -> bool:
    return isinstance(message, dict) and message.get("task_id") == task_id


def is_terminal(message: Any) -> bool:
    """A task's final event on the socket: ``success`` or ``error`` about a task (not an
    ``invalid_message`` / ``task_not_found`` reply, which carry ``error``)."""
    return (
        isinstance(message, dict)
        and message.get("status") in ("success", "error")
        and bool(message.get("task_id"))
        and "error" not in message
    )


class Socket:
    """One open WebSocket connection and every message it received, in order."""

    def __init__(self, hub: SocketHub, ws: ClientConnection) -> None:
        self.hub, self.ws = hub, ws
        self.messages: list[Any] = []
        self.close_code: int | None = None
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        #: One subscribe awaiting its snapshot at a time (see ``subscribe``).
        self._pending = threading.Lock()
        self._to_follow: queue.Queue[str] = queue.Queue()
        self._follower: threading.Thread | None = None

    def follow(self, task_id: str) -> None:
        """Subscribe to ``task_id`` soon, in order, without waiting (a thread of its own
        sends the subscriptions one at a time, as ``subscribe`` explains)."""
        if self._follower is None:
            self._follower = threading.Thread(target=self._follow, name="ws-follow", daemon=True)
            self._follower.start()
        self._to_follow.put(task_id)

    def following(self) -> int:
        """Subscriptions asked for and not sent yet."""
        return self._to_follow.unfinished_tasks

    def stop_following(self) -> None:
        if self._follower is not None:
            self._to_follow.put("")

    def _follow(self) -> None:
        while True:
            task_id = self._to_follow.get()
            if not task_id:
                self._to_follow.task_done()
                return
            try:
                if self.close_code is None:
                    self.subscribe(task_id)
            except ConnectionClosed:
                pass  # the requester is not told: its counts will show it
            finally:
                self._to_follow.task_done()

    def send(self, data: str | bytes) -> None:
        self.hub.run(self.ws.send(data))

    def subscribe(self, task_id: str, timeout: float = 60) -> bool:
        """``{"action": "subscribe"}`` and wait for the reply about the task (its snapshot).

        One subscribe in flight per connection: the local gateway handles a connection's
        messages one at a time and stops reading it (pings included) when 16 wait, which
        would close a connection that asks faster than the handlers answer.
        """
        with self._pending:
            with self._lock:
                seen = sum(1 for m in self.messages if _about(m, task_id))
            self.send(json.dumps({"action": "subscribe", "task_id": task_id}))
            deadline = time.monotonic() + timeout
            with self._arrived:
                while sum(1 for m in self.messages if _about(m, task_id)) <= seen:
                    left = deadline - time.monotonic()
                    if left <= 0 or self.close_code is not None:
                        return False
                    self._arrived.wait(min(left, 1.0))
            return True

    def received(self) -> list[Any]:
        with self._lock:
            return list(self.messages)

    def terminal_counts(self) -> Counter[str]:
        """Terminal events received, by task id."""
        return Counter(m["task_id"] for m in self.received() if is_terminal(m))

    def _keep(self, raw: str | bytes) -> None:
        try:
            message: Any = json.loads(raw)
        except ValueError:
            message = {"unparsed": raw if isinstance(raw, str) else raw.decode("latin-1")}
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()


class SocketHub:
    """WebSocket clients on one asyncio loop of their own (a thread)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="ws-clients", daemon=True
        )
        self._thread.start()
        self.sockets: list[Socket] = []

    def run(self, coroutine: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def open(self, token: str) -> Socket:
        """Connect as the token's user (``?token=``, as the page does)."""

        async def opening() -> Socket:
            # No client pings: a busy gateway answers late, and the test is not about them.
            ws = await connect(
                f"{self.url}/?token={quote(token)}", max_size=2**20, ping_interval=None
            )
            sock = Socket(self, ws)
            self.loop.create_task(self._read(sock))
            return sock

        sock = self.run(opening())
        self.sockets.append(sock)
        return sock

    async def _read(self, sock: Socket) -> None:
        try:
            async for raw in sock.ws:
                sock._keep(raw)
        except ConnectionClosed:
            pass
        sock.close_code = sock.ws.close_code

    def close(self) -> None:
        async def closing() -> None:
            await asyncio.gather(*(s.ws.close() for s in self.sockets), return_exceptions=True)

        try:
            self.run(closing(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)


@dataclass
class Answer:
    """What one lookup got from the API (after any 503 retried as the answer said)."""

    numero: str
    status: int
    body: dict[str, Any]
    #: 503 answers retried before this one (backend unavailable, Retry-After honoured).
    retried_503: int = 0
    #: How long the API took to answer (retries included).
    seconds: float = 0.0

    @property
    def task_id(self) -> str | None:
        return self.body.get("task_id") if self.status == 202 else None


@dataclass(eq=False)
class Requester:
    """A signed-in user: the HTTP API with their token and, usually, their own socket."""

    user: str
    token: str
    api_url: str
    socket: Socket | None = None
    answers: list[Answer] = field(default_factory=list)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def http(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {self.token}"
        return session

    def lookup(self, numero: str, *, subscribe: bool = True, max_503: int = 20) -> Answer:
        """``POST /buscar-os-async/{numero}``; a 202 is followed on the socket."""
        retried = 0
        started = time.perf_counter()
        while True:
            response = self.http.post(f"{self.api_url}/buscar-os-async/{numero}", timeout=60)
            if response.status_code != 503 or retried >= max_503:
                break
            retried += 1
            time.sleep(min(0.5, float(response.headers.get("Retry-After") or 1) / 10))
        seconds = time.perf_counter() - started
        answer = Answer(numero, response.status_code, _json(response), retried, seconds)
        with self._lock:
            self.answers.append(answer)
        if subscribe and answer.task_id and self.socket is not None:
            self.socket.follow(answer.task_id)
        return answer

    def status(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"{self.api_url}/scraping-status/{task_id}", timeout=60)
        return {"http_status": response.status_code, **_json(response)}

    def terminal_counts(self) -> Counter[str]:
        return self.socket.terminal_counts() if self.socket else Counter()

    def tasks(self) -> set[str]:
        """The tasks this requester was answered with (202s)."""
        with self._lock:
            return {a.task_id for a in self.answers if a.task_id}


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"raw": response.text[:200]}
    return body if isinstance(body, dict) else {"value": body}

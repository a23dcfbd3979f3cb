"""AWS calls per operation, counted with botocore ``before-call`` hooks (deterministic)."""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from bench.counting import counter
from bench.harness import ANA, Harness, Scenario
from bench.pages import numbers_with_pages
from chalicelib.domain.identity import Identity
from chalicelib.http.views import lookup_answer

__all__ = ["CallFigures", "measure_calls"]

POST = "apigatewaymanagementapi.PostToConnection"


@dataclass
class CallFigures:
    hit: Counter[str]
    enqueue: Counter[str]
    enqueue_vip: Counter[str]
    join: Counter[str]
    #: worker calls for one scrape of a ``pages``-page OS, by subscribed connections
    worker: dict[int, Counter[str]]
    pages: int
    #: fixed worker calls by page count (no subscriber)
    worker_by_pages: dict[int, int] = field(default_factory=dict)
    #: portal requests per OS by page count, after warm-up
    portal_by_pages: dict[int, int] = field(default_factory=dict)
    #: median seconds of a new enqueue through the lookup service (local moto)
    enqueue_seconds: float = 0.0

    @staticmethod
    def total(calls: Counter[str]) -> int:
        return sum(calls.values())

    def worker_fixed(self) -> int:
        return self.total(self.worker[0])

    def posts_per_connection(self) -> float:
        most = max(self.worker)
        return (self.worker[most][POST] - self.worker[0][POST]) / most

    def calls_per_connection(self) -> float:
        most = max(self.worker)
        return (self.total(self.worker[most]) - self.total(self.worker[0])) / most

    def events(self) -> int:
        """Messages each subscriber receives for one scrape (progress steps + the result)."""
        return self.pages + 2


class Subscribers:
    """``n`` WebSocket clients of the local gateway, signed in as ana."""

    def __init__(self, harness: Harness, n: int) -> None:
        from websockets.sync.client import connect

        self.clients = [
            connect(f"{harness.gateway.url}/?token={harness.tokens['ana']}") for _ in range(n)
        ]

    def subscribe(self, task_id: str) -> None:
        for ws in self.clients:
            ws.send(json.dumps({"action": "subscribe", "task_id": task_id}))
            json.loads(ws.recv(timeout=10))  # the task's current state

    def drain(self) -> list[list[dict[str, Any]]]:
        received = []
        for ws in self.clients:
            got = []
            while True:
                try:
                    got.append(json.loads(ws.recv(timeout=0.3)))
                except TimeoutError:
                    break
            received.append(got)
        return received

    def close(self) -> None:
        for ws in self.clients:
            ws.close()


def _lookup(sc: Scenario, numero: str, who: Identity) -> dict[str, Any]:
    return lookup_answer(sc.services.lookup.lookup(numero, identity=who)).body


def measure_calls(harness: Harness, pages: int = 2) -> CallFigures:
    """Hit, new enqueue (standard and VIP), join, and one scrape with 0, 1 and 2
    subscribers, each after a warm-up (clients built, secret read, portal session open)."""
    harness.portal_reset()
    sc = harness.scenario()
    numbers = numbers_with_pages(pages, 8, start=600_000)
    warm, *rest = numbers
    # Warm-up: one lookup and one scrape build every client and open the portal session.
    _lookup(sc, warm, ANA)
    sc.deliver()
    with counter.record() as hit:
        assert _lookup(sc, warm, ANA)["status"] == "found"
    with counter.record() as enqueue:
        assert _lookup(sc, rest[0], ANA)["status"] == "queued"
    with counter.record() as enqueue_vip:
        assert _lookup(sc, rest[1], Identity("carla", vip=True))["status"] == "queued"
    with counter.record() as join:
        assert _lookup(sc, rest[0], Identity("bruno"))["status"] == "queued"
    sc.deliver()  # the VIP task (claimed first: its turn): out of the way
    worker: dict[int, Counter[str]] = {}
    for n, numero in zip((0, 1, 2), (rest[0], rest[2], rest[3]), strict=True):
        task_id = _lookup(sc, numero, ANA)["task_id"] if n else None
        with ExitStack() as stack:
            subscribers = Subscribers(harness, n)
            stack.callback(subscribers.close)
            if task_id:
                subscribers.subscribe(task_id)
            with counter.record() as calls:
                sc.deliver()
            received = subscribers.drain()
        assert all(m and m[-1].get("status") == "success" for m in received), received
        worker[n] = calls
    by_pages, portal_by_pages = {}, {}
    for p in (1, 2, 3, 4):
        numero = numbers_with_pages(p, 1, start=610_000)[0]
        _lookup(sc, numero, Identity("dora"))
        before = harness.portal_stats()["requests"]
        with counter.record() as calls:
            sc.deliver()
        portal_by_pages[p] = harness.portal_stats()["requests"] - before
        by_pages[p] = sum(calls.values())
    times = []
    for numero in numbers_with_pages(pages, 5, start=620_000):
        started = time.perf_counter()
        _lookup(sc, numero, Identity("erik"))
        times.append(time.perf_counter() - started)
    return CallFigures(
        hit,
        enqueue,
        enqueue_vip,
        join,
        worker,
        pages,
        by_pages,
        portal_by_pages,
        statistics.median(times),
    )

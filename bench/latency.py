"""Cache-hit latency through the Chalice app against a bare Chalice route doing one
GetItem; notification delay and end-to-end latency over the local WebSocket gateway."""

from __future__ import annotations

import json
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

from bench.harness import Harness
from bench.pages import numbers_with_pages
from chalicelib.adapters.aws import AwsClients

__all__ = ["HitLatency", "measure_hit_latency", "measure_notifications", "percentile"]


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def api_event(method: str, path: str, resource: str, params: dict, user: str) -> dict[str, Any]:
    """An API Gateway proxy event as Lambda receives it after the (cached) authorizer."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Host": "bench", "Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "requestId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"principalId": user, "user": user, "vip": "false"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def bare_app(table: str, aws: AwsClients) -> Any:
    """The reference: a Chalice route doing one boto3 GetItem (a client of ``aws``, the
    same endpoint as the app's) and returning the item."""
    from chalice import Chalice

    bare = Chalice(app_name="bare", configure_logs=False)
    client = aws.client("dynamodb")

    @bare.route("/bare/{numero}", methods=["POST"])
    def get(numero: str) -> Any:
        item = client.get_item(TableName=table, Key={"numero_os": {"S": numero}}).get("Item")
        return {"status": "found" if item else "missing", "item": item}

    return bare


@dataclass(frozen=True)
class HitLatency:
    app_p50: float
    app_p99: float
    bare_p50: float
    bare_p99: float
    samples: int


def measure_hit_latency(harness: Harness, *, samples: int = 400) -> HitLatency:
    """Interleaved cached lookups through ``app.app`` and the bare route, same moto."""
    from local.event_source import LambdaContext

    harness.portal_reset()
    sc = harness.scenario()
    numero = numbers_with_pages(2, 1, start=640_000)[0]
    lookup = sc.services.lookup
    from chalicelib.domain.identity import Identity

    lookup.lookup(numero, identity=Identity("ana"))
    sc.deliver()
    bare = bare_app(sc.settings.os_table, harness.aws_clients())
    app_event = api_event(
        "POST",
        f"/buscar-os-async/{numero}",
        "/buscar-os-async/{numero_os}",
        {"numero_os": numero},
        "ana",
    )
    bare_event = api_event("POST", f"/bare/{numero}", "/bare/{numero}", {"numero": numero}, "ana")
    context = LambdaContext("api_handler", 30)
    app_times, bare_times = [], []
    for i in range(samples + 20):
        for handler, event, into in (
            (sc.app.app, app_event, app_times),
            (bare, bare_event, bare_times),
        )[:: 1 if i % 2 else -1]:
            started = time.perf_counter()
            response = handler(event, context)
            elapsed = time.perf_counter() - started
            assert response["statusCode"] == 200, response
            if i >= 20:  # warm-up
                into.append(elapsed)
    body = json.loads(sc.app.app(app_event, context)["body"])
    assert body["status"] == "found"
    return HitLatency(
        percentile(app_times, 50),
        percentile(app_times, 99),
        percentile(bare_times, 50),
        percentile(bare_times, 99),
        samples,
    )


class Reader:
    """A WebSocket client signed in as ana, timestamping every message it receives."""

    def __init__(self, harness: Harness) -> None:
        from websockets.sync.client import connect

        self.ws = connect(f"{harness.gateway.url}/?token={harness.tokens['ana']}")
        self.ws.send(json.dumps({"action": "hello"}))
        self.connection_id = json.loads(self.ws.recv(timeout=10))["connection_id"]
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for raw in self.ws:
                at = time.time()
                with self.cond:
                    self.messages.append((at, json.loads(raw)))
                    self.cond.notify_all()
        except ConnectionClosed:
            return

    def wait_final(self, task_id: str, timeout: float = 60) -> float:
        """When the task's success or error message arrived."""

        def final() -> float | None:
            for at, message in self.messages:
                if message.get("task_id") == task_id and message.get("status") in (
                    "success",
                    "error",
                ):
                    return at
            return None

        with self.cond:
            if not self.cond.wait_for(lambda: final() is not None, timeout=timeout):
                raise TimeoutError(f"no final message for {task_id}")
            found = final()
            assert found is not None
            return found

    def close(self) -> None:
        self.ws.close()
        self._thread.join(timeout=2)


@dataclass(frozen=True)
class Notifications:
    #: scrape finished (the task's finished_at) → final WebSocket message received, seconds
    delays: list[float]
    #: request through the API handler → final WebSocket message received, seconds
    e2e: list[float]
    portal_seconds: float


def measure_notifications(
    harness: Harness, *, pages: int, latency_ms: float, repeats: int, start: int
) -> Notifications:
    """One lookup at a time through the API handler (the WebSocket connection follows it
    with ``X-Connection-Id``), the worker running as deployed."""
    from local.event_source import LambdaContext

    sc = harness.scenario(rate_limit=100)  # every lookup is ana's (her connection)
    harness.portal_reset(latency_ms=latency_ms)
    reader = Reader(harness)
    tasks = sc.services.store.tasks
    delays, e2e = [], []
    context = LambdaContext("api_handler", 30)
    try:
        with sc.worker():
            for i, numero in enumerate(numbers_with_pages(pages, repeats + 1, start=start)):
                event = api_event(
                    "POST",
                    f"/buscar-os-async/{numero}",
                    "/buscar-os-async/{numero_os}",
                    {"numero_os": numero},
                    "ana",
                )
                event["headers"]["X-Connection-Id"] = reader.connection_id
                began = time.time()
                response = sc.app.app(event, context)
                body = json.loads(response["body"])
                assert "task_id" in body, body
                task_id = body["task_id"]
                received = reader.wait_final(task_id)
                task = tasks.get_task(task_id)
                if i:  # the first one logs in to the portal
                    e2e.append(received - began)
                    delays.append(received - float(task.finished_at))
    finally:
        reader.close()
    return Notifications(delays, e2e, pages * latency_ms / 1000)


def median(values: list[float]) -> float:
    return statistics.median(values)

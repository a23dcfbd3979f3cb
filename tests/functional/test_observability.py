"""Logs and metrics of one lookup followed to the end: one correlation id (the task's) from
the API through the queue to the worker and its notifications, and the EMF counts."""

from __future__ import annotations

import json
import logging
from typing import Any, Iterator

import pytest

import app as raspa_app
from chalicelib import observability
from local.event_source import LambdaContext
from tests.functional.test_websocket import TOKENS, connect, send

RECORD = {"situacao": "Aberta", "cliente": "Ana", "historico": []}


class Lines(logging.Handler):
    """Log records formatted by the Powertools formatter, as CloudWatch receives them."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(observability.logger.registered_handler.formatter)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def logs() -> Iterator[Lines]:
    handler = Lines()
    loggers = [logging.getLogger("raspa"), logging.getLogger("chalicelib")]
    for each in loggers:
        each.addHandler(handler)
    yield handler
    for each in loggers:
        each.removeHandler(handler)


class Emf:
    """The EMF documents the handlers printed (CloudWatch turns them into metrics)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def documents(self) -> list[dict[str, Any]]:
        out = self.capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


@pytest.fixture
def emf(capsys) -> Emf:
    """What the handlers print as EMF from now on: metrics another test of this process
    counted outside a handler (a scraper called directly) are dropped first."""
    from chalicelib.observability import metrics

    metrics.clear_metrics()
    capsys.readouterr()
    return Emf(capsys)


def metric_names(documents: list[dict[str, Any]]) -> list[str]:
    return [
        metric["Name"]
        for doc in documents
        for directive in doc["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    ]


def test_one_task_id_correlates_the_lookup_the_worker_and_the_notifications(
    client, aws, api_gw, driver, scripted, logs, emf
):
    scripted(RECORD)
    TOKENS.update(aws.tokens)
    connect("c1", "ana")
    # Given a lookup that queues a scrape, followed over the WebSocket
    response = client.http.post("/buscar-os-async/123456")
    task_id = json.loads(response.body)["task_id"]
    send("c1", {"action": "subscribe", "task_id": task_id})
    api_side = [line for line in logs.lines]
    # When the worker scrapes it and notifies the subscriber
    assert driver.deliver_once() == "ok"
    worker_side = logs.lines[len(api_side) :]
    # Then the worker's lines all carry the task id as their correlation id
    assert worker_side, "the worker logged nothing"
    assert {line.get("correlation_id") for line in worker_side} == {task_id}
    assert any(line["message"] == "scrape succeeded" for line in worker_side)
    # And the EMF counts say what happened: a lookup enqueued, a scrape, notifications sent
    documents = emf.documents()
    names = metric_names(documents)
    for expected in ("Lookups", "Enqueued", "ScrapeSucceeded", "ScrapeDuration"):
        assert expected in names, names
    assert names.count("NotificationsSent") >= 1
    assert all(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Raspa" for doc in documents)
    # And nothing stays correlated after the handler (a warm container's next event)
    raspa_app.health(), logging.getLogger("raspa").info("after")
    assert logs.lines[-1].get("correlation_id") is None


def test_a_failed_scrape_counts_its_reason_and_a_layout_change_counts_as_drift(
    client, api_gw, driver, scripted, emf
):
    from chalicelib.errors import LayoutChangedError

    scripted(LayoutChangedError("http://portal/os/123456", "situacao"))
    client.http.post("/buscar-os-async/123456")
    driver.deliver_once()
    documents = emf.documents()
    names = metric_names(documents)
    assert "ScrapeFailed" in names and "LayoutDrift" in names
    by_reason = [
        doc
        for doc in documents
        if any(
            m["Name"] == "ScrapeFailedByReason"
            for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        )
    ]
    assert by_reason and by_reason[0]["reason"] == "layout_changed"


def test_the_ws_handlers_flush_nothing_when_nothing_was_counted(client, api_gw, emf):
    raspa_app.ws_disconnect(
        {
            "requestContext": {
                "connectionId": "c9",
                "eventType": "DISCONNECT",
                "routeKey": "$disconnect",
                "domainName": "x",
                "stage": "api",
                "apiId": "abc",
            },
            "isBase64Encoded": False,
        },
        LambdaContext("ws", 30),
    )
    assert emf.documents() == []

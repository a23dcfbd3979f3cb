"""WebSocket notifications through the app's handlers, with moto and a recording
@connections client standing in for API Gateway's management API."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import app as raspa_app
from chalicelib.services.notify import MAX_MESSAGE_BYTES, Subscription
from local.event_source import LambdaContext
from tests.support.calls import dynamodb_calls

EVENTS = Path(__file__).resolve().parents[1] / "events"
RECORD = {"situacao": "Aberta", "cliente": "Ana", "historico": []}


def ws_event(name: str, connection_id: str, body: Any = None) -> dict:
    event = copy.deepcopy(json.loads((EVENTS / f"ws_{name}.json").read_text()))
    event["requestContext"]["connectionId"] = connection_id
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


TOKENS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _tokens(aws) -> None:
    TOKENS.clear()
    TOKENS.update(aws.tokens)


def connect(connection_id: str, user: str = "ana") -> dict:
    event = ws_event("connect", connection_id)
    event["queryStringParameters"] = {"token": TOKENS[user]} if user else None
    return raspa_app.ws_connect(event, LambdaContext("ws", 30))


def send(connection_id: str, body: Any) -> None:
    raspa_app.ws_message(ws_event("message", connection_id, body), LambdaContext("ws", 30))


def enqueue(client, numero: str = "123456", headers: dict | None = None) -> str:
    response = client.http.post(f"/buscar-os-async/{numero}", headers=headers)
    assert response.status_code == 202
    return json.loads(response.body)["task_id"]


def test_connect_registers_the_connection_for_two_hours(client, api_gw):
    connect("c1")
    item = raspa_app.services().models.Connection.get("c1")
    assert 7190 <= item.expires_at.timestamp() - float(item.connected_at) <= 7210


def test_disconnect_forgets_the_connection(client, api_gw):
    connect("c1")
    raspa_app.ws_disconnect(ws_event("connect", "c1"), LambdaContext("ws", 30))
    assert not raspa_app.services().notifier.registry.is_open("c1")


def test_subscriber_gets_every_progress_step_then_the_result(client, api_gw, driver, scripted):
    scripted(RECORD)
    connect("c1")
    task_id = enqueue(client)
    send("c1", {"action": "subscribe", "task_id": task_id})
    driver.deliver_once()
    messages = api_gw.sent["c1"]
    assert messages[0]["status"] == "progress" and messages[0]["task_status"] == "PENDING"
    assert messages[0]["position"] == 0
    steps = [m.get("step") for m in messages[1:-1]]
    assert steps == ["detail", "history", "save"]
    assert all(m["task_id"] == task_id for m in messages)
    assert messages[-1]["status"] == "success" and messages[-1]["result"]["cliente"] == "Ana"


def test_failure_is_pushed_as_an_error_message(client, api_gw, driver, scripted):
    from chalicelib.errors import OsNotFoundError

    scripted(OsNotFoundError("123456"))
    connect("c1")
    task_id = enqueue(client)
    send("c1", {"action": "subscribe", "task_id": task_id})
    driver.deliver_once()
    last = api_gw.sent["c1"][-1]
    assert last["status"] == "error" and "não encontrada" in last["message"]


def test_everyone_who_asked_while_active_is_notified(client, api_gw, driver, scripted):
    scripted(RECORD)
    for conn in ("c1", "c2", "c3"):
        connect(conn)
    ana = {**client.http._headers}
    task_id = enqueue(client, headers={**ana, "X-Connection-Id": "c1"})
    assert enqueue(client, headers={**ana, "X-Connection-Id": "c2"}) == task_id
    send("c3", {"action": "subscribe", "task_id": task_id})
    driver.deliver_once()
    for conn in ("c1", "c2", "c3"):
        assert api_gw.sent[conn][-1]["status"] == "success", conn


def test_subscribing_to_a_finished_task_answers_its_result_at_once(
    client, api_gw, driver, scripted
):
    scripted(RECORD)
    task_id = enqueue(client)
    driver.deliver_once()
    connect("late")
    send("late", {"action": "subscribe", "task_id": task_id})
    assert [m["status"] for m in api_gw.sent["late"]] == ["success"]
    assert raspa_app.services().notifier.registry.subscribers(task_id) == set()


@pytest.mark.parametrize(
    "body,error",
    [
        ("not json", "invalid_message"),
        ({"action": "dance"}, "invalid_message"),
        ({"action": "subscribe", "task_id": "../../etc"}, "invalid_message"),
        ({"action": "subscribe", "task_id": "0123456789abcdef0123456789abcdef"}, "task_not_found"),
        ("x" * 5000, "invalid_message"),
    ],
)
def test_bad_messages_get_an_error_message_back(client, api_gw, body, error):
    connect("c1")
    send("c1", body)
    assert api_gw.sent["c1"][-1]["error"] == error


def test_hello_tells_a_client_its_connection_id(client, api_gw):
    connect("c1")
    send("c1", {"action": "hello"})
    assert api_gw.sent["c1"] == [{"status": "hello", "connection_id": "c1"}]


def test_gone_connections_are_removed(client, api_gw, driver, scripted):
    scripted(RECORD)
    connect("alive")
    connect("stale")
    task_id = enqueue(client)
    send("alive", {"action": "subscribe", "task_id": task_id})
    send("stale", {"action": "subscribe", "task_id": task_id})
    api_gw.gone.add("stale")
    driver.deliver_once()
    registry = raspa_app.services().notifier.registry
    assert not registry.is_open("stale")
    assert api_gw.sent["alive"][-1]["status"] == "success"


def test_a_result_over_128_kb_is_sent_as_a_pointer(client, api_gw, driver, scripted):
    scripted({**RECORD, "descricao": "x" * (MAX_MESSAGE_BYTES + 10)})
    connect("c1")
    task_id = enqueue(client)
    send("c1", {"action": "subscribe", "task_id": task_id})
    driver.deliver_once()
    last = api_gw.sent["c1"][-1]
    assert last["status"] == "success" and last["result"] is None
    assert last["result_url"] == "/os/123456" and last["truncated"] is True


def test_a_failing_notification_never_fails_the_scrape(client, api_gw, driver, scripted):
    scripted(RECORD)
    connect("c1")
    task_id = enqueue(client)
    send("c1", {"action": "subscribe", "task_id": task_id})
    api_gw.fail_with = "InternalServerError"
    assert driver.deliver_once() == "ok"
    status = json.loads(client.http.get(f"/scraping-status/{task_id}").body)
    assert status["status"] == "SUCCESS"


def test_a_scrape_notifies_every_step_without_reading_its_subscribers_each_time(
    client, api_gw, driver, scripted
):
    # Given a task with one subscriber
    scripted(RECORD)
    connect("c1")
    task_id = enqueue(client)
    send("c1", {"action": "subscribe", "task_id": task_id})
    calls = dynamodb_calls(raspa_app.services().models)
    # When the worker scrapes it (steps detail, history, save, then the result)
    driver.deliver_once()
    # Then the claim cost its usual calls (the interactive and batch lanes' heads, the
    # claim), every step was written once and the subscribers came back with those
    # writes: one read only, after the finish, for anyone who subscribed meanwhile
    claim = Counter({"Query": 2, "TransactWriteItems": 1})
    assert calls == claim + Counter({"UpdateItem": 3, "TransactWriteItems": 1, "GetItem": 1})
    assert [m.get("step") or m["status"] for m in api_gw.sent["c1"][1:]] == [
        "detail",
        "history",
        "save",
        "success",
    ]


def test_a_connection_subscribing_mid_scrape_gets_the_steps_after_it_and_the_result(
    client, api_gw, driver, scripted, monkeypatch
):
    scripted(RECORD)
    connect("early")
    connect("mid")
    connect("late")
    task_id = enqueue(client)
    send("early", {"action": "subscribe", "task_id": task_id})
    runs = raspa_app.services().store.runs
    original = runs.record_progress

    def record_progress(task: str, step: str, percent: int) -> Any:
        written = original(task, step, percent)
        if step == "detail":  # after the detail step's write: sees history, save, result
            send("mid", {"action": "subscribe", "task_id": task_id})
        if step == "save":  # after the last write before the finish: sees the result
            send("late", {"action": "subscribe", "task_id": task_id})
        return written

    monkeypatch.setattr(runs, "record_progress", record_progress)
    driver.deliver_once()
    statuses = {c: [m.get("step") or m["status"] for m in api_gw.sent[c][1:]] for c in api_gw.sent}
    assert statuses["early"] == ["detail", "history", "save", "success"]
    assert statuses["mid"] == ["history", "save", "success"]
    assert statuses["late"] == ["success"]
    assert all(api_gw.sent[c][-1]["result"]["cliente"] == "Ana" for c in statuses)


def test_subscribing_to_a_task_that_expired_creates_nothing(client, api_gw):
    registry = raspa_app.services().notifier.registry
    missing = "0123456789abcdef0123456789abcdef"
    registry.subscribe(missing, "c1")
    assert registry.subscribers(missing) == set()
    assert raspa_app.services().store.tasks.get_task(missing) is None


def test_a_task_ending_between_the_subscribe_read_and_write_is_announced_exactly_once(
    client, api_gw, driver, scripted, monkeypatch
):
    # Given a queued task and a connection subscribing to it
    scripted(RECORD)
    connect("c1")
    task_id = enqueue(client)
    service = raspa_app.services().websocket
    real_status = service.lookup.status
    finished: list[str] = []

    def status_then_the_scrape_ends(task: str, user: str | None) -> dict:
        seen = real_status(task, user)
        if not finished:  # the one scrape runs right after the handler's first read
            finished.append(driver.deliver_once())
        return seen

    monkeypatch.setattr(service.lookup, "status", status_then_the_scrape_ends)
    # When the subscribe message is handled while the task ends
    send("c1", {"action": "subscribe", "task_id": task_id})
    # Then the connection hears the queued state, then the result, once
    assert finished == ["ok"]
    statuses = [m["status"] for m in api_gw.sent["c1"]]
    assert statuses[0] == "progress" and statuses[-1] == "success"
    assert statuses.count("success") == 1
    assert raspa_app.services().notifier.registry.subscribers(task_id) == set()


def test_a_finished_task_takes_no_new_subscribers(client, api_gw, driver, scripted):
    # Given a task that has ended
    scripted(RECORD)
    task_id = enqueue(client)
    driver.deliver_once()
    registry = raspa_app.services().notifier.registry
    # When a connection tries to subscribe to it directly
    added = registry.subscribe(task_id, "late")
    # Then it is refused (the caller announces the result itself) and nothing is stored
    assert added is Subscription.ENDED
    assert registry.subscribers(task_id) == set()


def test_a_task_ending_before_the_lookup_follows_it_is_announced_to_the_connection(
    client, api_gw, driver, scripted, monkeypatch, auth_headers
):
    # Given a connection, and a scrape so fast it ends before the lookup subscribes it
    scripted(RECORD)
    connect("c1")
    registry = raspa_app.services().notifier.registry
    real_subscribe = registry.subscribe

    def scrape_first(task: str, connection_id: str) -> bool:
        driver.deliver_once()
        return real_subscribe(task, connection_id)

    monkeypatch.setattr(registry, "subscribe", scrape_first)
    # When the lookup names the connection in X-Connection-Id
    task_id = enqueue(client, headers={**auth_headers, "X-Connection-Id": "c1"})
    # Then the connection still gets the result, once
    results = [m for m in api_gw.sent["c1"] if m.get("task_id") == task_id]
    assert [m["status"] for m in results] == ["success"]

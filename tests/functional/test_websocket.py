"""WebSocket notifications through the app's handlers, with moto and a recording
@connections client standing in for API Gateway's management API."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import app as raspa_app
from chalicelib.notify import MAX_MESSAGE_BYTES
from local.event_source import LambdaContext

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
    item = raspa_app.get_models().Connection.get("c1")
    assert 7190 <= item.expires_at.timestamp() - float(item.connected_at) <= 7210


def test_disconnect_forgets_the_connection(client, api_gw):
    connect("c1")
    raspa_app.ws_disconnect(ws_event("connect", "c1"), LambdaContext("ws", 30))
    assert not raspa_app.get_notifier().registry.is_open("c1")


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
    assert raspa_app.get_notifier().registry.subscribers(task_id) == set()


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
    registry = raspa_app.get_notifier().registry
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

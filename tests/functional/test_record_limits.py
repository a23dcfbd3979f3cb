"""An OS bigger than raspa stores fails with a reason at once: never a task that cannot
finish, a lock held for days or every later lookup joining a stuck task."""

from __future__ import annotations

import json

import pytest

import app as raspa_app
from chalicelib.adapters.dynamo.connection import dynamodb_clients
from chalicelib.adapters.dynamo.models import lock_key


def enqueue(client, numero: str) -> str:
    response = client.http.post(f"/buscar-os-async/{numero}")
    assert response.status_code == 202
    return json.loads(response.body)["task_id"]


def settled(client, aws, task_id: str, numero: str) -> dict:
    """The task's status, after checking that nothing is left locked or queued."""
    models = raspa_app.services().models
    assert list(models.Lock.batch_get([lock_key(numero)])) == []
    assert raspa_app.services().store.cache.any_record(numero) is None
    assert aws.queue_depth() == 0
    return json.loads(client.http.get(f"/scraping-status/{task_id}").body)


def test_given_a_record_over_the_limit_when_scraped_then_the_task_fails_too_large_once_and_frees_its_os(  # noqa: E501
    client, aws, driver, scripted
):
    # Given an OS whose record (40,003 history rows) is far over RASPA_MAX_RECORD_BYTES
    history = [{"data": "2026-01-01T10:00", "evento": f"evento {i}" * 5} for i in range(40_003)]
    scraper = scripted({"situacao": "Aberta", "historico": history})
    task_id = enqueue(client, "640001")
    # When its message is delivered
    outcomes = driver.drain(20)
    # Then it failed at once as too_large, its message went to the DLQ for ops, nothing was
    # stored, its OS is free, and the user reads a message that names the limit's reason
    assert scraper.calls == ["640001"] and outcomes == ["ok"]
    body = settled(client, aws, task_id, "640001")
    assert body["status"] == "FAILURE" and body["attempts"] == 1
    assert body["error"]["reason"] == "too_large" and "grande demais" in body["result"]
    assert aws.queue_depth(aws.dlq_url) == 1
    detail = raspa_app.services().store.tasks.get_task(task_id).error_detail
    assert "RASPA_MAX_RECORD_BYTES" in detail
    # And a later lookup starts a new task instead of joining a stuck one
    assert enqueue(client, "640001") != task_id


@pytest.fixture
def refuse_record_writes():
    """DynamoDB answers a transaction that writes an OS record as it does an item over
    400 KB (a botocore ``before-call`` answer: the call never reaches the emulator)."""
    from botocore.awsrequest import AWSResponse

    def refuse(params: dict, **_: object):
        if b'"outcome"' not in (params.get("body") or b""):
            return None  # only the transaction that stores the record
        error = {"Code": "ValidationException", "Message": "Item size has exceeded the maximum"}
        http = AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", 400, {}, None)
        return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}

    clients = dynamodb_clients(raspa_app.services().models)
    for client in clients:
        client.meta.events.register("before-call.dynamodb.TransactWriteItems", refuse)
    yield
    for client in clients:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", refuse)


def test_given_a_record_the_store_refuses_when_finishing_then_the_task_fails_not_storable(
    client, aws, driver, scripted, refuse_record_writes
):
    # Given a record DynamoDB refuses when the finishing transaction stores it
    scripted({"situacao": "Aberta", "historico": []})
    task_id = enqueue(client, "640002")
    # When it is scraped
    driver.drain(20)
    # Then the task failed with the reason instead of staying unfinishable, its OS free
    body = settled(client, aws, task_id, "640002")
    assert body["status"] == "FAILURE" and body["error"]["reason"] == "not_storable"
    assert body["attempts"] == 1 and aws.queue_depth(aws.dlq_url) == 1

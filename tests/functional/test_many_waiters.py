"""A task's finish does not grow with who waits for it: hundreds of batches, more users than
its item keeps and more followers than it takes each stay within DynamoDB's limits."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

import app as raspa_app
from chalicelib.adapters.dynamo.connection import dynamodb_clients
from chalicelib.adapters.dynamo.models import lock_key
from chalicelib.services.notify import Subscription
from tests.functional.test_security import forge
from tests.support.batches import upload
from tests.support.batchkit import csv_of

BATCHES = 150


@pytest.fixture
def transaction_sizes():
    """The item count of every TransactWriteItems the app sends during the test."""
    sizes: list[int] = []
    clients = dynamodb_clients(raspa_app.services().models)

    def record(params: dict, **_: object) -> None:
        sizes.append(len(params.get("TransactItems", ())))

    event = "provide-client-params.dynamodb.TransactWriteItems"
    for client in clients:
        client.meta.events.register(event, record, unique_id=f"sizes-{id(sizes)}")
    yield sizes
    for client in clients:
        client.meta.events.unregister(event, unique_id=f"sizes-{id(sizes)}")


def test_given_150_one_line_batches_waiting_on_one_os_when_its_scrape_ends_then_it_finishes_once_and_every_batch_counts_it(  # noqa: E501
    kit, scraper, transaction_sizes
):
    # Given bruno's lookup scraping OS 610000, and 150 one-line batches naming it uploaded
    # while it waits (three times what a 100-item transaction could count, two items each;
    # `make soak`'s many_batches scenario runs 500 through the whole local stack)
    response = kit.client.http.post("/buscar-os-async/610000", headers=kit.aws.headers("bruno"))
    task_id = json.loads(response.body)["task_id"]
    batch_ids = [uuid.uuid4().hex for _ in range(BATCHES)]
    for batch_id in batch_ids:
        upload(kit.s3, kit.bucket, "ana", batch_id, csv_of("610000"))
    assert set(kit.ingest(limit=2000)) == {"ok"}
    store = raspa_app.services().store
    assert int(store.tasks.get_task(task_id).waiters) == BATCHES
    # When its one message is scraped
    transaction_sizes.clear()
    assert kit.scrape() == ["ok"]
    # Then the OS was scraped once, the task finished in one small transaction and its lock
    # is free, and each of the batches counted the outcome exactly once
    assert scraper.calls == ["610000"]
    task = store.tasks.get_task(task_id)
    assert task.status == "SUCCESS"
    assert max(transaction_sizes) <= 4, Counter(transaction_sizes)
    models = raspa_app.services().models
    assert list(models.Lock.batch_get([lock_key("610000")])) == []
    kit.ingest(limit=2000)  # the finalize messages
    views = [kit.view(batch_id)[1] for batch_id in batch_ids]
    assert Counter(v["status"] for v in views) == {"complete": BATCHES}
    assert {(v["counts"]["joined"], v["counts"]["succeeded"]) for v in views} == {(1, 1)}
    # And a redelivery of the finished task's message counts nothing twice
    service = raspa_app.services().batches
    service.task_finished(task)
    assert {kit.view(b)[1]["counts"]["succeeded"] for b in batch_ids[:20]} == {1}


def test_given_more_requesters_than_the_task_item_keeps_then_each_of_them_sees_the_task(
    client, aws
):
    # Given a task item that keeps 3 requesters
    aws.reconfigure(max_requesters_per_task=3)
    issuer_settings = raspa_app.services().settings
    aws.settings_issuer, aws.client_id = issuer_settings.auth_issuer, issuer_settings.auth_client_id
    users = [f"staff{i:02d}" for i in range(8)]
    headers = {
        u: {"Authorization": f"Bearer {forge(aws, **{'cognito:username': u})}"} for u in users
    }
    # When eight users look the same OS up
    answers = [client.http.post("/buscar-os-async/620000", headers=headers[u]) for u in users]
    task_ids = {json.loads(a.body)["task_id"] for a in answers}
    assert {a.status_code for a in answers} == {202} and len(task_ids) == 1
    task_id = task_ids.pop()
    # Then the item keeps three, every one of the eight may read the task, others may not
    task = raspa_app.services().store.tasks.get_task(task_id)
    assert len(task.requesters) == 3
    for user in users:
        status = client.http.get(f"/scraping-status/{task_id}", headers=headers[user])
        assert status.status_code == 200, user
    stranger = {"Authorization": f"Bearer {forge(aws, **{'cognito:username': 'mallory'})}"}
    assert client.http.get(f"/scraping-status/{task_id}", headers=stranger).status_code == 404


def test_given_a_task_with_as_many_followers_as_it_takes_then_another_is_told_to_poll(
    client, aws, api_gw
):
    from tests.support.batchkit import ws_connect

    # Given a task that takes two followers, followed by two of ana's connections
    aws.reconfigure(max_subscribers_per_task=2)
    task_id = json.loads(client.http.post("/buscar-os-async/630000").body)["task_id"]
    token = client._http_client._headers["Authorization"].split()[1]
    for connection in ("c1", "c2", "c3"):
        ws_connect(connection, token)
    websocket = raspa_app.services().websocket
    for connection in ("c1", "c2"):
        websocket.message(connection, json.dumps({"action": "subscribe", "task_id": task_id}))
    # When a third subscribes
    websocket.message("c3", json.dumps({"action": "subscribe", "task_id": task_id}))
    # Then it gets the task's state and is told why it is not following it, and the item
    # holds two subscribers
    last = api_gw.sent["c3"][-1]
    assert last["error"] == "too_many_subscribers" and task_id in last["message"]
    assert api_gw.sent["c3"][0]["task_id"] == task_id  # the current state came first
    registry = raspa_app.services().notifier.registry
    assert registry.subscribers(task_id) == {"c1", "c2"}
    assert registry.subscribe(task_id, "c2") is Subscription.SUBSCRIBED  # already one

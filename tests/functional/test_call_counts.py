"""AWS calls per lookup, counted with botocore hooks (deterministic): a cache hit is one
read; a new scrape (standard or VIP) and a join cost at most four calls."""

from __future__ import annotations

import json
from collections import Counter
from typing import Callable

import pytest

import app as raspa_app
from tests.support.calls import client_calls, dynamodb_calls


def post(client, numero: str, headers: dict | None = None) -> tuple[int, dict]:
    response = client.http.post(f"/buscar-os-async/{numero}", headers=headers)
    return response.status_code, json.loads(response.body)


@pytest.fixture
def calls(client, aws) -> Callable[[], Counter]:
    """The app's DynamoDB and SQS calls since the last call of the returned function
    (clients built and both lanes' queue URLs read by a first standard and VIP lookup)."""
    assert post(client, "999999")[0] == 202
    assert post(client, "999998", aws.headers("carla"))[0] == 202
    dynamo = dynamodb_calls(raspa_app.services().models)
    sqs = client_calls(raspa_app.services().aws.client("sqs"))

    def taken() -> Counter:
        made = Counter({f"dynamodb.{op}": n for op, n in dynamo.items()}) + sqs
        dynamo.clear()
        sqs.clear()
        return made

    return taken


NEW_SCRAPE = Counter(
    {
        "dynamodb.BatchGetItem": 1,  # the cache and the caller's rate log
        "dynamodb.TransactWriteItems": 1,  # lock, task, cache still cold, rate log
        "sqs.SendMessage": 1,
        "dynamodb.Query": 1,  # the queue position
    }
)


def test_a_cache_hit_is_one_read(client, calls, driver, scripted):
    # Given an OS in the cache (the warm-up's tasks, scraped: the VIP one first)
    scripted({"cliente": "Ana"})
    assert driver.drain() == ["ok", "ok"]
    calls()
    # When it is looked up
    status, body = post(client, "999999")
    # Then it is answered with one read
    assert status == 200 and body["status"] == "found"
    assert calls() == Counter({"dynamodb.BatchGetItem": 1})


def test_a_new_scrape_costs_four_calls(client, calls):
    calls()
    status, body = post(client, "123456")
    assert status == 202 and body["position"] == 2  # behind the warm-ups' two tasks
    assert calls() == NEW_SCRAPE


def test_a_new_vip_scrape_costs_four_calls(client, calls, aws):
    calls()
    status, body = post(client, "123456", aws.headers("carla"))
    # VIP: behind the VIP warm-up, and the standard one whose turn comes second (V S V ...)
    assert status == 202 and body["position"] == 2
    assert calls() == NEW_SCRAPE


def test_joining_a_queued_task_costs_four_calls(client, calls, aws):
    # Given ana's queued task
    _, first = post(client, "123456")
    calls()
    # When bruno asks for the same OS
    status, body = post(client, "123456", aws.headers("bruno"))
    # Then he joins it: the transaction's cancellation names the holder, one update joins
    assert status == 202 and body["task_id"] == first["task_id"]
    assert calls() == Counter(
        {
            "dynamodb.BatchGetItem": 1,
            "dynamodb.TransactWriteItems": 1,
            "dynamodb.UpdateItem": 1,
            "dynamodb.Query": 1,
        }
    )

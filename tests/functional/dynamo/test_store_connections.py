"""WebSocket connections (``connections.py``): bounded sets, and errors as StorageError."""

from __future__ import annotations

import pytest

from chalicelib.adapters.dynamo.connections import Subscription
from chalicelib.errors import StorageError


def test_a_user_keeps_at_most_the_limit_of_connections_closed_ones_pruned(stores, clock, settings):
    registry = stores.connections
    limit = settings.max_connections_per_user
    assert all(registry.register(f"c{i}", "ana") for i in range(limit))
    assert not registry.register("extra", "ana")
    assert registry.owner("c0") == "ana" and registry.is_open("c0")
    # Once they have closed without a $disconnect, new ones are taken again
    clock.advance(settings.connection_ttl_seconds + 1)
    assert registry.register("later", "ana")
    assert registry.user_connections("ana") == {"later"}


def test_a_task_takes_subscribers_while_active_up_to_its_limit(stores):
    registry = stores.connections
    task = stores.tasks.create_or_join("800001", requested_by="ana").task
    assert registry.subscribe(task.pk, "c1") is Subscription.SUBSCRIBED
    assert registry.subscribers(task.pk) == {"c1"}
    registry.unsubscribe(task.pk, "c1")
    assert registry.subscribers(task.pk) == set()
    stores.runs.abandon(task, "x")
    assert registry.subscribe(task.pk, "c2") is Subscription.ENDED
    assert registry.subscribe("0" * 32, "c2") is Subscription.ENDED
    assert registry.subscribers("0" * 32) == set()


def test_a_dynamodb_failure_reaches_callers_as_a_storage_error(stores, fail_next):
    fail_next("GetItem", "InternalServerError")
    with pytest.raises(StorageError):
        stores.connections.owner("c1")
    fail_next("UpdateItem", "ValidationException")
    with pytest.raises(StorageError):
        stores.connections.register("c1", "ana")

"""The DynamoDB package's records: plain, frozen values with the items' attribute names."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from chalicelib.adapters.dynamo.records import from_item
from chalicelib.domain.records import BatchRecord, CacheEntry, TaskRecord


class Map:
    """Stands in for a PynamoDB map attribute."""

    def __init__(self, value: dict) -> None:
        self.value = value

    def as_dict(self) -> dict:
        return dict(self.value)


def test_an_item_becomes_a_record_of_plain_values_with_defaults_for_absent_attributes():
    item = SimpleNamespace(
        pk="a" * 32,
        kind="task",
        numero_os="123456",
        status="SUCCESS",
        result=Map({"cliente": "Ana"}),
        requesters={"ana", "bruno"},
        subscribers=None,
        waiters=None,
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    task = from_item(TaskRecord, item)
    assert task.task_id == task.pk == "a" * 32
    assert task.result == {"cliente": "Ana"} and type(task.result) is dict
    assert task.requesters == frozenset({"ana", "bruno"}) and task.subscribers == frozenset()
    assert task.waiters == 0 and task.progress == 0 and task.error is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.status = "FAILURE"  # type: ignore[misc]


def test_a_batchs_list_becomes_a_tuple_and_a_cache_entry_knows_when_it_is_fresh():
    batch = from_item(
        BatchRecord,
        SimpleNamespace(pk="batch#b", batch_id="b", owner="ana", status="running", carry=["x 1"]),
    )
    assert batch.carry == ("x 1",) and batch.offset == 0
    entry = CacheEntry("1", expires_at=datetime.fromtimestamp(100, tz=UTC))
    assert entry.fresh(99.0) and not entry.fresh(100.0)
    assert not CacheEntry("1").fresh(0.0)

"""Named transaction items: a cancellation is read by name, in the order DynamoDB answers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from chalicelib.adapters.dynamo.transaction import MAX_ITEMS, Cancelled, Transaction


class FakeModel:
    """Stands in for a PynamoDB model: the transaction only serializes it on commit."""

    def __init__(self, key: str) -> None:
        self.key = key


def reason(code: str, item: dict | None = None) -> SimpleNamespace:
    return SimpleNamespace(code=code, raw_item=item)


def test_items_are_named_in_the_order_dynamodb_answers_checks_deletes_puts_updates(
    monkeypatch,
) -> None:
    tx = Transaction(connection=None)
    for method in ("condition_check", "delete", "save", "update"):
        monkeypatch.setattr(tx._tx, method, lambda *a, **k: None)
    tx.update("task", FakeModel("t"), [])
    tx.save("lock", FakeModel("l"))
    tx.delete("old", FakeModel("o"))
    tx.check("cache", FakeModel, "c", condition=None)
    assert tx.order == ["cache", "old", "lock", "task"] and len(tx) == 4


def test_a_name_used_twice_or_a_101st_item_is_refused(monkeypatch) -> None:
    tx = Transaction(connection=None)
    monkeypatch.setattr(tx._tx, "save", lambda *a, **k: None)
    tx.save("a", FakeModel("a"))
    with pytest.raises(ValueError, match="twice"):
        tx.save("a", FakeModel("a"))
    for i in range(1, MAX_ITEMS):
        tx.save(f"item {i}", FakeModel(str(i)))
    with pytest.raises(ValueError, match="at most 100"):
        tx.save("one too many", FakeModel("x"))


def test_a_cancellation_tells_which_named_item_failed_and_what_it_held() -> None:
    cancelled = Cancelled(
        {
            "cache": None,
            "lock": reason("ConditionalCheckFailed", {"task_id": {"S": "abc"}}),
            "task": reason("None"),
        }
    )
    assert cancelled.failed("lock") and not cancelled.failed("task")
    assert cancelled.failed_names() == ["lock"] and not cancelled.conflict
    assert cancelled.old_item("lock") == {"task_id": {"S": "abc"}}
    assert cancelled.old_item("cache") == {}


def test_a_conflict_without_a_failed_condition_is_worth_retrying() -> None:
    assert Cancelled({"a": reason("TransactionConflict"), "b": None}).conflict
    assert not Cancelled(
        {"a": reason("TransactionConflict"), "b": reason("ConditionalCheckFailed")}
    ).conflict

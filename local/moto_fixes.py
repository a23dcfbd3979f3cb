"""Make moto's DynamoDB transactions, queries and SQS sends cost what they touch, not the
size of the table or the queue.

moto 5 backs up every table a ``TransactWriteItems`` names with ``copy.deepcopy`` before
applying it, so one transaction on a table of 10,000 items takes about a second, and the
local stack (one request at a time) stalls as batches fill the tasks table. ``install()``
wraps the method: the tables are no longer copied; instead the items the transaction
names are saved before it runs and put back if it is cancelled, which is the same
all-or-nothing outcome. Dev only: used by the local stack and the tests.
"""

from __future__ import annotations

import copy
import threading
from types import SimpleNamespace
from typing import Any

__all__ = ["install"]

_installed = threading.Lock()
_done = False


def install() -> None:
    """Patch moto's DynamoDB backend once per process (idempotent)."""
    global _done
    with _installed:
        if _done:
            return
        from moto.dynamodb import models

        original = models.DynamoDBBackend.transact_write_items
        table_type = models.Table

        def deepcopy(value: Any, memo: Any = None) -> Any:
            # The backup of a whole table is replaced by the item snapshots below.
            return value if isinstance(value, table_type) else copy.deepcopy(value, memo)

        models.copy = SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)  # type: ignore[attr-defined]

        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
            saved = _snapshot(self, transact_items)
            try:
                original(self, transact_items)
            except Exception:
                _restore(self, saved)
                raise

        models.DynamoDBBackend.transact_write_items = transact_write_items
        _install_item_order()
        _install_sqs()
        _done = True


def _install_item_order() -> None:
    """Order items by their keys' plain values. moto sorts every item of a table for each
    query and scan, and the items a query found by its index's keys, comparing
    ``DynamoType`` keys, and each comparison converts both keys again (a ``Decimal`` per
    number): a query on a table of 10,000 items took a fifth of a second. The keys of one
    table or index are of one type each, so comparing their plain values gives the same
    order."""
    from moto.dynamodb.models.table import Table

    def all_items(self: Any) -> list[Any]:
        items: list[Any] = []
        for hash_set in self.items.values():
            if self.range_key_attr:
                items.extend(hash_set.values())
            else:
                items.append(hash_set)
        if self.range_key_attr:
            return sorted(items, key=lambda x: (x.hash_key.cast_value, x.range_key.cast_value))
        return sorted(items, key=lambda x: x.hash_key.cast_value)

    def sorted_items(
        self: Any, hash_key_attrs: list[str], range_key_attrs: list[Any], items: list[Any]
    ) -> list[Any]:
        attrs = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
        items.sort(key=lambda x: tuple(x.attrs[name].cast_value for name in attrs))
        return items

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.sorted_items = sorted_items  # type: ignore[method-assign]


def _install_sqs() -> None:
    """Count a queue's visible, in-flight and delayed messages with one clock reading."""
    from moto.core.utils import unix_time_millis
    from moto.sqs import models

    def messages(self: Any) -> list[Any]:
        now = unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def not_visible(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if not now > m.visible_at)

    def delayed(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if now < m.delayed_until)

    models.Queue.messages = property(messages)  # type: ignore[assignment]
    models.Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[assignment]
    models.Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[assignment]


def _key_of(table: Any, op: dict[str, Any]) -> dict[str, Any] | None:
    if "Key" in op:
        return op["Key"]
    item = op.get("Item") or {}
    if table.hash_key_attr not in item:
        return None
    key = {table.hash_key_attr: item[table.hash_key_attr]}
    if table.range_key_attr is not None:
        if table.range_key_attr not in item:
            return None
        key[table.range_key_attr] = item[table.range_key_attr]
    return key


def _snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple]:
    """(table name, key, the item's attributes or None) for every item named."""
    saved = []
    for entry in transact_items[:100]:
        if len(entry) != 1:
            continue
        _, op = next(iter(entry.items()))
        name = op.get("TableName") if isinstance(op, dict) else None
        table = backend.tables.get(name) if name else None
        if table is None:
            continue
        key = _key_of(table, op)
        if key is None:
            continue
        try:
            current = backend.get_item(name, key)
        except Exception:  # noqa: BLE001 - an invalid key: moto's own call reports it
            continue
        saved.append(
            (name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None)
        )
    return saved


def _restore(backend: Any, saved: list[tuple]) -> None:
    for name, key, attributes in reversed(saved):
        if attributes is None:
            if backend.get_item(name, key) is not None:
                backend.delete_item(name, key)
        else:
            backend.put_item(name, attributes)

"""DynamoDB transactions whose items have names, so a cancellation is read by name.

PynamoDB sends a transaction's items grouped by kind (condition checks, deletes, puts,
updates) and DynamoDB answers a cancellation with one reason per item in that order;
``Transaction`` keeps the names in the same order, so callers ask ``cancelled.failed("lock")``
instead of counting positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.connection import low_level
from chalicelib.errors import ItemRefusedError, StorageError

__all__ = ["MAX_ITEMS", "Cancelled", "Transaction", "transaction"]

#: DynamoDB's limit of items in one transaction.
MAX_ITEMS = 100


@dataclass
class Cancelled(Exception):
    """A transaction DynamoDB cancelled: each item's reason by name (None: no reason)."""

    reasons: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    def __str__(self) -> str:
        return self.message

    def failed(self, name: str) -> bool:
        """Whether the item's condition failed."""
        reason = self.reasons.get(name)
        return bool(reason) and reason.code == "ConditionalCheckFailed"

    def failed_names(self) -> list[str]:
        return [name for name in self.reasons if self.failed(name)]

    @property
    def conflict(self) -> bool:
        """A concurrent transaction held one of the items (and no condition failed): worth
        trying again at once."""
        codes = {r.code for r in self.reasons.values() if r}
        return "TransactionConflict" in codes and not self.failed_names()

    def old_item(self, name: str) -> dict[str, Any]:
        """The item as it was, when it was written with ``return_values="ALL_OLD"``."""
        reason = self.reasons.get(name)
        return (reason.raw_item if reason else None) or {}


class Transaction:
    """Collects named writes and commits them as one TransactWriteItems.

    Use as ``with transaction(models) as tx: tx.save("lock", ...)``; leaving the block
    commits, raising ``Cancelled`` (reasons by name) or ``StorageError``.
    """

    def __init__(self, connection: Any) -> None:
        """``connection``: PynamoDB's low-level connection (see ``transaction(models)``)."""
        self._tx = TransactWrite(connection=connection)
        self._names: dict[str, list[str]] = {"check": [], "delete": [], "put": [], "update": []}

    def __len__(self) -> int:
        return sum(len(names) for names in self._names.values())

    def _name(self, kind: str, name: str) -> None:
        if any(name in names for names in self._names.values()):
            raise ValueError(f"transaction item {name!r} named twice")
        if len(self) >= MAX_ITEMS:
            raise ValueError(f"a transaction holds at most {MAX_ITEMS} items")
        self._names[kind].append(name)

    def check(self, name: str, model_cls: Any, hash_key: Any, condition: Any) -> None:
        self._name("check", name)
        self._tx.condition_check(model_cls, hash_key, condition=condition)

    def delete(self, name: str, model: Any, condition: Any = None) -> None:
        self._name("delete", name)
        self._tx.delete(model, condition=condition)

    def save(self, name: str, model: Any, condition: Any = None, *, old: bool = False) -> None:
        """Put ``model``; with ``old`` a cancellation returns the item it found."""
        self._name("put", name)
        self._tx.save(model, condition=condition, return_values="ALL_OLD" if old else None)

    def update(
        self, name: str, model: Any, actions: list, condition: Any = None, *, old: bool = False
    ) -> None:
        self._name("update", name)
        self._tx.update(
            model, actions, condition=condition, return_values="ALL_OLD" if old else None
        )

    @property
    def order(self) -> list[str]:
        """The item names in the order DynamoDB receives (and answers) them."""
        return [n for kind in ("check", "delete", "put", "update") for n in self._names[kind]]

    def commit(self) -> None:
        if not len(self):
            return
        try:
            with self._tx:  # PynamoDB commits when its block ends
                pass
        except TransactWriteError as exc:
            reasons = list(exc.cancellation_reasons or [])
            if exc.cause_response_code == "ValidationException":
                raise ItemRefusedError(f"DynamoDB refused the transaction: {exc.msg}") from exc
            if not reasons:
                raise StorageError(f"transaction failed: {exc.msg}") from exc
            named = dict(zip(self.order, reasons + [None] * len(self.order), strict=False))
            raise Cancelled(named, f"transaction cancelled: {exc.msg}") from None
        except PynamoDBException as exc:
            raise StorageError(f"transaction failed: {exc.msg}") from exc

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()


def transaction(models: Any) -> Transaction:
    """A new transaction on the connection of ``models``' tables."""
    return Transaction(low_level(models.Task))

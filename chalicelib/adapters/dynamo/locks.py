"""The per-OS lock (``os#<numero>``): which task, if any, holds an OS.

A lock is only ever written inside the transaction that writes its task, so "one active
task per OS" is exact under concurrency: taking it is conditioned on it being free (or
expired), and releasing it on it still naming the finishing task.
"""

from __future__ import annotations

import time
from typing import Callable

from pynamodb.exceptions import PynamoDBException

from chalicelib.adapters.dynamo.models import Models, lock_key, ttl
from chalicelib.adapters.dynamo.transaction import Cancelled, Transaction
from chalicelib.errors import StorageError

__all__ = ["Locks"]


class Locks:
    """Reads lock holders; takes and releases locks inside transactions."""

    def __init__(
        self,
        models: Models,
        *,
        lock_ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        #: A lock older than this is free (its task was lost without finishing).
        self.lock_ttl = lock_ttl_seconds
        self.clock = clock

    def holder(self, numero_os: str, *, consistent: bool = False) -> str | None:
        """The id of the task holding the OS's lock, or None if it is free."""
        try:
            lock = self.m.Lock.get(lock_key(numero_os), consistent_read=consistent)
        except self.m.Lock.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"reading lock failed: {exc.msg}") from exc
        return lock.task_id

    def take(
        self,
        tx: Transaction,
        name: str,
        numero_os: str,
        task_id: str,
        now: float,
        *,
        reentrant: bool = False,
    ) -> None:
        """Take the OS's lock for ``task_id`` inside ``tx`` (item ``name``): on condition
        that it is free or expired, or with ``reentrant`` already held by ``task_id``. A
        failed condition names the holder (``holder_in``)."""
        Lock = self.m.Lock
        free = Lock.pk.does_not_exist() | (Lock.expires_at < ttl(now))
        if reentrant:
            free = free | (Lock.task_id == task_id)
        lock = Lock(
            lock_key(numero_os),
            task_id=task_id,
            created_at=now,
            expires_at=ttl(now + self.lock_ttl),
        )
        tx.save(name, lock, condition=free, old=True)

    def release(self, tx: Transaction, numero_os: str, task_id: str, name: str = "lock") -> None:
        """Delete the OS's lock inside ``tx``, on condition that ``task_id`` still holds it
        (a lock a newer task took is kept: the item ``name`` fails)."""
        Lock = self.m.Lock
        tx.delete(name, Lock(lock_key(numero_os)), condition=Lock.task_id == task_id)

    @staticmethod
    def holder_in(cancelled: Cancelled, name: str) -> str | None:
        """The task holding a lock that ``take`` could not take, from the cancellation."""
        return (cancelled.old_item(name).get("task_id") or {}).get("S")

"""Reopening a failed task, for ops redriving its dead letter after a fix.

One transaction moves the task back to PENDING, takes its OS's lock and checks the OS
is still not cached, so a redrive never makes a second scrape.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Callable

from pynamodb.exceptions import PynamoDBException

from chalicelib.adapters.dynamo.cache import OsCache
from chalicelib.adapters.dynamo.locks import Locks
from chalicelib.adapters.dynamo.models import Models, ttl
from chalicelib.adapters.dynamo.records import from_item
from chalicelib.adapters.dynamo.retry import MAX_ROUNDS, pause
from chalicelib.adapters.dynamo.tasks import TaskStore
from chalicelib.adapters.dynamo.transaction import Cancelled, transaction
from chalicelib.domain.lanes import Lane
from chalicelib.domain.queueorder import place
from chalicelib.domain.records import TaskRecord
from chalicelib.domain.tasks import TaskStatus
from chalicelib.errors import StorageError

__all__ = ["Reopen", "ReopenOutcome", "Reopener"]


class Reopen(enum.StrEnum):
    """What ``Reopener.reopen`` found, and so what becomes of the task's dead letter."""

    #: FAILURE → PENDING with no attempts and the OS locked again: send the message.
    REOPENED = "reopened"
    #: Still waiting or running (its message was dead-lettered anyway): send it again.
    ACTIVE = "active"
    #: Finished successfully: nothing left to run.
    DONE = "done"
    #: Another active task holds the OS and will scrape it: the task stays failed.
    SUPERSEDED = "superseded"
    #: The OS is in the cache (scraped, or "not found", since): the task stays failed.
    CACHED = "cached"
    #: No such task (expired after its retention).
    MISSING = "missing"


@dataclass(frozen=True)
class ReopenOutcome:
    result: Reopen
    task: TaskRecord | None = None
    #: The active task that holds the OS (SUPERSEDED).
    holder: str | None = None


class Reopener:
    """Makes FAILURE tasks runnable again."""

    def __init__(
        self,
        models: Models,
        tasks: TaskStore,
        cache: OsCache,
        locks: Locks,
        *,
        task_retention_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        self.tasks = tasks
        self.cache = cache
        self.locks = locks
        self.task_retention = task_retention_seconds
        self.clock = clock

    def reopen(self, task_id: str, lane: Lane) -> ReopenOutcome:
        """Let a FAILURE task run again in ``lane``.

        It moves to PENDING with no attempts, its OS's lock taken (free, expired or
        already its own) and the OS checked still not cached: with another active task
        holding the OS, or a fresh cache entry, the task stays FAILURE (``SUPERSEDED``,
        ``CACHED``).
        """
        if lane not in tuple(Lane):
            raise ValueError(f"unknown lane {lane!r}")
        Task = self.m.Task
        for round_ in range(MAX_ROUNDS):
            task = self.tasks.get_task(task_id)
            if task is None:
                return ReopenOutcome(Reopen.MISSING)
            if task.status == TaskStatus.SUCCESS.value:
                return ReopenOutcome(Reopen.DONE, task)
            if task.status != TaskStatus.FAILURE.value:
                return ReopenOutcome(Reopen.ACTIVE, task)
            now = self.clock()
            group, order = place(lane, now)
            item = Task(task.pk)
            try:
                with transaction(self.m) as tx:
                    self.cache.check_cold(tx, task.numero_os, now)
                    self.locks.take(tx, "lock", task.numero_os, task.pk, now, reentrant=True)
                    tx.update(
                        "task",
                        item,
                        [
                            Task.status.set(TaskStatus.PENDING.value),
                            Task.attempts.set(0),
                            Task.progress.set(0),
                            Task.step.set("queued"),
                            Task.error.remove(),
                            Task.error_reason.remove(),
                            Task.error_detail.remove(),
                            Task.started_at.remove(),
                            Task.finished_at.remove(),
                            Task.queue.set(lane),
                            Task.lane.set(lane),
                            Task.queued_at.set(now),
                            Task.queue_group.set(group),
                            Task.queue_order.set(order),
                            Task.updated_at.set(now),
                            Task.expires_at.set(ttl(now + self.task_retention)),
                        ],
                        condition=Task.status == TaskStatus.FAILURE.value,
                    )
                item.refresh(consistent_read=True)
                return ReopenOutcome(Reopen.REOPENED, from_item(TaskRecord, item))
            except Cancelled as cancelled:
                if cancelled.conflict:
                    pause(round_)
                    continue
                if not cancelled.failed_names():
                    raise StorageError(f"reopening task failed: {cancelled}") from None
                if cancelled.failed("task"):
                    continue  # reopened or changed meanwhile: read it again
                cached = cancelled.failed("cache") and self.cache.fresh_record(task.numero_os)
                if cached:
                    return ReopenOutcome(Reopen.CACHED, task)
                if cancelled.failed("lock"):
                    holder = Locks.holder_in(cancelled, "lock")
                    return ReopenOutcome(Reopen.SUPERSEDED, task, holder)
            except PynamoDBException as exc:
                raise StorageError(f"reopening task failed: {exc.msg}") from exc
        raise StorageError(f"could not reopen task {task_id}")

"""A task's run: start an attempt, record progress, wait for a retry, finish.

Every write is conditioned on the task's status (``chalicelib.domain.tasks``), so a
duplicate delivery changes nothing. A task finishes in one transaction of at most four
items however many batches or users wait for it: the task, the lock's release, and the
cache entry and statistics of a scrape. Batches waiting for it count its outcome
afterwards (``waits.py``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from chalicelib.adapters.dynamo.cache import OsCache
from chalicelib.adapters.dynamo.locks import Locks
from chalicelib.adapters.dynamo.models import Models, ttl
from chalicelib.adapters.dynamo.records import from_item
from chalicelib.adapters.dynamo.retry import MAX_ROUNDS, pause
from chalicelib.adapters.dynamo.stats import ScrapeStats
from chalicelib.adapters.dynamo.tasks import TaskStore
from chalicelib.adapters.dynamo.transaction import Cancelled, Transaction, transaction
from chalicelib.domain.lanes import Lane
from chalicelib.domain.queueorder import GROUP_RETRY
from chalicelib.domain.records import TaskRecord
from chalicelib.domain.tasks import TERMINAL, TaskStatus, sources_of
from chalicelib.errors import StorageError

__all__ = ["DETAIL_CHARS", "MESSAGE_CHARS", "TaskRuns", "clip", "start_actions"]

#: Longest user-facing error and operator detail kept on a task item.
MESSAGE_CHARS = 500
DETAIL_CHARS = 2_000

#: The attributes a task only has while it waits in a queue.
_WAITING = {"queue": None, "queued_at": None, "queue_group": None, "queue_order": None}


def clip(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters (task items have a size budget)."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def start_actions(Task: Any, now: float) -> list:
    """The update that starts an attempt: STARTED, one more attempt, out of the queue."""
    return [
        Task.status.set(TaskStatus.STARTED.value),
        Task.attempts.add(1),
        Task.progress.set(5),
        Task.step.set("started"),
        Task.started_at.set(now),
        Task.updated_at.set(now),
        Task.queue.remove(),
        Task.queued_at.remove(),
        Task.queue_group.remove(),
        Task.queue_order.remove(),
    ]


def _never(task: TaskRecord) -> bool:
    return False


class TaskRuns:
    """The worker's writes on a task, and every way a task ends."""

    def __init__(
        self,
        models: Models,
        tasks: TaskStore,
        cache: OsCache,
        locks: Locks,
        stats: ScrapeStats,
        *,
        task_retention_seconds: int,
        stale_after_seconds: float = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        self.tasks = tasks
        self.cache = cache
        self.locks = locks
        self.stats = stats
        self.task_retention = task_retention_seconds
        #: A running task silent this long has lost its worker (the worker's time limit).
        self.stale_after = stale_after_seconds
        self.clock = clock

    # ------------------------------------------------------------- attempts
    def start(self, task_id: str) -> TaskRecord | None:
        """Move a task to STARTED and count the attempt; None if it may not start.

        A started task starts again only once it has been silent for ``stale_after``
        seconds (its worker died): a second message for a task being scraped (one sent
        when the task moved to an earlier lane) never starts a second scrape.
        """
        Task = self.m.Task
        now = self.clock()
        task = Task(task_id)
        try:
            task.update(
                actions=start_actions(Task, now),
                condition=(
                    Task.status.is_in(TaskStatus.PENDING.value, TaskStatus.RETRY.value)
                    | (
                        Task.status.is_in(TaskStatus.STARTED.value, TaskStatus.PROGRESS.value)
                        & (Task.updated_at < now - self.stale_after)
                    )
                )
                & (Task.kind == "task"),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise StorageError(f"starting task failed: {exc.msg}") from exc
        return from_item(TaskRecord, task)

    def record_progress(self, task_id: str, step: str, percent: int) -> TaskRecord | None:
        """Record a step; returns the task as written (with its current subscribers), or
        None if it had finished meanwhile."""
        return self._update(
            task_id,
            {
                "status": TaskStatus.PROGRESS.value,
                "progress": percent,
                "step": step,
                "updated_at": self.clock(),
            },
            TaskStatus.PROGRESS,
            "recording progress failed",
        )

    def mark_retry(
        self,
        task: TaskRecord,
        *,
        message: str,
        detail: str,
        reason: str,
        delay_seconds: int,
    ) -> TaskRecord | None:
        """RETRY until the message comes back; listed in the index's retry partition (never
        counted in a position) so that ops can find it when purging its lane. None if the
        task had finished meanwhile."""
        now = self.clock()
        changes = {
            "status": TaskStatus.RETRY.value,
            "step": "retry",
            "error": clip(message, MESSAGE_CHARS),
            "error_detail": clip(detail, DETAIL_CHARS),
            "error_reason": reason,
            "updated_at": now,
            "queue_group": GROUP_RETRY,
            "queue_order": now + delay_seconds,
        }
        return self._update(task.pk, changes, TaskStatus.RETRY, "recording retry failed")

    def _update(
        self, task_id: str, changes: dict[str, Any], target: TaskStatus, failure: str
    ) -> TaskRecord | None:
        """Write ``changes`` if the task may move to ``target``; the task as written."""
        task = self.m.Task(task_id)
        try:
            task.update(
                actions=self._actions(changes),
                condition=self.m.Task.status.is_in(*sources_of(target)),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None  # finished meanwhile (a duplicate delivery): nothing to record
            raise StorageError(f"{failure}: {exc.msg}") from exc
        return from_item(TaskRecord, task)

    def _actions(self, changes: dict[str, Any]) -> list:
        """Update actions that give the task ``changes`` (None removes an attribute)."""
        Task = self.m.Task
        return [
            getattr(Task, name).remove() if value is None else getattr(Task, name).set(value)
            for name, value in changes.items()
        ]

    # -------------------------------------------------------------- finish
    def finish_success(
        self, task: TaskRecord, record: dict, duration_seconds: float
    ) -> TaskRecord | None:
        """Store the record, finish the task, free the OS and count the duration, atomically.

        Returns the task as finished (its waiting batches as they are now), or None if it
        had already finished (a duplicate delivery).
        """
        now = self.clock()
        changes = {
            "status": TaskStatus.SUCCESS.value,
            "progress": 100,
            "step": "done",
            "result": record,
            "finished_at": now,
            "updated_at": now,
            "expires_at": ttl(now + self.task_retention),
            "error": None,
            "error_reason": None,
            # error_detail stays: why an earlier attempt failed, for ops.
            "queue_group": None,
            "queue_order": None,
        }

        def writes(tx: Transaction) -> None:
            self.cache.put_scraped(tx, task.numero_os, record, task.pk, now)
            self.stats.count(tx, duration_seconds, now)

        return self._finish(task, changes, TaskStatus.SUCCESS, writes)

    def finish_failure(
        self, task: TaskRecord, *, message: str, detail: str, reason: str, negative: bool
    ) -> TaskRecord | None:
        """Fail the task and free the OS; ``negative`` also caches "not found" for a while.

        ``message`` is what users are told; ``detail`` (URLs, portal answers) is for ops.
        Returns the task as failed, or None if it had already finished.
        """
        now = self.clock()

        def writes(tx: Transaction) -> None:
            if negative:
                self.cache.put_not_found(tx, task.numero_os, task.pk, now)

        changes = self._failure(message, detail, reason, now)
        return self._finish(task, changes, TaskStatus.FAILURE, writes)

    def abandon(self, task: TaskRecord, message: str) -> TaskRecord | None:
        """Fail a task that never reached the queue and free its OS."""
        return self.finish_failure(
            task, message=message, detail=message, reason="enqueue_failed", negative=False
        )

    def cancel_waiting(self, task: TaskRecord, *, owner: str, message: str, reason: str) -> bool:
        """Fail a batch task of ``owner``'s that nobody else waits for, if it has not
        started, and free its OS; True if it did (a cancelled batch)."""
        Task = self.m.Task
        alone = (
            (Task.status == TaskStatus.PENDING.value)
            & (Task.queue == Lane.BATCH)
            & (Task.requesters.does_not_exist() | (size(Task.requesters) <= 1))
            & (Task.requesters.does_not_exist() | Task.requesters.contains(owner))
        )
        nobody_else = replace(task, waiters=0)  # and no other batch waits for it
        changes = self._failure(message, message, reason, self.clock())
        done = self._finish(
            nobody_else, changes, TaskStatus.FAILURE, _no_writes, condition=alone, still=_never
        )
        return done is not None

    def fail_waiting(self, task: TaskRecord, *, message: str, reason: str) -> TaskRecord | None:
        """Fail a task that waits (PENDING, or RETRY between attempts) and free its OS: ops
        dropped its message. None if it started or finished meanwhile."""
        waiting = (TaskStatus.PENDING.value, TaskStatus.RETRY.value)
        return self._finish(
            task,
            self._failure(message, message, reason, self.clock()),
            TaskStatus.FAILURE,
            _no_writes,
            condition=self.m.Task.status.is_in(*waiting),
            still=lambda current: current.status in waiting,
        )

    def _failure(self, message: str, detail: str, reason: str, now: float) -> dict[str, Any]:
        return {
            "status": TaskStatus.FAILURE.value,
            "step": "failed",
            "error": clip(message, MESSAGE_CHARS),
            "error_detail": clip(detail, DETAIL_CHARS),
            "error_reason": reason,
            "finished_at": now,
            "updated_at": now,
            "expires_at": ttl(now + self.task_retention),
            **_WAITING,
        }

    def _finish(
        self,
        task: TaskRecord,
        changes: dict[str, Any],
        target: TaskStatus,
        writes: Callable[[Transaction], None],
        *,
        condition: Any = None,
        still: Callable[[TaskRecord], bool] | None = None,
    ) -> TaskRecord | None:
        """Finish ``task`` in one small transaction: its update, ``writes`` and the lock's
        release (at most four items, however many batches or users wait for it).

        Returns None if the task was already terminal (a duplicate delivery), or if an
        extra ``condition`` failed and the task read back no longer passes ``still``. The
        update is conditioned on the number of waiting batches the caller knows
        (``task.waiters``), so a batch that joined meanwhile is read back and none is
        missed when they count the outcome; a lock that belongs to a newer task is kept.
        """
        Task = self.m.Task
        actions = self._actions(changes)
        with_lock = True
        for round_ in range(MAX_ROUNDS):
            known = int(task.waiters or 0)
            same_waiters = (
                Task.waiters == known
                if known
                else (Task.waiters.does_not_exist() | (Task.waiters == 0))
            )
            allowed = Task.status.is_in(*sources_of(target)) & same_waiters
            if condition is not None:
                allowed = allowed & condition
            try:
                with transaction(self.m) as tx:
                    tx.update("task", Task(task.pk), actions, condition=allowed)
                    if with_lock:
                        self.locks.release(tx, task.numero_os, task.pk)
                    writes(tx)
                return replace(task, **changes)
            except Cancelled as cancelled:
                if cancelled.conflict:
                    pause(round_)
                    continue
                if not cancelled.failed_names():
                    raise StorageError(f"finishing task failed: {cancelled}") from None
                if cancelled.failed("lock"):
                    with_lock = False  # the lock belongs to a newer task now: keep it
                if cancelled.failed("task"):
                    current = self.tasks.get_task(task.pk)
                    if current is None or TaskStatus(current.status) in TERMINAL:
                        return None  # already terminal: a duplicate delivery
                    if still is not None and not still(current):
                        return None
                    task = replace(task, waiters=current.waiters, batch_id=current.batch_id)
        raise StorageError(f"could not finish task {task.pk}")


def _no_writes(tx: Transaction) -> None:
    return None

"""DynamoDB adapter for tasks, per-OS locks, the OS cache and scrape statistics.

Thin I/O around the models in ``models.py``; the decisions live in ``tasks.py``,
``lookup.py`` and ``worker.py``. PynamoDB errors become ``StorageError`` here.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Callable

from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.errors import StorageError
from chalicelib.models import Models, lock_key, stats_key
from chalicelib.tasks import ACTIVE, TaskStatus, sources_of

__all__ = ["CreateOutcome", "Store"]

QUEUE_STANDARD = "standard"


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _hour(epoch: float) -> str:
    return time.strftime("%Y%m%d%H", time.gmtime(epoch))


def _failed(reason: Any) -> bool:
    return bool(reason) and reason.code == "ConditionalCheckFailed"


@dataclass(frozen=True)
class CreateOutcome:
    """Result of asking for a task: the task, and whether this call created it."""

    task: Any
    created: bool
    #: A fresh cache entry won the race (the transaction saw it): serve it instead.
    cached: Any = None


class Store:
    """All DynamoDB reads and writes raspa makes."""

    def __init__(
        self,
        models: Models,
        *,
        cache_ttl_seconds: int,
        not_found_ttl_seconds: int,
        task_retention_seconds: int,
        lock_ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        self.cache_ttl = cache_ttl_seconds
        self.not_found_ttl = not_found_ttl_seconds
        self.task_retention = task_retention_seconds
        self.lock_ttl = lock_ttl_seconds
        self.clock = clock

    # ----------------------------------------------------------------- OS cache
    def fresh_record(self, numero_os: str) -> Any | None:
        """The cached OS item if it has not expired (TTL deletion is lazy), else None."""
        item = self.any_record(numero_os)
        if item is None or item.expires_at.timestamp() <= self.clock():
            return None
        return item

    def any_record(self, numero_os: str) -> Any | None:
        """The stored OS item, fresh or not (for ``GET /os``), or None."""
        try:
            item = self.m.OsRecord.get(numero_os)
        except self.m.OsRecord.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"reading OS {numero_os} failed: {exc.msg}") from exc
        return item

    # -------------------------------------------------------------------- tasks
    def get_task(self, task_id: str) -> Any | None:
        if not task_id or task_id.startswith(("os#", "stats#")):
            return None
        try:
            task = self.m.Task.get(task_id)
        except self.m.Task.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"reading task failed: {exc.msg}") from exc
        return task if task.kind == "task" else None

    def create_or_join(
        self, numero_os: str, *, requested_by: str | None = None, respect_cache: bool = True
    ) -> CreateOutcome:
        """Create the one active task for ``numero_os``, or return the one that exists.

        One transaction puts the lock and the task (and checks the cache is still
        cold), so any number of concurrent callers create exactly one task.
        """
        Lock, Task, OsRecord = self.m.Lock, self.m.Task, self.m.OsRecord
        for _ in range(5):
            now = self.clock()
            task_id = uuid.uuid4().hex
            task = Task(
                task_id,
                numero_os=numero_os,
                status=TaskStatus.PENDING.value,
                progress=0,
                step="queued",
                attempts=0,
                requested_by=requested_by,
                created_at=now,
                updated_at=now,
                queue=QUEUE_STANDARD,
                queued_at=now,
                expires_at=_ts(now + self.task_retention),
            )
            lock = Lock(
                lock_key(numero_os),
                task_id=task_id,
                created_at=now,
                expires_at=_ts(now + self.lock_ttl),
            )
            try:
                with TransactWrite(connection=Task._get_connection().connection) as tx:
                    tx.save(
                        lock,
                        condition=Lock.pk.does_not_exist() | (Lock.expires_at < _ts(now)),
                        return_values="ALL_OLD",
                    )
                    tx.save(task, condition=Task.pk.does_not_exist())
                    if respect_cache:
                        tx.condition_check(
                            OsRecord,
                            numero_os,
                            condition=OsRecord.numero_os.does_not_exist()
                            | (OsRecord.expires_at <= _ts(now)),
                        )
                return CreateOutcome(task, True)
            except TransactWriteError as exc:
                # PynamoDB sends condition checks first, then puts: [cache?, lock, task].
                reasons = exc.cancellation_reasons or []
                cache_reason = reasons[0] if respect_cache and reasons else None
                lock_reason = reasons[1 if respect_cache else 0] if reasons else None
                if _failed(cache_reason):
                    cached = self.fresh_record(numero_os)
                    if cached is not None:
                        return CreateOutcome(None, False, cached=cached)
                    continue
                if not _failed(lock_reason):
                    raise StorageError(f"creating task failed: {exc.msg}") from exc
                old = lock_reason.raw_item or {}
                existing_id = old.get("task_id", {}).get("S")
                existing = self.get_task(existing_id) if existing_id else None
                if existing is not None and TaskStatus(existing.status) in ACTIVE:
                    return CreateOutcome(existing, False)
                # The lock's task just finished and released it: try again.
            except PynamoDBException as exc:
                raise StorageError(f"creating task failed: {exc.msg}") from exc
        raise StorageError(f"could not create or join a task for OS {numero_os}")

    def abandon(self, task: Any, message: str) -> None:
        """Mark a task that never reached the queue FAILURE and free its OS."""
        self.finish_failure(task, message=message, reason="enqueue_failed", negative=False)

    def queue_position(self, task: Any) -> int:
        """How many waiting tasks were queued before this one (0 once it has started)."""
        if task.status != TaskStatus.PENDING.value or task.queued_at is None:
            return 0
        Task = self.m.Task
        try:
            return Task.queue_index.count(
                task.queue or QUEUE_STANDARD, Task.queued_at < task.queued_at
            )
        except PynamoDBException as exc:
            raise StorageError(f"counting the queue failed: {exc.msg}") from exc

    def start(self, task_id: str) -> Any | None:
        """Move a task to STARTED and count the attempt; None if it may not start."""
        Task = self.m.Task
        now = self.clock()
        task = Task(task_id)
        try:
            task.update(
                actions=[
                    Task.status.set(TaskStatus.STARTED.value),
                    Task.attempts.add(1),
                    Task.progress.set(5),
                    Task.step.set("started"),
                    Task.started_at.set(now),
                    Task.updated_at.set(now),
                    Task.queue.remove(),
                    Task.queued_at.remove(),
                ],
                condition=Task.status.is_in(*sources_of(TaskStatus.STARTED))
                & (Task.kind == "task"),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise StorageError(f"starting task failed: {exc.msg}") from exc
        return task

    def record_progress(self, task_id: str, step: str, percent: int) -> None:
        Task = self.m.Task
        try:
            Task(task_id).update(
                actions=[
                    Task.status.set(TaskStatus.PROGRESS.value),
                    Task.progress.set(percent),
                    Task.step.set(step),
                    Task.updated_at.set(self.clock()),
                ],
                condition=Task.status.is_in(*sources_of(TaskStatus.PROGRESS)),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return  # finished meanwhile (a duplicate delivery): progress no longer matters
            raise StorageError(f"recording progress failed: {exc.msg}") from exc

    def mark_retry(self, task: Any, *, message: str, reason: str, delay_seconds: int) -> None:
        Task = self.m.Task
        now = self.clock()
        try:
            task.update(
                actions=[
                    Task.status.set(TaskStatus.RETRY.value),
                    Task.step.set("retry"),
                    Task.error.set(message),
                    Task.error_reason.set(reason),
                    Task.updated_at.set(now),
                ],
                condition=Task.status.is_in(*sources_of(TaskStatus.RETRY)),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return
            raise StorageError(f"recording retry failed: {exc.msg}") from exc

    def finish_success(self, task: Any, record: dict, duration_seconds: float) -> bool:
        """Store the record, finish the task, free the OS and count the duration, atomically.

        Returns False if the task had already finished (a duplicate delivery).
        """
        now = self.clock()
        OsRecord, Task, Stats = self.m.OsRecord, self.m.Task, self.m.Stats
        os_item = OsRecord(
            task.numero_os,
            outcome="ok",
            data=record,
            scraped_at=now,
            task_id=task.pk,
            expires_at=_ts(now + self.cache_ttl),
        )
        task_actions = [
            Task.status.set(TaskStatus.SUCCESS.value),
            Task.progress.set(100),
            Task.step.set("done"),
            Task.result.set(record),
            Task.finished_at.set(now),
            Task.updated_at.set(now),
            Task.error.remove(),
            Task.error_reason.remove(),
        ]
        stats = Stats(stats_key(_hour(now)))
        stats_actions = [
            Stats.scrapes.add(1),
            Stats.seconds.add(round(duration_seconds, 3)),
            Stats.kind.set("stats"),
            Stats.expires_at.set(_ts(now + 2 * 86_400)),
        ]

        def writes(tx: TransactWrite, with_lock: bool) -> None:
            tx.update(
                task, task_actions, condition=Task.status.is_in(*sources_of(TaskStatus.SUCCESS))
            )
            tx.save(os_item)
            tx.update(stats, stats_actions)
            if with_lock:
                tx.delete(
                    self.m.Lock(lock_key(task.numero_os)), condition=self.m.Lock.task_id == task.pk
                )

        return self._finish(writes)

    def finish_failure(self, task: Any, *, message: str, reason: str, negative: bool) -> bool:
        """Fail the task and free the OS; ``negative`` also caches "not found" for a while."""
        now = self.clock()
        OsRecord, Task = self.m.OsRecord, self.m.Task
        actions = [
            Task.status.set(TaskStatus.FAILURE.value),
            Task.step.set("failed"),
            Task.error.set(message),
            Task.error_reason.set(reason),
            Task.finished_at.set(now),
            Task.updated_at.set(now),
            Task.queue.remove(),
            Task.queued_at.remove(),
        ]

        def writes(tx: TransactWrite, with_lock: bool) -> int:
            tx.update(task, actions, condition=Task.status.is_in(*sources_of(TaskStatus.FAILURE)))
            if negative:
                tx.save(
                    OsRecord(
                        task.numero_os,
                        outcome="not_found",
                        data=None,
                        scraped_at=now,
                        task_id=task.pk,
                        expires_at=_ts(now + self.not_found_ttl),
                    )
                )
            return self._release(tx, task, with_lock) + int(negative)

        return self._finish(writes)

    def _release(self, tx: TransactWrite, task: Any, with_lock: bool) -> int:
        """Add the lock's release to ``tx`` (only if it is still this task's); returns 0 or 1."""
        if not with_lock:
            return 0
        Lock = self.m.Lock
        tx.delete(Lock(lock_key(task.numero_os)), condition=Lock.task_id == task.pk)
        return 1

    def _finish(self, writes: Callable[[TransactWrite, bool], int]) -> bool:
        """Run a finishing transaction; False if the task was already terminal.

        ``writes`` adds the items and returns how many deletes and puts precede the
        task's update (PynamoDB sends checks, deletes, puts, then updates).
        """
        connection = self.m.Task._get_connection().connection
        for with_lock in (True, False):
            try:
                with TransactWrite(connection=connection) as tx:
                    task_index = writes(tx, with_lock)
                return True
            except TransactWriteError as exc:
                reasons = exc.cancellation_reasons or []
                if not any(_failed(r) for r in reasons):
                    raise StorageError(f"finishing task failed: {exc.msg}") from exc
                if len(reasons) > task_index and _failed(reasons[task_index]):
                    return False  # already terminal: a duplicate delivery
                # Only the lock's condition failed: it belongs to a newer task now; keep it.
            except PynamoDBException as exc:
                raise StorageError(f"finishing task failed: {exc.msg}") from exc
        return False

    # -------------------------------------------------------------------- stats
    def mean_scrape_seconds(self) -> float | None:
        """Mean scrape duration over this hour and the previous one, or None if unmeasured."""
        now = self.clock()
        keys = [stats_key(_hour(now)), stats_key(_hour(now - 3600))]
        try:
            items = list(self.m.Stats.batch_get(keys))
        except PynamoDBException as exc:
            raise StorageError(f"reading scrape statistics failed: {exc.msg}") from exc
        scrapes = sum(int(i.scrapes or 0) for i in items)
        seconds = sum(float(i.seconds or 0) for i in items)
        return seconds / scrapes if scrapes else None

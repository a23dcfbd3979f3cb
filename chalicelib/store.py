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

from chalicelib.errors import RateLimitedError, StorageError
from chalicelib.models import Models, lock_key, rate_key, stats_key
from chalicelib.ratelimit import RatePolicy, choose_slot
from chalicelib.tasks import ACTIVE, TaskStatus, is_task_id, sources_of

__all__ = ["CreateOutcome", "Store"]

QUEUE_STANDARD = "standard"
QUEUE_VIP = "vip"
#: Rounds of "read slots, try the transaction" before giving up under extreme contention.
MAX_ROUNDS = 50


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
        if not is_task_id(task_id):
            return None  # not a task id (nor a lock, counter or slot key): no such task
        try:
            task = self.m.Task.get(task_id)
        except self.m.Task.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"reading task failed: {exc.msg}") from exc
        return task if task.kind == "task" else None

    def create_or_join(
        self,
        numero_os: str,
        *,
        requested_by: str | None = None,
        respect_cache: bool = True,
        lane: str = QUEUE_STANDARD,
        rate: RatePolicy | None = None,
    ) -> CreateOutcome:
        """Create the one active task for ``numero_os``, or join the one that exists.

        One transaction puts the lock and the task, checks the cache is still cold and,
        with a ``rate`` policy, takes a free rate-limit slot: any number of concurrent
        callers create exactly one task, and a user never starts more scrapes than the
        limit. Joining adds the caller to the task's requesters and costs no slot.
        Raises ``RateLimitedError`` when a new task is needed but no slot is free.
        """
        Lock, Task, OsRecord = self.m.Lock, self.m.Task, self.m.OsRecord
        for _ in range(MAX_ROUNDS):
            now = self.clock()
            slot = None
            if rate is not None:
                choice = choose_slot(self._slots(rate), rate, now)
                if choice.slot is None:
                    joined = self._join_active(numero_os, requested_by)
                    if joined is not None:
                        return CreateOutcome(joined, False)
                    raise RateLimitedError(choice.retry_after, rate.limit, rate.window_seconds)
                slot = choice.slot
            task_id = uuid.uuid4().hex
            task = Task(
                task_id,
                numero_os=numero_os,
                status=TaskStatus.PENDING.value,
                progress=0,
                step="queued",
                attempts=0,
                requested_by=requested_by,
                requesters={requested_by} if requested_by else None,
                created_at=now,
                updated_at=now,
                queue=lane,
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
                    if respect_cache:
                        tx.condition_check(
                            OsRecord,
                            numero_os,
                            condition=OsRecord.numero_os.does_not_exist()
                            | (OsRecord.expires_at <= _ts(now)),
                        )
                    tx.save(
                        lock,
                        condition=Lock.pk.does_not_exist() | (Lock.expires_at < _ts(now)),
                        return_values="ALL_OLD",
                    )
                    tx.save(task, condition=Task.pk.does_not_exist())
                    if rate is not None and slot is not None:
                        RateSlot = self.m.RateSlot
                        tx.save(
                            RateSlot(
                                rate_key(rate.user, slot),
                                used_at=now,
                                expires_at=_ts(now + rate.window_seconds),
                            ),
                            condition=RateSlot.pk.does_not_exist()
                            | (RateSlot.used_at <= now - rate.window_seconds),
                        )
                return CreateOutcome(task, True)
            except TransactWriteError as exc:
                # PynamoDB sends condition checks first, then puts: [cache?, lock, task, slot?].
                reasons = list(exc.cancellation_reasons or [])
                offset = 1 if respect_cache else 0
                cache_reason = reasons[0] if respect_cache and reasons else None
                lock_reason = reasons[offset] if len(reasons) > offset else None
                if _failed(cache_reason):
                    cached = self.fresh_record(numero_os)
                    if cached is not None:
                        return CreateOutcome(None, False, cached=cached)
                    continue
                if _failed(lock_reason):
                    old = lock_reason.raw_item or {}
                    existing_id = old.get("task_id", {}).get("S")
                    joined = self._join(existing_id, requested_by) if existing_id else None
                    if joined is not None:
                        return CreateOutcome(joined, False)
                    continue  # the lock's task just finished and released it: try again
                if not any(_failed(r) for r in reasons):
                    raise StorageError(f"creating task failed: {exc.msg}") from exc
                # Only the rate slot was taken meanwhile by a concurrent request: read again.
            except PynamoDBException as exc:
                raise StorageError(f"creating task failed: {exc.msg}") from exc
        raise StorageError(f"could not create or join a task for OS {numero_os}")

    def _slots(self, rate: RatePolicy) -> dict[int, float]:
        """When each of the user's slots was last taken (one BatchGetItem)."""
        keys = [rate_key(rate.user, i) for i in range(rate.limit)]
        try:
            items = list(self.m.RateSlot.batch_get(keys))
        except PynamoDBException as exc:
            raise StorageError(f"reading rate limits failed: {exc.msg}") from exc
        return {int(item.pk.rsplit("#", 1)[1]): float(item.used_at) for item in items}

    def _join_active(self, numero_os: str, user: str | None) -> Any | None:
        """Join the OS's active task, if there is one (for a user out of slots)."""
        try:
            lock = self.m.Lock.get(lock_key(numero_os))
        except self.m.Lock.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"reading lock failed: {exc.msg}") from exc
        return self._join(lock.task_id, user)

    def _join(self, task_id: str, user: str | None) -> Any | None:
        """Add ``user`` to an active task's requesters; None if it is not active any more."""
        Task = self.m.Task
        task = Task(task_id)
        try:
            actions = [Task.updated_at.set(self.clock())]
            if user:
                actions.append(Task.requesters.add({user}))
            task.update(actions=actions, condition=Task.status.is_in(*[s.value for s in ACTIVE]))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise StorageError(f"joining task failed: {exc.msg}") from exc
        return task

    def can_see(self, task: Any, user: str | None) -> bool:
        """Whether ``user`` asked for this task (only they may see it)."""
        return user is not None and user in (task.requesters or set())

    def abandon(self, task: Any, message: str) -> None:
        """Mark a task that never reached the queue FAILURE and free its OS."""
        self.finish_failure(task, message=message, reason="enqueue_failed", negative=False)

    def queue_position(self, task: Any) -> int:
        """Waiting tasks that will start before this one (0 once it has started).

        VIP tasks wait only behind earlier VIP tasks; standard ones behind earlier
        standard tasks and every waiting VIP task.
        """
        if task.status != TaskStatus.PENDING.value or task.queued_at is None:
            return 0
        Task = self.m.Task
        lane = task.queue or QUEUE_STANDARD
        try:
            ahead = Task.queue_index.count(lane, Task.queued_at < task.queued_at)
            if lane != QUEUE_VIP:
                ahead += Task.queue_index.count(QUEUE_VIP)
        except PynamoDBException as exc:
            raise StorageError(f"counting the queue failed: {exc.msg}") from exc
        return ahead

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

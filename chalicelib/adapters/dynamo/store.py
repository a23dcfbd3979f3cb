"""DynamoDB adapter for tasks, per-OS locks, the OS cache and scrape statistics.

Thin I/O around the models in ``models.py``; the decisions live in ``tasks.py``,
``lookup.py`` and ``worker.py``. PynamoDB errors become ``StorageError`` here.
"""

from __future__ import annotations

import enum
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Callable, Iterator

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.expressions.condition import size

from chalicelib.adapters.dynamo.models import Models, lock_key, rate_key, requester_key, stats_key
from chalicelib.adapters.dynamo.transaction import Cancelled, Transaction
from chalicelib.domain.queueorder import (
    GROUP_BATCH,
    GROUP_HELD,
    GROUP_INTERACTIVE,
    GROUP_RETRY,
    LANE_ORDER,
    QUEUE_BATCH,
    QUEUE_STANDARD,
    band,
    place,
)
from chalicelib.domain.ratelimit import Admission, RatePolicy, admit
from chalicelib.domain.tasks import ACTIVE, TERMINAL, TaskStatus, is_task_id, sources_of
from chalicelib.errors import RateLimitedError, StorageError

__all__ = ["CreateOutcome", "Promotion", "RateState", "Reopen", "ReopenOutcome", "Store"]

#: Rounds of "read the rate log, try the transaction" before giving up under contention.
MAX_ROUNDS = 50


@dataclass(frozen=True)
class RateState:
    """A user's rate log as read: recent scrape starts and the item's version (0: none)."""

    starts: tuple[float, ...] = ()
    version: int = 0


def _rate_state(model: Any, item: Any) -> RateState:
    """A rate log item (a model instance, or raw as DynamoDB returned it) as a state."""
    if not item:
        return RateState()
    if isinstance(item, dict):
        item = model.from_raw_data(item)
    return RateState(tuple(float(t) for t in item.starts or ()), int(item.version or 0))


def new_task(
    Task: Any,
    task_id: str,
    numero_os: str,
    lane: str,
    requested_by: str | None,
    now: float,
    retention: float,
    batch_id: str | None = None,
    fair_key: float | None = None,
) -> Any:
    """A task waiting in ``lane``, placed in the queue index (not yet written).

    With a ``fair_key`` (batch tasks) it is *held* in the batch lane's fair order until
    it is released, and has no expiry until then (it may wait longer than the retention).
    """
    if fair_key is None:
        group, order = place(lane, now)
    else:
        group, order = GROUP_HELD, fair_key
    return Task(
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
        lane=lane,
        queued_at=now,
        queue_group=group,
        queue_order=order,
        batch_id=batch_id,
        waiters=0,
        expires_at=None if fair_key is not None else _ts(now + retention),
    )


def clip(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters (task items have a size budget)."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


#: Longest user-facing error and operator detail kept on a task item.
MESSAGE_CHARS = 500
DETAIL_CHARS = 2_000


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _hour(epoch: float) -> str:
    return time.strftime("%Y%m%d%H", time.gmtime(epoch))


def _never(task: Any) -> bool:
    return False


def _pause(round_: int) -> None:
    time.sleep(min(0.5, 0.01 * 2**round_) * random.random())  # noqa: S311 - jitter


@dataclass(frozen=True)
class CreateOutcome:
    """Result of asking for a task: the task, and whether this call created it."""

    task: Any
    created: bool
    #: A fresh cache entry won the race (the transaction saw it): serve it instead.
    cached: Any = None


class Promotion(enum.StrEnum):
    """What ``Store.promote`` did with a waiting task a caller joined from an earlier lane."""

    #: Moved to the caller's lane (and counted against the caller's rate limit).
    PROMOTED = "promoted"
    #: Already in that lane or an earlier one, or not waiting: nothing to move.
    NOT_NEEDED = "not_needed"
    #: The caller's rate window is full: the task stays in its lane.
    RATE_LIMITED = "rate_limited"
    #: It started, or was moved by someone else, meanwhile.
    MISSED = "missed"


class Reopen(enum.StrEnum):
    """What ``Store.reopen`` found, and so what becomes of the task's dead letter."""

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
    task: Any = None
    #: The active task that holds the OS (SUPERSEDED).
    holder: str | None = None


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
        stale_after_seconds: float = 300,
        max_requesters: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        #: Users kept on the task item; more are recorded beside it (``Requester`` items).
        self.max_requesters = max_requesters
        #: A running task silent this long has lost its worker (the worker's time limit).
        self.stale_after = stale_after_seconds
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
            # Strongly consistent: a task just created or finished reads as it is now.
            task = self.m.Task.get(task_id, consistent_read=True)
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
        rate_log: RateState | None = None,
    ) -> CreateOutcome:
        """Create the one active task for ``numero_os``, or join the one that exists.

        One transaction puts the lock and the task, checks the cache is still cold and,
        with a ``rate`` policy, adds the start to the caller's rate log (``_add_start``;
        ``rate_log`` is the log if the caller read it already): any
        number of concurrent callers create exactly one task, and a user never starts
        more scrapes than the limit. Joining adds the caller to the task's requesters and
        costs nothing. Raises ``RateLimitedError`` when a new task is needed but the
        window is full.
        """
        Lock, Task, OsRecord = self.m.Lock, self.m.Task, self.m.OsRecord
        for round_ in range(MAX_ROUNDS):
            now = self.clock()
            log = None
            if rate is not None:
                state = rate_log if rate_log is not None else self.rate_state(rate.user)
                rate_log = None  # a later round reads it again, consistently
                admission = admit(state.starts, rate, now)
                if admission.starts is None:
                    joined = self._join_active(numero_os, requested_by)
                    if joined is not None:
                        return CreateOutcome(joined, False)
                    raise RateLimitedError(admission.retry_after, rate.limit, rate.window_seconds)
                log = (state, admission)
            task_id = uuid.uuid4().hex
            task = new_task(Task, task_id, numero_os, lane, requested_by, now, self.task_retention)
            lock = Lock(
                lock_key(numero_os),
                task_id=task_id,
                created_at=now,
                expires_at=_ts(now + self.lock_ttl),
            )
            try:
                with Transaction(self._connection()) as tx:
                    if respect_cache:
                        tx.check(
                            "cache",
                            OsRecord,
                            numero_os,
                            condition=OsRecord.numero_os.does_not_exist()
                            | (OsRecord.expires_at <= _ts(now)),
                        )
                    tx.save(
                        "lock",
                        lock,
                        condition=Lock.pk.does_not_exist() | (Lock.expires_at < _ts(now)),
                        old=True,
                    )
                    tx.save("task", task, condition=Task.pk.does_not_exist())
                    if rate is not None and log is not None:
                        self._add_start(tx, rate, *log, now)
                return CreateOutcome(task, True)
            except Cancelled as cancelled:
                if cancelled.conflict:
                    _pause(round_)  # a concurrent transaction on the lock or the rate log
                    continue
                if cancelled.failed("cache"):
                    cached = self.fresh_record(numero_os)
                    if cached is not None:
                        return CreateOutcome(None, False, cached=cached)
                    continue
                if cancelled.failed("lock"):
                    existing_id = cancelled.old_item("lock").get("task_id", {}).get("S")
                    joined = self._join(existing_id, requested_by) if existing_id else None
                    if joined is not None:
                        return CreateOutcome(joined, False)
                    continue  # the lock's task just finished and released it: try again
                if not cancelled.failed("rate"):
                    raise StorageError(f"creating task failed: {cancelled}") from None
                # Only the rate log changed meanwhile (the same user's concurrent request):
                # try again with the log as it is now, returned with the cancellation.
                rate_log = _rate_state(self.m.RateLog, cancelled.old_item("rate"))
                _pause(round_)
        raise StorageError(f"could not create or join a task for OS {numero_os}")

    def _add_start(
        self,
        tx: Transaction,
        rate: RatePolicy,
        read: RateState,
        admission: Admission,
        now: float,
    ) -> None:
        """Add a scrape start to the user's rate log inside ``tx``, exact under concurrency.

        Usually an append, on condition that the list holds fewer than the limit plus the
        starts already out of the window when read (only a rewrite removes entries, and it
        bumps ``version``): concurrent lookups of one user each append once, without
        conflicting until the window is full. A new log, or one holding as many old starts
        as the limit, is rewritten whole, on condition that nothing changed since the read.
        """
        RateLog = self.m.RateLog
        expires = _ts(now + rate.window_seconds)
        if read.version and admission.expired < rate.limit:
            tx.update(
                "rate",
                RateLog(rate_key(rate.user)),
                [
                    RateLog.starts.set(RateLog.starts.append([now])),
                    RateLog.expires_at.set(expires),
                ],
                condition=(RateLog.version == read.version)
                & (size(RateLog.starts) < rate.limit + admission.expired),
                old=True,
            )
            return
        tx.save(
            "rate",
            RateLog(
                rate_key(rate.user),
                starts=list(admission.starts or ()),
                version=read.version + 1,
                expires_at=expires,
            ),
            condition=RateLog.pk.does_not_exist()
            if not read.version
            else (RateLog.version == read.version) & (size(RateLog.starts) == len(read.starts)),
            old=True,
        )

    def rate_state(self, user: str) -> RateState:
        """The user's rate log as it is now (strongly consistent)."""
        try:
            item = self.m.RateLog.get(rate_key(user), consistent_read=True)
        except self.m.RateLog.DoesNotExist:
            return RateState()
        except PynamoDBException as exc:
            raise StorageError(f"reading rate limits failed: {exc.msg}") from exc
        return _rate_state(self.m.RateLog, item)

    def read_for_lookup(
        self, numero_os: str, user: str | None
    ) -> tuple[Any | None, RateState | None]:
        """The OS's fresh cached record and ``user``'s rate log, in one BatchGetItem: a
        cache hit costs one read, and a miss has what its transaction needs."""
        if user is None:
            return self.fresh_record(numero_os), None
        OsRecord, RateLog = self.m.OsRecord, self.m.RateLog
        wanted = {
            OsRecord.Meta.table_name: {"Keys": [{"numero_os": {"S": numero_os}}]},
            RateLog.Meta.table_name: {"Keys": [{"pk": {"S": rate_key(user)}}]},
        }
        client = OsRecord._get_connection().connection.client
        record, state = None, RateState()
        try:
            for round_ in range(MAX_ROUNDS):
                answer = client.batch_get_item(RequestItems=wanted)
                for table, items in answer.get("Responses", {}).items():
                    for raw in items:
                        if table == RateLog.Meta.table_name and "pk" in raw:
                            state = _rate_state(RateLog, raw)
                        elif table == OsRecord.Meta.table_name and "numero_os" in raw:
                            record = OsRecord.from_raw_data(raw)
                wanted = answer.get("UnprocessedKeys") or {}
                if not wanted:
                    break
                _pause(round_)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"reading OS {numero_os} failed: {exc}") from exc
        if record is not None and record.expires_at.timestamp() <= self.clock():
            record = None
        return record, state

    def _join_active(self, numero_os: str, user: str | None) -> Any | None:
        """Join the OS's active task, if there is one (for a user out of slots)."""
        try:
            lock = self.m.Lock.get(lock_key(numero_os))
        except self.m.Lock.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"reading lock failed: {exc.msg}") from exc
        return self._join(lock.task_id, user)

    def promote(
        self,
        task: Any,
        lane: str,
        *,
        rate: RatePolicy | None = None,
        rate_log: RateState | None = None,
    ) -> Promotion:
        """Move a waiting task to an earlier ``lane`` for a caller who joined it.

        Jumping the queue is a new interactive scrape: with a ``rate`` policy the move adds
        a start to the caller's rate log in the same transaction (as ``create_or_join``
        does), and a caller whose window is full joins without moving the task.
        """
        Task = self.m.Task
        current = task.queue or QUEUE_STANDARD
        if (
            task.status != TaskStatus.PENDING.value
            or lane not in LANE_ORDER
            or LANE_ORDER.index(lane) >= LANE_ORDER.index(current)
        ):
            return Promotion.NOT_NEEDED
        for round_ in range(MAX_ROUNDS):
            now = self.clock()
            log = None
            if rate is not None:
                state = rate_log if rate_log is not None else self.rate_state(rate.user)
                rate_log = None
                admission = admit(state.starts, rate, now)
                if admission.starts is None:
                    return Promotion.RATE_LIMITED
                log = (state, admission)
            group, order = place(lane, float(task.queued_at or now))
            try:
                with Transaction(self._connection()) as tx:
                    tx.update(
                        "task",
                        Task(task.pk),
                        [
                            Task.queue.set(lane),
                            Task.lane.set(lane),
                            Task.queue_group.set(group),
                            Task.queue_order.set(order),
                            Task.expires_at.set(_ts(now + self.task_retention)),
                        ],
                        condition=(Task.status == TaskStatus.PENDING.value)
                        & (Task.queue == current),
                    )
                    if rate is not None and log is not None:
                        self._add_start(tx, rate, *log, now)
            except Cancelled as cancelled:
                if cancelled.conflict:
                    _pause(round_)
                    continue
                if cancelled.failed("task"):
                    return Promotion.MISSED  # started meanwhile, or promoted by someone else
                if cancelled.failed("rate"):
                    rate_log = _rate_state(self.m.RateLog, cancelled.old_item("rate"))
                    _pause(round_)
                    continue
                raise StorageError(str(cancelled)) from None
            task.queue, task.lane, task.queue_group, task.queue_order = lane, lane, group, order
            return Promotion.PROMOTED
        raise StorageError(f"could not move task {task.pk} to the {lane} lane")

    def unpromote(self, task: Any, previous: tuple[Any, Any, Any, Any]) -> None:
        """Put a promoted task back where it waited (its message to the new lane failed)."""
        Task = self.m.Task
        queue, lane, group, order = previous
        try:
            Task(task.pk).update(
                actions=[
                    Task.queue.set(queue),
                    Task.lane.set(lane),
                    Task.queue_group.set(group),
                    Task.queue_order.set(order),
                ],
                condition=(Task.status == TaskStatus.PENDING.value) & (Task.queue == task.queue),
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise StorageError(f"moving a task back failed: {exc.msg}") from exc
        task.queue, task.lane, task.queue_group, task.queue_order = previous

    def _join(self, task_id: str, user: str | None) -> Any | None:
        """Add ``user`` to an active task's requesters; None if it is not active any more.

        The task item keeps at most ``max_requesters`` of them; a user beyond that is
        recorded in an item beside it, so nobody is refused and the item stays bounded.
        """
        Task = self.m.Task
        task = Task(task_id)
        active = Task.status.is_in(*[s.value for s in ACTIVE])
        actions = [Task.updated_at.set(self.clock())]
        room = active
        if user:
            actions.append(Task.requesters.add({user}))
            room = active & (
                Task.requesters.does_not_exist()
                | (size(Task.requesters) < self.max_requesters)
                | Task.requesters.contains(user)
            )
        try:
            task.update(actions=actions, condition=room)
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise StorageError(f"joining task failed: {exc.msg}") from exc
            current = self.get_task(task_id) if user else None
            if current is None or TaskStatus(current.status) not in ACTIVE:
                return None
            self._add_requester(current, user)  # the set is full: beside the item
            return current
        return task

    def _add_requester(self, task: Any, user: str | None) -> None:
        Requester = self.m.Requester
        expires = self.clock() + self.task_retention
        try:
            Requester(requester_key(task.pk, user or ""), expires_at=_ts(expires)).save()
        except PynamoDBException as exc:
            raise StorageError(f"recording a requester failed: {exc.msg}") from exc

    def can_see(self, task: Any, user: str | None) -> bool:
        """Whether ``user`` asked for this task (only they may see it)."""
        if user is None:
            return False
        if user in (task.requesters or set()):
            return True
        if len(task.requesters or ()) < self.max_requesters:
            return False  # the set has room, so nobody was recorded beside it
        try:
            self.m.Requester.get(requester_key(task.pk, user))
        except self.m.Requester.DoesNotExist:
            return False
        except PynamoDBException as exc:
            raise StorageError(f"reading requesters failed: {exc.msg}") from exc
        return True

    def abandon(self, task: Any, message: str) -> None:
        """Mark a task that never reached the queue FAILURE and free its OS."""
        self.finish_failure(
            task, message=message, detail=message, reason="enqueue_failed", negative=False
        )

    def reopen(self, task_id: str, lane: str) -> ReopenOutcome:
        """Let a FAILURE task run again, for ops redriving its dead letter after a fix.

        One transaction moves it to PENDING in ``lane`` with no attempts, takes its OS's
        lock (free, expired or already its own) and checks the OS is still not cached, so
        a redrive never makes a second scrape: with another active task holding the OS, or
        a fresh cache entry, the task stays FAILURE (``SUPERSEDED``, ``CACHED``).
        """
        if lane not in LANE_ORDER:
            raise ValueError(f"unknown lane {lane!r}")
        Task, Lock, OsRecord = self.m.Task, self.m.Lock, self.m.OsRecord
        for round_ in range(MAX_ROUNDS):
            task = self.get_task(task_id)
            if task is None:
                return ReopenOutcome(Reopen.MISSING)
            if task.status == TaskStatus.SUCCESS.value:
                return ReopenOutcome(Reopen.DONE, task)
            if task.status != TaskStatus.FAILURE.value:
                return ReopenOutcome(Reopen.ACTIVE, task)
            now = self.clock()
            group, order = place(lane, now)
            lock = Lock(
                lock_key(task.numero_os),
                task_id=task.pk,
                created_at=now,
                expires_at=_ts(now + self.lock_ttl),
            )
            try:
                with Transaction(self._connection()) as tx:
                    tx.check(
                        "cache",
                        OsRecord,
                        task.numero_os,
                        condition=OsRecord.numero_os.does_not_exist()
                        | (OsRecord.expires_at <= _ts(now)),
                    )
                    tx.save(
                        "lock",
                        lock,
                        condition=Lock.pk.does_not_exist()
                        | (Lock.expires_at < _ts(now))
                        | (Lock.task_id == task.pk),
                        old=True,
                    )
                    tx.update(
                        "task",
                        task,
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
                            Task.expires_at.set(_ts(now + self.task_retention)),
                        ],
                        condition=Task.status == TaskStatus.FAILURE.value,
                    )
                task.refresh(consistent_read=True)
                return ReopenOutcome(Reopen.REOPENED, task)
            except Cancelled as cancelled:
                if cancelled.conflict:
                    _pause(round_)
                    continue
                if not cancelled.failed_names():
                    raise StorageError(f"reopening task failed: {cancelled}") from None
                if cancelled.failed("task"):
                    continue  # reopened or changed meanwhile: read it again
                if cancelled.failed("cache") and self.fresh_record(task.numero_os) is not None:
                    return ReopenOutcome(Reopen.CACHED, task)
                if cancelled.failed("lock"):
                    holder = cancelled.old_item("lock").get("task_id", {}).get("S")
                    return ReopenOutcome(Reopen.SUPERSEDED, task, holder)
            except PynamoDBException as exc:
                raise StorageError(f"reopening task failed: {exc.msg}") from exc
        raise StorageError(f"could not reopen task {task_id}")

    def queue_position(self, task: Any) -> int:
        """Waiting tasks that will start before this one (0 once it has started).

        VIP tasks wait only behind earlier VIP tasks; standard ones behind earlier
        standard tasks and every waiting VIP task (one count over the queue index, whose
        sort key puts lanes in order); batch tasks also behind every interactive one: a
        released one behind the released before it, a held one behind every released one
        and the held ones before it in the fair order.
        """
        if task.status != TaskStatus.PENDING.value or task.queue_order is None:
            return 0
        Task = self.m.Task
        index = Task.queue_index
        try:
            ahead = index.count(task.queue_group, Task.queue_order < task.queue_order)
            if task.queue_group == GROUP_HELD:
                ahead += index.count(GROUP_BATCH)
            if task.queue_group != GROUP_INTERACTIVE:
                ahead += index.count(GROUP_INTERACTIVE)
        except PynamoDBException as exc:
            raise StorageError(f"counting the queue failed: {exc.msg}") from exc
        return int(ahead)

    def waiting(self, lane: str) -> int:
        """Tasks waiting in ``lane`` (for the ops status): held batch tasks included."""
        Task = self.m.Task
        try:
            if lane == QUEUE_BATCH:
                return int(Task.queue_index.count(GROUP_BATCH) + Task.queue_index.count(GROUP_HELD))
            low, high = band(lane)
            group = place(lane, 0)[0]
            return int(Task.queue_index.count(group, Task.queue_order.between(low, high - 1)))
        except PynamoDBException as exc:
            raise StorageError(f"counting the queue failed: {exc.msg}") from exc

    def waiting_tasks(self, lane: str) -> Iterator[Any]:
        """Every task of ``lane`` waiting for a scrape or a retry (for ops purging it)."""
        Task = self.m.Task
        if lane == QUEUE_BATCH:
            queries = [Task.queue_index.query(GROUP_BATCH), Task.queue_index.query(GROUP_HELD)]
        else:
            low, high = band(lane)
            group = place(lane, 0)[0]
            queries = [
                Task.queue_index.query(group, Task.queue_order.between(low, high - 1)),
            ]
        queries.append(Task.queue_index.query(GROUP_RETRY, filter_condition=Task.lane == lane))
        try:
            for query in queries:
                yield from query
        except PynamoDBException as exc:
            raise StorageError(f"listing waiting tasks failed: {exc.msg}") from exc

    def start(self, task_id: str) -> Any | None:
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
                actions=[
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
                ],
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
        return task

    def record_progress(self, task_id: str, step: str, percent: int) -> Any | None:
        """Record a step; returns the task as written (with its current subscribers), or
        None if it had finished meanwhile."""
        Task = self.m.Task
        task = Task(task_id)
        try:
            task.update(
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
                return None  # finished meanwhile (a duplicate delivery): progress is moot
            raise StorageError(f"recording progress failed: {exc.msg}") from exc
        return task

    def mark_retry(
        self,
        task: Any,
        *,
        message: str,
        detail: str,
        reason: str,
        delay_seconds: int,
    ) -> None:
        """RETRY until the message comes back; listed in the index's retry partition (never
        counted in a position) so that ops can find it when purging its lane."""
        Task = self.m.Task
        now = self.clock()
        try:
            task.update(
                actions=[
                    Task.status.set(TaskStatus.RETRY.value),
                    Task.step.set("retry"),
                    Task.error.set(clip(message, MESSAGE_CHARS)),
                    Task.error_detail.set(clip(detail, DETAIL_CHARS)),
                    Task.error_reason.set(reason),
                    Task.updated_at.set(now),
                    Task.queue_group.set(GROUP_RETRY),
                    Task.queue_order.set(now + delay_seconds),
                ],
                condition=Task.status.is_in(*sources_of(TaskStatus.RETRY)),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return
            raise StorageError(f"recording retry failed: {exc.msg}") from exc

    def finish_success(self, task: Any, record: dict, duration_seconds: float) -> bool:
        """Store the record, finish the task, free the OS and count the duration, atomically.

        Returns False if the task had already finished (a duplicate delivery). Batches
        waiting for the task count its outcome afterwards (``BatchStore.count_outcomes``).
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
            Task.expires_at.set(_ts(now + self.task_retention)),
            Task.error.remove(),
            Task.error_reason.remove(),
            # error_detail stays: why an earlier attempt failed, for ops.
            Task.queue_group.remove(),
            Task.queue_order.remove(),
        ]
        stats = Stats(stats_key(_hour(now)))
        stats_actions = [
            Stats.scrapes.add(1),
            Stats.seconds.add(round(duration_seconds, 3)),
            Stats.kind.set("stats"),
            Stats.expires_at.set(_ts(now + 2 * 86_400)),
        ]

        def writes(tx: Transaction) -> None:
            tx.save("record", os_item)
            tx.update("stats", stats, stats_actions)

        return self._finish(task, task_actions, TaskStatus.SUCCESS, writes)

    def finish_failure(
        self, task: Any, *, message: str, detail: str, reason: str, negative: bool
    ) -> bool:
        """Fail the task and free the OS; ``negative`` also caches "not found" for a while.

        ``message`` is what users are told; ``detail`` (URLs, portal answers) is for ops.
        """
        now = self.clock()
        OsRecord = self.m.OsRecord

        def writes(tx: Transaction) -> None:
            if negative:
                tx.save(
                    "record",
                    OsRecord(
                        task.numero_os,
                        outcome="not_found",
                        data=None,
                        scraped_at=now,
                        task_id=task.pk,
                        expires_at=_ts(now + self.not_found_ttl),
                    ),
                )

        actions = self._failure_actions(message, detail, reason)
        return self._finish(task, actions, TaskStatus.FAILURE, writes)

    def _finish(
        self,
        task: Any,
        task_actions: list,
        target: TaskStatus,
        writes: Callable[[Transaction], None],
        *,
        condition: Any = None,
        still: Callable[[Any], bool] | None = None,
    ) -> bool:
        """Finish ``task`` in one small transaction: its update, ``writes`` and the lock's
        release (at most four items, however many batches or users wait for it).

        Returns False if the task was already terminal (a duplicate delivery), or if an
        extra ``condition`` failed and the task read back no longer passes ``still``. The
        update is conditioned on the number of waiting batches the caller knows
        (``task.waiters``), so a batch that joined meanwhile is read back into ``task`` and
        none is missed when they count the outcome; a lock that belongs to a newer task is
        kept.
        """
        Task, Lock = self.m.Task, self.m.Lock
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
                with Transaction(self._connection()) as tx:
                    tx.update("task", task, task_actions, condition=allowed)
                    if with_lock:
                        tx.delete(
                            "lock",
                            Lock(lock_key(task.numero_os)),
                            condition=Lock.task_id == task.pk,
                        )
                    writes(tx)
                return True
            except Cancelled as cancelled:
                if cancelled.conflict:
                    _pause(round_)
                    continue
                if not cancelled.failed_names():
                    raise StorageError(f"finishing task failed: {cancelled}") from None
                if cancelled.failed("lock"):
                    with_lock = False  # the lock belongs to a newer task now: keep it
                if cancelled.failed("task"):
                    current = self.get_task(task.pk)
                    if current is None or TaskStatus(current.status) in TERMINAL:
                        return False  # already terminal: a duplicate delivery
                    if still is not None and not still(current):
                        return False
                    task.waiters, task.batch_id = current.waiters, current.batch_id
        raise StorageError(f"could not finish task {task.pk}")

    def _failure_actions(self, message: str, detail: str, reason: str) -> list:
        Task, now = self.m.Task, self.clock()
        return [
            Task.status.set(TaskStatus.FAILURE.value),
            Task.step.set("failed"),
            Task.error.set(clip(message, MESSAGE_CHARS)),
            Task.error_detail.set(clip(detail, DETAIL_CHARS)),
            Task.error_reason.set(reason),
            Task.finished_at.set(now),
            Task.updated_at.set(now),
            Task.expires_at.set(_ts(now + self.task_retention)),
            Task.queue.remove(),
            Task.queued_at.remove(),
            Task.queue_group.remove(),
            Task.queue_order.remove(),
        ]

    def cancel_waiting(self, task: Any, *, owner: str, message: str, reason: str) -> bool:
        """Fail a batch task of ``owner``'s that nobody else waits for, if it has not
        started, and free its OS; True if it did (a cancelled batch)."""
        Task = self.m.Task
        alone = (
            (Task.status == TaskStatus.PENDING.value)
            & (Task.queue == QUEUE_BATCH)
            & (Task.requesters.does_not_exist() | (size(Task.requesters) <= 1))
            & (Task.requesters.does_not_exist() | Task.requesters.contains(owner))
        )
        task.waiters = 0  # and no other batch waits for it
        actions = self._failure_actions(message, message, reason)
        return self._finish(
            task, actions, TaskStatus.FAILURE, lambda tx: None, condition=alone, still=_never
        )

    def fail_waiting(self, task: Any, *, message: str, reason: str) -> bool:
        """Fail a task that waits (PENDING, or RETRY between attempts) and free its OS: ops
        dropped its message. False if it started or finished meanwhile."""
        Task = self.m.Task
        waiting = (TaskStatus.PENDING.value, TaskStatus.RETRY.value)
        return self._finish(
            task,
            self._failure_actions(message, message, reason),
            TaskStatus.FAILURE,
            lambda tx: None,
            condition=Task.status.is_in(*waiting),
            still=lambda current: current.status in waiting,
        )

    def _connection(self) -> Any:
        return self.m.Task._get_connection().connection

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

"""Asking for a task: read one, create the one active task of an OS or join it, move a
waiting one to an earlier lane.

Creating is one transaction: the task, the OS's lock (``locks.py``), a check that the
cache is still cold (``cache.py``) and, with a rate policy, the caller's new start
(``ratelog.py``). Any number of concurrent callers create exactly one task, and a user
never starts more scrapes than the limit. What happens to a task once it runs is
``runs.py``; reopening a failed one is ``reopen.py``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable, Iterable

from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.expressions.condition import size

from chalicelib.adapters.dynamo.cache import OsCache
from chalicelib.adapters.dynamo.locks import Locks
from chalicelib.adapters.dynamo.models import Models, requester_key, ttl
from chalicelib.adapters.dynamo.ratelog import RateLogStore
from chalicelib.adapters.dynamo.records import from_item
from chalicelib.adapters.dynamo.retry import MAX_ROUNDS, pause
from chalicelib.adapters.dynamo.transaction import Cancelled, transaction
from chalicelib.domain.lanes import Lane
from chalicelib.domain.queueorder import GROUP_HELD, place
from chalicelib.domain.ratelimit import RatePolicy, admit
from chalicelib.domain.records import CreateOutcome, Promoted, Promotion, RateState, TaskRecord
from chalicelib.domain.tasks import ACTIVE, TaskStatus, is_task_id, new_task_id
from chalicelib.errors import RateLimitedError, StorageError

__all__ = ["CreateOutcome", "Promoted", "Promotion", "TaskStore", "new_task_item"]


def new_task_item(
    Task: Any,
    task_id: str,
    numero_os: str,
    lane: Lane,
    requested_by: str | None,
    now: float,
    retention: float,
    batch_id: str | None = None,
    fair_key: float | None = None,
) -> Any:
    """A task item waiting in ``lane``, placed in the queue index (not yet written).

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
        expires_at=None if fair_key is not None else ttl(now + retention),
    )


class TaskStore:
    """Reads tasks; creates, joins and promotes them."""

    def __init__(
        self,
        models: Models,
        cache: OsCache,
        locks: Locks,
        ratelog: RateLogStore,
        *,
        task_retention_seconds: int,
        max_requesters: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        self.cache = cache
        self.locks = locks
        self.ratelog = ratelog
        self.task_retention = task_retention_seconds
        #: Users kept on the task item; more are recorded beside it (``Requester`` items).
        self.max_requesters = max_requesters
        self.clock = clock

    # ------------------------------------------------------------------ reads
    def get_task(self, task_id: str) -> TaskRecord | None:
        """The task as it is now (strongly consistent), or None."""
        if not is_task_id(task_id):
            return None  # not a task id (nor a lock, counter or slot key): no such task
        try:
            item = self.m.Task.get(task_id, consistent_read=True)
        except self.m.Task.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"reading task failed: {exc.msg}") from exc
        return from_item(TaskRecord, item) if item.kind == "task" else None

    def get_many(self, task_ids: Iterable[str]) -> list[TaskRecord]:
        """The tasks with these ids that exist (BatchGetItem, 100 keys per call)."""
        wanted = [t for t in dict.fromkeys(task_ids) if is_task_id(t)]
        try:
            items = list(self.m.Task.batch_get(wanted))
        except PynamoDBException as exc:
            raise StorageError(f"reading tasks failed: {exc.msg}") from exc
        return [from_item(TaskRecord, item) for item in items if item.kind == "task"]

    def can_see(self, task: TaskRecord, user: str | None) -> bool:
        """Whether ``user`` asked for this task (only they may see it)."""
        if user is None:
            return False
        if user in task.requesters:
            return True
        if len(task.requesters) < self.max_requesters:
            return False  # the set has room, so nobody was recorded beside it
        try:
            self.m.Requester.get(requester_key(task.pk, user))
        except self.m.Requester.DoesNotExist:
            return False
        except PynamoDBException as exc:
            raise StorageError(f"reading requesters failed: {exc.msg}") from exc
        return True

    # ------------------------------------------------------- create or join
    def create_or_join(
        self,
        numero_os: str,
        *,
        requested_by: str | None = None,
        respect_cache: bool = True,
        lane: Lane = Lane.STANDARD,
        rate: RatePolicy | None = None,
        rate_log: RateState | None = None,
    ) -> CreateOutcome:
        """Create the one active task for ``numero_os``, or join the one that exists.

        With a ``rate`` policy the transaction also adds the start to the caller's rate
        log (``rate_log`` is the log if the caller read it already). Joining adds the
        caller to the task's requesters and costs nothing. Raises ``RateLimitedError``
        when a new task is needed but the window is full.
        """
        for round_ in range(MAX_ROUNDS):
            now = self.clock()
            log = None
            if rate is not None:
                state = rate_log if rate_log is not None else self.ratelog.state(rate.user)
                rate_log = None  # a later round reads it again, consistently
                admission = admit(state.starts, rate, now)
                if admission.starts is None:
                    joined = self._join_active(numero_os, requested_by)
                    if joined is not None:
                        return CreateOutcome(joined, False)
                    raise RateLimitedError(admission.retry_after, rate.limit, rate.window_seconds)
                log = (state, admission)
            task_id = new_task_id()
            task = new_task_item(
                self.m.Task, task_id, numero_os, lane, requested_by, now, self.task_retention
            )
            try:
                with transaction(self.m) as tx:
                    if respect_cache:
                        self.cache.check_cold(tx, numero_os, now)
                    self.locks.take(tx, "lock", numero_os, task_id, now)
                    tx.save("task", task, condition=self.m.Task.pk.does_not_exist())
                    if rate is not None and log is not None:
                        self.ratelog.add_start(tx, rate, *log, now)
                return CreateOutcome(from_item(TaskRecord, task), True)
            except Cancelled as cancelled:
                if cancelled.conflict:
                    pause(round_)  # a concurrent transaction on the lock or the rate log
                    continue
                if cancelled.failed("cache"):
                    cached = self.cache.fresh_record(numero_os)
                    if cached is not None:
                        return CreateOutcome(None, False, cached=cached)
                    continue
                if cancelled.failed("lock"):
                    existing_id = Locks.holder_in(cancelled, "lock")
                    joined = self._join(existing_id, requested_by) if existing_id else None
                    if joined is not None:
                        return CreateOutcome(joined, False)
                    continue  # the lock's task just finished and released it: try again
                if not cancelled.failed("rate"):
                    raise StorageError(f"creating task failed: {cancelled}") from None
                # Only the rate log changed meanwhile (the same user's concurrent request):
                # try again with the log as it is now, returned with the cancellation.
                rate_log = self.ratelog.from_raw(cancelled.old_item("rate"))
                pause(round_)
        raise StorageError(f"could not create or join a task for OS {numero_os}")

    def _join_active(self, numero_os: str, user: str | None) -> TaskRecord | None:
        """Join the OS's active task, if there is one (for a user out of slots)."""
        holder = self.locks.holder(numero_os)
        return self._join(holder, user) if holder is not None else None

    def _join(self, task_id: str, user: str | None) -> TaskRecord | None:
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
        return from_item(TaskRecord, task)

    def _add_requester(self, task: TaskRecord, user: str | None) -> None:
        Requester = self.m.Requester
        expires = self.clock() + self.task_retention
        try:
            Requester(requester_key(task.pk, user or ""), expires_at=ttl(expires)).save()
        except PynamoDBException as exc:
            raise StorageError(f"recording a requester failed: {exc.msg}") from exc

    # ---------------------------------------------------------------- lanes
    def promote(
        self,
        task: TaskRecord,
        lane: Lane,
        *,
        rate: RatePolicy | None = None,
        rate_log: RateState | None = None,
    ) -> Promoted:
        """Move a waiting task to an earlier ``lane`` for a caller who joined it.

        Jumping the queue is a new interactive scrape: with a ``rate`` policy the move adds
        a start to the caller's rate log in the same transaction (as ``create_or_join``
        does), and a caller whose window is full joins without moving the task.
        """
        Task = self.m.Task
        current = task.queue or Lane.STANDARD
        if (
            task.status != TaskStatus.PENDING.value
            or lane not in tuple(Lane)
            or Lane(lane).rank >= Lane(current).rank
        ):
            return Promoted(Promotion.NOT_NEEDED, task)
        for round_ in range(MAX_ROUNDS):
            now = self.clock()
            log = None
            if rate is not None:
                state = rate_log if rate_log is not None else self.ratelog.state(rate.user)
                rate_log = None
                admission = admit(state.starts, rate, now)
                if admission.starts is None:
                    return Promoted(Promotion.RATE_LIMITED, task)
                log = (state, admission)
            group, order = place(lane, float(task.queued_at or now))
            try:
                with transaction(self.m) as tx:
                    tx.update(
                        "task",
                        Task(task.pk),
                        [
                            Task.queue.set(lane),
                            Task.lane.set(lane),
                            Task.queue_group.set(group),
                            Task.queue_order.set(order),
                            Task.expires_at.set(ttl(now + self.task_retention)),
                        ],
                        condition=(Task.status == TaskStatus.PENDING.value)
                        & (Task.queue == current),
                    )
                    if rate is not None and log is not None:
                        self.ratelog.add_start(tx, rate, *log, now)
            except Cancelled as cancelled:
                if cancelled.conflict:
                    pause(round_)
                    continue
                if cancelled.failed("task"):
                    # Started meanwhile, or promoted by someone else.
                    return Promoted(Promotion.MISSED, task)
                if cancelled.failed("rate"):
                    rate_log = self.ratelog.from_raw(cancelled.old_item("rate"))
                    pause(round_)
                    continue
                raise StorageError(str(cancelled)) from None
            moved = replace(task, queue=lane, lane=lane, queue_group=group, queue_order=order)
            return Promoted(Promotion.PROMOTED, moved)
        raise StorageError(f"could not move task {task.pk} to the {lane} lane")

    def unpromote(self, moved: TaskRecord, previous: TaskRecord) -> TaskRecord:
        """Put a promoted task back where it waited before (``previous``: the task as it
        was before ``promote``), because its message to the new lane failed."""
        Task = self.m.Task
        try:
            Task(moved.pk).update(
                actions=[
                    Task.queue.set(previous.queue),
                    Task.lane.set(previous.lane),
                    Task.queue_group.set(previous.queue_group),
                    Task.queue_order.set(previous.queue_order),
                ],
                condition=(Task.status == TaskStatus.PENDING.value) & (Task.queue == moved.queue),
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise StorageError(f"moving a task back failed: {exc.msg}") from exc
        return replace(
            moved,
            queue=previous.queue,
            lane=previous.lane,
            queue_group=previous.queue_group,
            queue_order=previous.queue_order,
        )

"""Claims: which waiting task a scrape message runs (the task-pull scheduler's writes).

A scrape message only wakes the worker up; the worker claims the best waiting task
itself (``chalicelib.services.scheduler`` chooses, this module writes). A claim is one
transaction of two items: the task moves from waiting to STARTED, conditioned on being
exactly where the queue index showed it, and ``claim#<message id>`` records that this
message runs it. When the message comes back (a retry's back-off, a worker that died),
the worker reads that record and runs the same task again, so a message never starts a
second task while its first is unfinished, and two deliveries of one message never
claim two tasks.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

from pynamodb.exceptions import PynamoDBException, UpdateError

from chalicelib.adapters.dynamo.models import TURN_KEY, Models, claim_key, ttl
from chalicelib.adapters.dynamo.queueindex import QueueIndex
from chalicelib.adapters.dynamo.runs import TaskRuns, start_actions
from chalicelib.adapters.dynamo.transaction import Cancelled, transaction
from chalicelib.domain.lanes import Lane
from chalicelib.domain.queueorder import GROUP_BATCH, place
from chalicelib.domain.records import TaskRecord
from chalicelib.domain.tasks import TaskStatus
from chalicelib.errors import StorageError

__all__ = ["Claim", "TaskClaims"]


class Claim:
    """What a claim attempt found: the task it started, or that the message is bound."""

    __slots__ = ("bound", "task")

    def __init__(self, task: TaskRecord | None, *, bound: bool = False) -> None:
        self.task = task
        #: The message already runs a task (a concurrent delivery of the same message).
        self.bound = bound


class TaskClaims:
    """The queue's heads, the turn counter, and conditional claims."""

    def __init__(
        self,
        models: Models,
        queue_index: QueueIndex,
        runs: TaskRuns,
        *,
        retention_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        self.queue_index = queue_index
        self.runs = runs
        #: How long a claim is remembered: as long as its message may live.
        self.retention = retention_seconds
        self.clock = clock

    def bound(self, message_id: str) -> str | None:
        """The task ``message_id`` was claimed for, if any (a strongly consistent read)."""
        try:
            item = self.m.Claim.get(claim_key(message_id), consistent_read=True)
        except self.m.Claim.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise StorageError(f"reading a claim failed: {exc.msg}") from exc
        return str(item.task_id)

    def resume(self, task_id: str) -> TaskRecord | None:
        """Start the task a returning message was claimed for (``TaskRuns.start``)."""
        return self.runs.start(task_id)

    def heads(self, limit: int) -> dict[Lane, list[TaskRecord]]:
        """Each lane's first ``limit`` waiting tasks (``QueueIndex.heads_by_lane``)."""
        return self.queue_index.heads_by_lane(limit)

    def next_turn(self) -> int:
        """The next number of the turn counter (0, 1, 2, ...): one atomic ADD."""
        Turn = self.m.Turn
        item = Turn(TURN_KEY)
        try:
            item.update(actions=[Turn.n.add(1), Turn.kind.set("turn")])
        except UpdateError as exc:
            raise StorageError(f"counting the turn failed: {exc.msg}") from exc
        return int(item.n) - 1

    def claim(self, message_id: str, candidate: TaskRecord) -> Claim:
        """Start ``candidate`` if it still waits where the index showed it."""
        Task = self.m.Task
        where = (
            (Task.status == TaskStatus.PENDING.value)
            & (Task.queue_group == candidate.queue_group)
            & (Task.queue_order == candidate.queue_order)
        )
        return self._claim(message_id, candidate.pk, where, candidate)

    def claim_named(self, message_id: str, task_id: str) -> Claim:
        """Start the task a message names, read by key: for a message that finds nothing
        in the index (which lags its table by a moment), or one sent again for a retry
        whose message was lost. A task between attempts starts only once its back-off
        has passed."""
        Task = self.m.Task
        now = self.clock()
        where = (Task.status == TaskStatus.PENDING.value) | (
            (Task.status == TaskStatus.RETRY.value) & (Task.queue_order <= now)
        )
        return self._claim(message_id, task_id, where & (Task.kind == "task"))

    def put_back(self, task: TaskRecord, *, refund: bool) -> bool:
        """Put a claimed task back in its lane to wait (the portal is down for everyone):
        PENDING again, at its place by creation time (a batch task first of the released
        ones), with the attempt it just spent given back if ``refund``. False if it had
        finished or been put back already."""
        Task = self.m.Task
        lane = Lane(task.lane or Lane.STANDARD)
        if lane is Lane.BATCH:
            group, order = GROUP_BATCH, 0.0
        else:
            group, order = place(lane, float(task.created_at))
        now = self.clock()
        actions = [
            Task.status.set(TaskStatus.PENDING.value),
            Task.step.set("waiting_portal"),
            Task.progress.set(0),
            Task.updated_at.set(now),
            Task.queue.set(lane.value),
            Task.queued_at.set(now),
            Task.queue_group.set(group),
            Task.queue_order.set(order),
        ]
        if refund and int(task.attempts or 0) > 0:
            actions.append(Task.attempts.add(-1))
        running = (TaskStatus.STARTED.value, TaskStatus.PROGRESS.value, TaskStatus.RETRY.value)
        try:
            Task(task.pk).update(actions=actions, condition=Task.status.is_in(*running))
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise StorageError(f"putting a task back failed: {exc.msg}") from exc
        return True

    def _claim(
        self, message_id: str, task_id: str, where: object, seen: TaskRecord | None = None
    ) -> Claim:
        """Claim the task; ``seen``: the task as the index showed it, which the condition
        proves current (no read after the claim), else it is read."""
        Task, Record = self.m.Task, self.m.Claim
        now = self.clock()
        record = Record(
            claim_key(message_id), task_id=task_id, expires_at=ttl(now + self.retention)
        )
        try:
            with transaction(self.m) as tx:
                tx.update("task", Task(task_id), start_actions(Task, now), condition=where)
                tx.save("claim", record, condition=Record.pk.does_not_exist())
        except Cancelled as cancelled:
            if cancelled.failed("claim"):
                return Claim(None, bound=True)
            return Claim(None)  # taken by another message, or no longer waiting
        if seen is not None:
            return Claim(started(seen, now))
        task = self.runs.tasks.get_task(task_id)
        if task is None or task.status != TaskStatus.STARTED.value:
            return Claim(None)  # finished at once by ops (a purge): nothing to run
        return Claim(task)


def started(task: TaskRecord, now: float) -> TaskRecord:
    """``task`` as ``start_actions`` leave it."""
    return replace(
        task,
        status=TaskStatus.STARTED.value,
        attempts=int(task.attempts or 0) + 1,
        progress=5,
        step="started",
        started_at=now,
        updated_at=now,
        queue=None,
        queued_at=None,
        queue_group=None,
        queue_order=None,
    )

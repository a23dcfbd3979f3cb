"""The batch lane's fair order (``chalicelib.domain.fairshare``) and the release of held
batch tasks to the batch queue.

Batch tasks are created *held*: PENDING in the queue index's held partition, sorted by
their fair key, with no message yet. ``release`` keeps at most ``window`` of them in the
batch queue: it counts the released tasks that have not started, takes the lowest keys
of the held partition, sends their messages and moves them to the released partition.
The worker releases after every batch-lane attempt and the ingest after every chunk, so
the lane stays busy while no owner's backlog can stand in front of another's.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from pynamodb.exceptions import PynamoDBException, UpdateError

from chalicelib.adapters.dynamo.models import FAIR_CLOCK, Models, fair_key, ttl
from chalicelib.adapters.dynamo.queueindex import QueueIndex
from chalicelib.adapters.dynamo.retry import MAX_ROUNDS, pause
from chalicelib.domain.fairshare import KeyRange, reserve
from chalicelib.domain.lanes import Lane
from chalicelib.domain.queueorder import GROUP_BATCH, GROUP_HELD
from chalicelib.domain.records import TaskRecord
from chalicelib.domain.tasks import TaskStatus
from chalicelib.errors import StorageError

__all__ = ["BatchLane"]

logger = logging.getLogger(__name__)


class BatchLane:
    """Fair keys for new batch tasks, and their release to the batch queue."""

    def __init__(
        self,
        models: Models,
        queue_index: QueueIndex,
        queue: Any,
        *,
        window: int,
        task_retention_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.m = models
        self.queue_index = queue_index
        #: The scrape queue (``chalicelib.adapters.queue.ScrapeQueue``): a released task's
        #: wake-up goes there.
        self.queue = queue
        #: Released batch tasks that may wait in the batch queue at once.
        self.window = window
        self.retention = task_retention_seconds
        self.clock = clock

    # ---------------------------------------------------------------- keys
    def reserve(self, owner: str, count: int) -> KeyRange:
        """Take the next ``count`` fair keys of ``owner`` (one conditional write)."""
        Fair = self.m.FairShare
        for round_ in range(MAX_ROUNDS):
            last, lane_clock = self._units(owner)
            keys = reserve(owner, last, lane_clock, count)
            if count == 0:
                return keys
            unchanged = (
                Fair.last == last if last else (Fair.last.does_not_exist() | (Fair.last == 0))
            )
            try:
                Fair(fair_key(owner)).update(
                    actions=[Fair.last.set(keys.last_unit), Fair.kind.set("fair")],
                    condition=unchanged,
                )
            except UpdateError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    pause(round_)  # the same owner's other batch took keys meanwhile
                    continue
                raise StorageError(f"reserving batch order failed: {exc.msg}") from exc
            return keys
        raise StorageError(f"could not reserve batch order for {owner}")

    def _units(self, owner: str) -> tuple[float, float]:
        """The owner's last unit and the lane's clock (strongly consistent)."""
        Fair = self.m.FairShare
        found = {fair_key(owner): 0.0, fair_key(FAIR_CLOCK): 0.0}
        try:
            for item in Fair.batch_get(list(found), consistent_read=True):
                found[item.pk] = float(item.last or 0)
        except PynamoDBException as exc:
            raise StorageError(f"reading batch order failed: {exc.msg}") from exc
        return found[fair_key(owner)], found[fair_key(FAIR_CLOCK)]

    # ------------------------------------------------------------- release
    def release(self) -> int:
        """Top the batch queue up to ``window`` released tasks, lowest keys first; returns
        how many were released. Two concurrent calls may release one task twice: its
        second message finds it started and is dropped."""
        room = self.window - self.queue_index.released()
        if room <= 0:
            return 0
        held = self.queue_index.held(room)
        if not held:
            return 0
        self.queue.send_many([(task.pk, task.numero_os) for task in held], lane=Lane.BATCH)
        now = self.clock()
        for task in held:
            self._mark_released(task, now)
        self._advance_clock(max(float(task.queue_order) for task in held))
        return len(held)

    def _mark_released(self, task: TaskRecord, now: float) -> None:
        Task = self.m.Task
        try:
            Task(task.pk).update(
                actions=[
                    Task.queue_group.set(GROUP_BATCH),
                    Task.expires_at.set(ttl(now + self.retention)),
                ],
                condition=(Task.status == TaskStatus.PENDING.value)
                & (Task.queue_group == GROUP_HELD),
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise StorageError(f"releasing a batch task failed: {exc.msg}") from exc
            # Started by its message already, promoted, or released by a concurrent call.

    def _advance_clock(self, key: float) -> None:
        Fair = self.m.FairShare
        try:
            Fair(fair_key(FAIR_CLOCK)).update(
                actions=[Fair.last.set(float(int(key))), Fair.kind.set("fair")],
                condition=Fair.last.does_not_exist() | (Fair.last < int(key)),
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise StorageError(f"advancing the batch clock failed: {exc.msg}") from exc

"""The queue index: waiting tasks in the order they will start.

A sparse global secondary index (``queue-order-index``) over the tasks that wait:
partition ``queue_group`` (interactive, released batch, held batch, retry), sort key
``queue_order`` (lane rank then enqueue time, or the fair key of a held batch task;
see ``chalicelib.domain.queueorder``). One count gives a queue position.
"""

from __future__ import annotations

from typing import Iterator

from pynamodb.exceptions import PynamoDBException

from chalicelib.adapters.dynamo.models import Models
from chalicelib.adapters.dynamo.records import from_item
from chalicelib.domain.lanes import Lane
from chalicelib.domain.queueorder import (
    GROUP_BATCH,
    GROUP_HELD,
    GROUP_INTERACTIVE,
    GROUP_RETRY,
    band,
    place,
)
from chalicelib.domain.records import TaskRecord
from chalicelib.domain.tasks import TaskStatus
from chalicelib.errors import StorageError

__all__ = ["QueueIndex"]

#: Below any two sort keys' difference (keys are epoch seconds or whole fair units).
_EPS = 1e-3


class QueueIndex:
    """Positions and counts of waiting tasks, read from the queue index."""

    def __init__(self, models: Models) -> None:
        self.m = models

    def ahead(self, task: TaskRecord) -> int:
        """Tasks of the task's own lane that start before it (0 unless it waits): earlier
        ones of its band; for a held batch task, every released one too."""
        if task.status != TaskStatus.PENDING.value or task.queue_order is None:
            return 0
        Task = self.m.Task
        index = Task.queue_index
        order = float(task.queue_order)
        try:
            if task.queue_group == GROUP_INTERACTIVE:
                low, _ = band(Lane(task.queue or Lane.STANDARD))
                return int(
                    index.count(task.queue_group, Task.queue_order.between(low, order - _EPS))
                )
            ahead = int(index.count(task.queue_group, Task.queue_order < order))
            if task.queue_group == GROUP_HELD:
                ahead += int(index.count(GROUP_BATCH))
            return ahead
        except PynamoDBException as exc:
            raise StorageError(f"counting the queue failed: {exc.msg}") from exc

    def waiting_by_lane(self) -> dict[Lane, int]:
        """Tasks waiting in each lane (four counts)."""
        return {lane: self.waiting(lane) for lane in Lane}

    def waiting(self, lane: Lane) -> int:
        """Tasks waiting in ``lane`` (for the ops status): held batch tasks included."""
        Task = self.m.Task
        try:
            if lane == Lane.BATCH:
                return int(Task.queue_index.count(GROUP_BATCH) + Task.queue_index.count(GROUP_HELD))
            low, high = band(lane)
            group = place(lane, 0)[0]
            return int(Task.queue_index.count(group, Task.queue_order.between(low, high - 1)))
        except PynamoDBException as exc:
            raise StorageError(f"counting the queue failed: {exc.msg}") from exc

    def waiting_tasks(self, lane: Lane) -> Iterator[TaskRecord]:
        """Every task of ``lane`` waiting for a scrape or a retry (for ops purging it)."""
        Task = self.m.Task
        if lane == Lane.BATCH:
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
                for item in query:
                    yield from_item(TaskRecord, item)
        except PynamoDBException as exc:
            raise StorageError(f"listing waiting tasks failed: {exc.msg}") from exc

    def heads(self, lane: Lane, limit: int) -> list[TaskRecord]:
        """The first ``limit`` tasks waiting in ``lane``, in the order they should start
        (a batch task only once released: held ones have no wake-up yet)."""
        Task = self.m.Task
        if lane == Lane.BATCH:
            query = Task.queue_index.query(GROUP_BATCH, limit=limit)
        else:
            low, high = band(lane)
            query = Task.queue_index.query(
                GROUP_INTERACTIVE, Task.queue_order.between(low, high - 1), limit=limit
            )
        try:
            return [from_item(TaskRecord, item) for item in list(query)[:limit]]
        except PynamoDBException as exc:
            raise StorageError(f"reading the queue failed: {exc.msg}") from exc

    def heads_by_lane(self, limit: int) -> dict[Lane, list[TaskRecord]]:
        """Each lane's first ``limit`` waiting tasks, in two queries as a rule: the
        interactive partition (VIP band first, then standard) and the released batch
        tasks; a third only when ``limit`` VIP tasks hide the standard band."""
        Task = self.m.Task
        try:
            items = list(Task.queue_index.query(GROUP_INTERACTIVE, limit=limit))[:limit]
        except PynamoDBException as exc:
            raise StorageError(f"reading the queue failed: {exc.msg}") from exc
        interactive = [from_item(TaskRecord, item) for item in items]
        vip_high = band(Lane.VIP)[1]
        vip = [t for t in interactive if float(t.queue_order or 0) < vip_high]
        standard = [t for t in interactive if float(t.queue_order or 0) >= vip_high]
        if len(vip) == limit:
            standard = self.heads(Lane.STANDARD, limit)
        return {Lane.VIP: vip, Lane.STANDARD: standard, Lane.BATCH: self.heads(Lane.BATCH, limit)}

    # ------------------------------------------------------------ batch lane
    def released(self) -> int:
        """Batch tasks released to the batch queue that have not started."""
        try:
            return int(self.m.Task.queue_index.count(GROUP_BATCH))
        except PynamoDBException as exc:
            raise StorageError(f"reading the batch lane failed: {exc.msg}") from exc

    def held(self, limit: int) -> list[TaskRecord]:
        """The first ``limit`` held batch tasks in the fair order (lowest keys first)."""
        index = self.m.Task.queue_index
        try:
            items = list(index.query(GROUP_HELD, limit=limit, scan_index_forward=True))[:limit]
        except PynamoDBException as exc:
            raise StorageError(f"reading the batch lane failed: {exc.msg}") from exc
        return [from_item(TaskRecord, item) for item in items]

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


class QueueIndex:
    """Positions and counts of waiting tasks, read from the queue index."""

    def __init__(self, models: Models) -> None:
        self.m = models

    def position(self, task: TaskRecord) -> int:
        """Waiting tasks that will start before this one (0 once it has started).

        VIP tasks wait only behind earlier VIP tasks; standard ones behind earlier
        standard tasks and every waiting VIP task (one count over the index, whose sort
        key puts lanes in order); batch tasks also behind every interactive one: a
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

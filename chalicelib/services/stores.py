"""What the use cases need from raspa's stores, as Protocols (the adapters implement them).

The roles the services play on the DynamoDB tables (tasks, the OS cache, batches, open
connections), each listing only the calls its service makes, like the ports in
``services.ports``; ``DynamoStores`` and its parts implement them, tests plug in fakes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol

if TYPE_CHECKING:
    from chalicelib.domain.batches import BatchOutcome
    from chalicelib.domain.fairshare import KeyRange
    from chalicelib.domain.lanes import Lane
    from chalicelib.domain.ratelimit import RatePolicy
    from chalicelib.domain.records import (
        BatchRecord,
        CacheEntry,
        Created,
        CreateOutcome,
        OutcomeMark,
        Promoted,
        RateState,
        Subscription,
        TaskRecord,
    )
    from chalicelib.services.ports import MessageQueue

__all__ = [
    "BatchLaneOrder",
    "BatchStores",
    "BatchTaskWriter",
    "BatchWaitList",
    "Batches",
    "CacheEntries",
    "ConnectionRegistry",
    "LookupCache",
    "QueuePositions",
    "SubscriptionRegistry",
    "TaskAbandoner",
    "TaskBatchReader",
    "TaskReader",
    "TaskRequests",
    "TaskRuns",
    "WaitingCanceller",
]


# ------------------------------------------------------------------ tasks
class TaskReader(Protocol):
    """Reads a task as it is now (the worker's view of the task store)."""

    def get_task(self, task_id: str) -> TaskRecord | None: ...


class TaskRequests(TaskReader, Protocol):
    """Creating, joining, moving and showing tasks for callers (the lookup's task store)."""

    def can_see(self, task: TaskRecord, user: str | None) -> bool: ...

    def create_or_join(
        self,
        numero_os: str,
        *,
        requested_by: str | None = None,
        respect_cache: bool = True,
        lane: Lane = ...,
        rate: RatePolicy | None = None,
        rate_log: RateState | None = None,
    ) -> CreateOutcome: ...

    def promote(
        self,
        task: TaskRecord,
        lane: Lane,
        *,
        rate: RatePolicy | None = None,
        rate_log: RateState | None = None,
    ) -> Promoted: ...

    def unpromote(self, moved: TaskRecord, previous: TaskRecord) -> TaskRecord: ...


class TaskBatchReader(Protocol):
    """Reads many tasks at once (the batch service's view of the task store)."""

    def get_many(self, task_ids: Iterable[str]) -> list[TaskRecord]: ...


class TaskAbandoner(Protocol):
    """Fails a task whose message could not be sent (the lookup's view of task runs)."""

    def abandon(self, task: TaskRecord, message: str) -> TaskRecord | None: ...


class WaitingCanceller(Protocol):
    """Fails a cancelled batch's waiting task (the batch service's view of task runs)."""

    def cancel_waiting(
        self, task: TaskRecord, *, owner: str, message: str, reason: str
    ) -> bool: ...


class TaskRuns(Protocol):
    """Every transition of an attempt (the worker's view of task runs). Each returns the
    task as written (subscribers and waiting batches included), or None if it did not
    apply."""

    def start(self, task_id: str) -> TaskRecord | None: ...

    def record_progress(self, task_id: str, step: str, percent: int) -> TaskRecord | None: ...

    def mark_retry(
        self,
        task: TaskRecord,
        *,
        message: str,
        detail: str,
        reason: str,
        delay_seconds: int,
    ) -> TaskRecord | None: ...

    def finish_success(
        self, task: TaskRecord, record: dict[str, Any], duration_seconds: float
    ) -> TaskRecord | None: ...

    def finish_failure(
        self, task: TaskRecord, *, message: str, detail: str, reason: str, negative: bool
    ) -> TaskRecord | None: ...


class QueuePositions(Protocol):
    """Where a waiting task stands (the queue index)."""

    def ahead(self, task: TaskRecord) -> int: ...

    def waiting_by_lane(self) -> dict[Lane, int]: ...


# ------------------------------------------------------------------ cache
class LookupCache(Protocol):
    """The OS cache as lookups read it."""

    def read_for_lookup(
        self, numero_os: str, user: str | None
    ) -> tuple[CacheEntry | None, RateState | None]:
        """The OS's fresh entry and, for a miss with a ``user``, their rate log."""
        ...

    def any_record(self, numero_os: str) -> CacheEntry | None:
        """The OS's entry, fresh or not."""
        ...


class CacheEntries(Protocol):
    """The OS cache as the batch ingest reads it: many numbers at once."""

    def entries(self, numbers: Iterable[str]) -> dict[str, CacheEntry]: ...


# ------------------------------------------------------------------ batches
class Batches(Protocol):
    """Batch items, their leases and their counted outcomes (the batch store)."""

    def create(
        self, batch_id: str, owner: str, key: str, filename: str, size: int
    ) -> BatchRecord: ...

    def get(self, batch_id: str) -> BatchRecord | None: ...

    def begin(
        self,
        batch_id: str,
        owner: str,
        key: str,
        counts: Mapping[str, int],
        *,
        daily_limit: int,
    ) -> bool: ...

    def reject(self, batch_id: str, owner: str, key: str, error: str) -> bool: ...

    def acquire(self, batch_id: str, lease_id: str, seconds: float) -> tuple[bool, bool]: ...

    def release(self, batch_id: str, lease_id: str) -> None: ...

    def commit_chunk(
        self,
        batch_id: str,
        lease_id: str,
        start: int,
        end: int,
        counts: Mapping[str, int],
        *,
        last: bool,
        lease_seconds: float,
    ) -> bool: ...

    def cancel(self, batch_id: str, owner: str | None) -> BatchRecord | None: ...

    def complete(self, batch_id: str, results_csv: str, results_json: str) -> bool: ...

    def marks(self, batch_id: str, numbers: Iterable[str]) -> dict[str, OutcomeMark]: ...

    def mark_cached(
        self,
        batch_id: str,
        outcomes: Mapping[str, tuple[BatchOutcome, str]],
        *,
        careful: bool,
    ) -> dict[str, tuple[BatchOutcome, str]]: ...

    def forget_uncounted(self, batch_id: str, numbers: Iterable[str]) -> None: ...


class BatchTaskWriter(Protocol):
    """Creates a chunk's held batch tasks with their OS locks."""

    def create_tasks(
        self,
        batch_id: str,
        owner: str,
        numbers: list[str],
        *,
        careful: bool,
        reserve: Callable[[int], KeyRange],
    ) -> Created: ...


class BatchWaitList(Protocol):
    """Batches waiting for tasks other than their own."""

    def join(self, task_id: str, batch_id: str) -> TaskRecord | None: ...

    def count_outcomes(self, task: TaskRecord) -> list[str]: ...


class BatchLaneOrder(Protocol):
    """The batch lane's fair order, releasing held tasks to the batch queue."""

    def reserve(self, owner: str, count: int) -> KeyRange: ...

    def release(self) -> int: ...


class BatchStores(Protocol):
    """The stores the batch use cases are built from (``DynamoStores``)."""

    @property
    def batches(self) -> Batches: ...

    @property
    def batch_tasks(self) -> BatchTaskWriter: ...

    @property
    def tasks(self) -> TaskBatchReader: ...

    @property
    def runs(self) -> WaitingCanceller: ...

    @property
    def cache(self) -> CacheEntries: ...

    @property
    def waits(self) -> BatchWaitList: ...

    def batch_lane(self, queue: MessageQueue) -> BatchLaneOrder: ...


# ------------------------------------------------------------------ WebSocket
class ConnectionRegistry(Protocol):
    """Open connections and each task's subscribers, as the notifier reads and prunes them."""

    def subscribers(self, task_id: str) -> set[str]: ...

    def user_connections(self, user: str) -> set[str]: ...

    def is_open(self, connection_id: str) -> bool: ...

    def unregister(self, connection_id: str) -> None: ...

    def unsubscribe(self, task_id: str, connection_id: str) -> None: ...

    def forget_user_connection(self, user: str, connection_id: str) -> None: ...


class SubscriptionRegistry(Protocol):
    """Connections and subscriptions, as the WebSocket API makes them."""

    #: Subscribers a task may have.
    max_subscribers: int

    def register(self, connection_id: str, user: str | None = None) -> bool: ...

    def unregister(self, connection_id: str) -> None: ...

    def owner(self, connection_id: str) -> str | None: ...

    def subscribe(self, task_id: str, connection_id: str) -> Subscription: ...

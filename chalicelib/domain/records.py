"""The records raspa keeps and the outcomes its stores report: plain, frozen values.

The DynamoDB package (``chalicelib.adapters.dynamo``) returns these, never an item of its
own; the services read them through the ports in ``chalicelib.services.ports``. Each
record keeps its item's attribute names, so ``task.status`` or ``batch.offset`` read as
they did on the item. Values are plain Python: maps as dicts, sets as frozensets, lists
as tuples; TTL attributes stay timezone-aware datetimes. Pure, no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "BatchRecord",
    "CacheEntry",
    "CreateOutcome",
    "Created",
    "OutcomeMark",
    "Promoted",
    "Promotion",
    "RateState",
    "Subscription",
    "TaskRecord",
]


@dataclass(frozen=True)
class TaskRecord:
    """One scrape task (``raspa-tasks``, ``pk`` = task id)."""

    pk: str
    numero_os: str
    status: str
    progress: int = 0
    step: str | None = None
    attempts: int = 0
    result: dict[str, Any] | None = None
    #: What users are told went wrong, its reason code, and the detail only ops see.
    error: str | None = None
    error_reason: str | None = None
    error_detail: str | None = None
    requested_by: str | None = None
    #: Who asked for it while it was active (beyond the item's limit: ``Requester`` items).
    requesters: frozenset[str] = frozenset()
    created_at: float | None = None
    updated_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    #: Set only while it waits: its lane, since when, and its place in the queue index.
    queue: str | None = None
    queued_at: float | None = None
    queue_group: str | None = None
    queue_order: float | None = None
    #: The lane it was last queued in (kept after it starts).
    lane: str | None = None
    #: The batch that created it, and how many other batches wait for its outcome.
    batch_id: str | None = None
    waiters: int = 0
    #: The WebSocket connections following it.
    subscribers: frozenset[str] = frozenset()
    expires_at: datetime | None = None

    @property
    def task_id(self) -> str:
        return self.pk


@dataclass(frozen=True)
class CacheEntry:
    """An OS in the cache (``raspa-os``): a scraped record, or a "not found" answer."""

    numero_os: str
    #: "ok" for a scraped record, "not_found" for a negative entry.
    outcome: str = "ok"
    data: dict[str, Any] | None = None
    scraped_at: float | None = None
    task_id: str | None = None
    #: When the entry stops being served (DynamoDB's TTL deletes it some time later).
    expires_at: datetime | None = None

    def fresh(self, now: float) -> bool:
        """Whether the entry is still served at ``now``."""
        return self.expires_at is not None and self.expires_at.timestamp() > now


@dataclass(frozen=True)
class BatchRecord:
    """An uploaded list of OS numbers (``pk`` = ``batch#<id>``) and its counts."""

    pk: str
    batch_id: str
    owner: str
    status: str
    key: str = ""
    filename: str | None = None
    declared_size: int | None = None
    error: str | None = None
    #: Index into the parsed file's distinct numbers up to which ingest is done.
    offset: int = 0
    lines: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    cached: int = 0
    joined: int = 0
    queued: int = 0
    succeeded: int = 0
    failed: int = 0
    not_found: int = 0
    carry: tuple[str, ...] = ()
    #: The ingest invocation working on it, and until when.
    lease_id: str | None = None
    lease_until: float | None = None
    results_csv: str | None = None
    results_json: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    finished_at: float | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class OutcomeMark:
    """One number's outcome, counted once for one batch (``bdone#<batch>#<numero>``)."""

    pk: str
    outcome: str
    #: "ingest" (answered from the cache) or "task" (counted when a task finished).
    source: str = "task"
    message: str | None = None


@dataclass(frozen=True)
class RateState:
    """A user's rate log as read: recent scrape starts and the item's version (0: none)."""

    starts: tuple[float, ...] = ()
    version: int = 0


@dataclass(frozen=True)
class CreateOutcome:
    """Result of asking for a task: the task, and whether this call created it."""

    task: TaskRecord | None
    created: bool
    #: A fresh cache entry won the race (the transaction saw it): serve it instead.
    cached: CacheEntry | None = None


class Promotion(enum.StrEnum):
    """What moving a waiting task to a joining caller's earlier lane did."""

    #: Moved to the caller's lane (and counted against the caller's rate limit).
    PROMOTED = "promoted"
    #: Already in that lane or an earlier one, or not waiting: nothing to move.
    NOT_NEEDED = "not_needed"
    #: The caller's rate window is full: the task stays in its lane.
    RATE_LIMITED = "rate_limited"
    #: It started, or was moved by someone else, meanwhile.
    MISSED = "missed"


@dataclass(frozen=True)
class Promoted:
    """What a promotion did, and the task as it now waits (moved if PROMOTED)."""

    result: Promotion
    task: TaskRecord


@dataclass
class Created:
    """Tasks a batch chunk created (or had created before an interruption), and numbers
    whose OS already had another active task (to join)."""

    #: (task id, number) of each task the chunk has.
    tasks: list[tuple[str, str]] = field(default_factory=list)
    #: The active task holding each number's OS, for numbers that got no task.
    taken: dict[str, str] = field(default_factory=dict)
    #: Numbers whose task (created before an interruption) has finished already.
    finished: list[str] = field(default_factory=list)


class Subscription(enum.StrEnum):
    """What subscribing a connection to a task did."""

    SUBSCRIBED = "subscribed"
    #: The task has ended (or expired): the caller tells the connection itself.
    ENDED = "ended"
    #: The task has ``max_subscribers`` already: the connection should poll the status.
    FULL = "full"

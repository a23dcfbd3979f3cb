"""PynamoDB models. Table names come from settings, so models are built per settings.

``raspa-os`` holds one item per OS number (the cache, positive or negative).
``raspa-tasks`` holds task items (``pk`` = task id), one lock item per OS with an
active task (``pk`` = ``os#<numero>``), hourly scrape-duration counters
(``pk`` = ``stats#<hour>``), batches (``batch#<id>``), each batch number's counted
outcome (``bdone#<batch>#<numero>``), daily batch quotas (``bquota#<user>#<day>``),
each user's connections (``uconn#<user>``), the batches waiting for a task
(``bwait#<task>#<n>``), requesters beyond a task's set (``req#<task>#<user>``) and the
batch lane's fair order (``bfair#<owner>``). A task's WebSocket subscribers are kept on
the task item. ``raspa-connections`` holds open WebSocket connections. Locks and tasks
are written together in one transaction, which is what makes "one active task per OS"
exact under concurrency.

The portal-outage circuit breaker is one item too (``breaker#portal``). Longer than
400 lines: one short model per kind of item, kept together as the table's one map.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

__all__ = [
    "FAIR_CLOCK",
    "QUEUE_INDEX",
    "Models",
    "batch_key",
    "breaker_key",
    "build_models",
    "fair_key",
    "lock_key",
    "mark_key",
    "quota_key",
    "rate_key",
    "requester_key",
    "stats_key",
    "ttl",
    "user_connections_key",
    "waiter_key",
]

QUEUE_INDEX = "queue-order-index"


def ttl(epoch: float) -> datetime:
    """An epoch time as a ``TTLAttribute`` value."""
    return datetime.fromtimestamp(epoch, tz=UTC)


def lock_key(numero_os: str) -> str:
    return f"os#{numero_os}"


def stats_key(hour: str) -> str:
    return f"stats#{hour}"


def rate_key(user: str) -> str:
    return f"rate#{user}"


def batch_key(batch_id: str) -> str:
    return f"batch#{batch_id}"


def mark_key(batch_id: str, numero_os: str) -> str:
    """The marker that one batch's number has its outcome counted (at most once)."""
    return f"bdone#{batch_id}#{numero_os}"


def quota_key(user: str, day: str) -> str:
    return f"bquota#{user}#{day}"


def user_connections_key(user: str) -> str:
    return f"uconn#{user}"


def waiter_key(task_id: str, n: int) -> str:
    """The n-th (1-based) batch waiting for a task it did not create."""
    return f"bwait#{task_id}#{n}"


def requester_key(task_id: str, user: str) -> str:
    return f"req#{task_id}#{user}"


def fair_key(owner: str) -> str:
    return f"bfair#{owner}"


def claim_key(message_id: str) -> str:
    """Which task the scrape message ``message_id`` runs (``claims.py``)."""
    return f"claim#{message_id}"


#: The scheduler's turn counter (``pk``): one number per claim.
TURN_KEY = "sched#turn"


def breaker_key() -> str:
    """The portal-outage circuit breaker (one item)."""
    return "breaker#portal"


#: The fair order's virtual clock (``bfair#`` + this: no user name has a space).
FAIR_CLOCK = " clock"


@dataclass(frozen=True)
class Models:
    """The model classes bound to one set of table names."""

    OsRecord: type[Model]
    Task: type[Model]
    Lock: type[Model]
    Stats: type[Model]
    Connection: type[Model]
    RateLog: type[Model]
    Batch: type[Model]
    BatchMark: type[Model]
    BatchQuota: type[Model]
    UserConnections: type[Model]
    BatchWaiter: type[Model]
    Requester: type[Model]
    FairShare: type[Model]
    Claim: type[Model]
    Turn: type[Model]
    Breaker: type[Model]


@lru_cache(maxsize=8)
def build_models(
    os_table: str,
    tasks_table: str,
    region: str,
    connections_table: str = "raspa-connections",
    *,
    host: str | None = None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
) -> Models:
    """Model classes for the given tables (cached: PynamoDB keeps a connection per class);
    ``host`` and the keys point them at an emulator (``AwsClients.pynamodb``)."""

    class OsRecord(Model):
        class Meta:
            table_name = os_table

        numero_os = UnicodeAttribute(hash_key=True)
        #: "ok" for a scraped record, "not_found" for a negative cache entry.
        outcome = UnicodeAttribute(default="ok")
        data = MapAttribute(null=True)
        scraped_at = NumberAttribute()
        task_id = UnicodeAttribute(null=True)
        #: When the entry stops being served; DynamoDB's TTL deletes it some time later.
        expires_at = TTLAttribute()

    class QueueIndex(GlobalSecondaryIndex):
        """Sparse index of waiting tasks in the order they will start (``queue_order``:
        lane rank, then enqueue time), so one count gives a queue position."""

        class Meta:
            index_name = QUEUE_INDEX
            projection = AllProjection()

        queue_group = UnicodeAttribute(hash_key=True)
        queue_order = NumberAttribute(range_key=True)

    class Task(Model):
        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="task")
        numero_os = UnicodeAttribute()
        status = UnicodeAttribute()
        progress = NumberAttribute(default=0)
        step = UnicodeAttribute(null=True)
        attempts = NumberAttribute(default=0)
        result = MapAttribute(null=True)
        error = UnicodeAttribute(null=True)
        error_reason = UnicodeAttribute(null=True)
        requested_by = UnicodeAttribute(null=True)
        #: Everyone who asked for this OS while the task was active (they may see it).
        requesters = UnicodeSetAttribute(null=True)
        created_at = NumberAttribute()
        updated_at = NumberAttribute()
        started_at = NumberAttribute(null=True)
        finished_at = NumberAttribute(null=True)
        #: Set only while the task waits in the queue: its lane, since when, and its
        #: place in the sparse queue index (``chalicelib.domain.queueorder``).
        queue = UnicodeAttribute(null=True)
        queued_at = NumberAttribute(null=True)
        queue_group = UnicodeAttribute(null=True)
        queue_order = NumberAttribute(null=True)
        queue_index = QueueIndex()
        #: The lane the task was last queued in (kept after it starts, unlike ``queue``).
        lane = UnicodeAttribute(null=True)
        #: What went wrong, for operators only (URLs, portal answers); users see ``error``.
        error_detail = UnicodeAttribute(null=True)
        #: The batch that created the task, if any, and how many other batches wait for its
        #: outcome: each is an item of its own (``bwait#<task>#<n>``, n = 1..waiters), so the
        #: task item and its finishing transaction stay the same size however many wait.
        batch_id = UnicodeAttribute(null=True)
        waiters = NumberAttribute(default=0)
        #: The WebSocket connections following the task (at most
        #: ``max_subscribers_per_task``). On the task item itself, so every update the
        #: worker makes returns them: notifying costs no extra read.
        subscribers = UnicodeSetAttribute(null=True)
        #: Absent while a batch task is held back for its turn (it may wait longer than the
        #: retention); set when it is released or finishes.
        expires_at = TTLAttribute(null=True)

    class Lock(Model):
        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="lock")
        task_id = UnicodeAttribute()
        created_at = NumberAttribute()
        expires_at = TTLAttribute()

    class Stats(Model):
        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="stats")
        scrapes = NumberAttribute(default=0)
        seconds = NumberAttribute(default=0)
        expires_at = TTLAttribute()

    class Connection(Model):
        """An open WebSocket connection (API Gateway closes them after 2 hours)."""

        class Meta:
            table_name = connections_table

        connection_id = UnicodeAttribute(hash_key=True)
        user = UnicodeAttribute(null=True)
        connected_at = NumberAttribute()
        expires_at = TTLAttribute()

    class RateLog(Model):
        """A user's recent scrape starts (``pk`` = ``rate#<user>``), for the rolling
        window; ``version`` makes each write conditional on the state it was read in."""

        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="rate")
        starts = ListAttribute(of=NumberAttribute, null=True)
        version = NumberAttribute(default=0)
        expires_at = TTLAttribute()

    class Batch(Model):
        """An uploaded list of OS numbers (``pk`` = ``batch#<id>``) and its counts."""

        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="batch")
        batch_id = UnicodeAttribute()
        owner = UnicodeAttribute()
        status = UnicodeAttribute()
        filename = UnicodeAttribute(null=True)
        key = UnicodeAttribute()
        declared_size = NumberAttribute(null=True)
        error = UnicodeAttribute(null=True)
        #: Index into the parsed file's distinct numbers up to which ingest is done.
        offset = NumberAttribute(default=0)
        lines = NumberAttribute(default=0)
        valid = NumberAttribute(default=0)
        invalid = NumberAttribute(default=0)
        duplicates = NumberAttribute(default=0)
        cached = NumberAttribute(default=0)
        joined = NumberAttribute(default=0)
        queued = NumberAttribute(default=0)
        succeeded = NumberAttribute(default=0)
        failed = NumberAttribute(default=0)
        not_found = NumberAttribute(default=0)
        #: Tasks created but not sent yet ("<task_id> <numero>"), sent with the next chunk
        #: so every SendMessageBatch but the last carries ten messages.
        carry = ListAttribute(of=UnicodeAttribute, null=True)
        #: The ingest invocation working on the batch, and until when (a crashed one's
        #: lease runs out; its successor then checks the chunk it left half done).
        lease_id = UnicodeAttribute(null=True)
        lease_until = NumberAttribute(null=True)
        results_csv = UnicodeAttribute(null=True)
        results_json = UnicodeAttribute(null=True)
        created_at = NumberAttribute()
        updated_at = NumberAttribute()
        finished_at = NumberAttribute(null=True)
        expires_at = TTLAttribute()

    class BatchMark(Model):
        """One number's outcome, counted once for one batch (``bdone#<batch>#<numero>``)."""

        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="mark")
        outcome = UnicodeAttribute()
        #: "ingest" (answered from the cache) or "task" (counted when a task finished).
        source = UnicodeAttribute(default="task")
        message = UnicodeAttribute(null=True)
        expires_at = TTLAttribute()

    class BatchQuota(Model):
        """Batch lines a user uploaded on one UTC day (``bquota#<user>#<yyyymmdd>``)."""

        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="quota")
        lines = NumberAttribute(default=0)
        expires_at = TTLAttribute()

    class BatchWaiter(Model):
        """A batch waiting for a task it did not create (``bwait#<task>#<n>``)."""

        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="waiter")
        batch_id = UnicodeAttribute()
        expires_at = TTLAttribute()

    class Requester(Model):
        """A user who asked for a task whose requester set is full (``req#<task>#<user>``)."""

        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="requester")
        expires_at = TTLAttribute()

    class FairShare(Model):
        """The batch lane's fair order: an owner's last key (``bfair#<owner>``), and the
        virtual clock (``bfair#`` + ``CLOCK``), the key of the latest released task."""

        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="fair")
        last = NumberAttribute(default=0)
        expires_at = TTLAttribute(null=True)

    class Claim(Model):
        """The task a scrape message runs (``claim#<message id>``): when the message comes
        back (a retry's back-off, a worker that died), it runs that task again."""

        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="claim")
        task_id = UnicodeAttribute()
        expires_at = TTLAttribute()

    class Turn(Model):
        """The scheduler's turn counter (``sched#turn``): claims made while lanes competed."""

        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="turn")
        n = NumberAttribute(default=0)

    class UserConnections(Model):
        """A user's open WebSocket connections (``uconn#<user>``), for per-user events."""

        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="user_connections")
        connections = UnicodeSetAttribute(null=True)
        expires_at = TTLAttribute()

    class Breaker(Model):
        """The portal-outage circuit breaker (``breaker#portal``,
        ``chalicelib.domain.breaker``); ``version`` makes each write conditional."""

        class Meta:
            table_name = tasks_table

        pk = UnicodeAttribute(hash_key=True)
        kind = UnicodeAttribute(default="breaker")
        state = UnicodeAttribute(default="closed")
        failures = NumberAttribute(default=0)
        probes = NumberAttribute(default=0)
        parked = NumberAttribute(default=0)
        version = NumberAttribute(default=0)
        opened_at = NumberAttribute(null=True)
        next_probe_at = NumberAttribute(null=True)

    models = (
        OsRecord,
        Task,
        Lock,
        Stats,
        Connection,
        RateLog,
        Batch,
        BatchMark,
        BatchQuota,
        UserConnections,
        BatchWaiter,
        Requester,
        FairShare,
        Claim,
        Turn,
        Breaker,
    )
    for cls in models:
        cls.Meta.region = region  # type: ignore[attr-defined]
        cls.Meta.host = host  # type: ignore[attr-defined]
        cls.Meta.aws_access_key_id = aws_access_key_id  # type: ignore[attr-defined]
        cls.Meta.aws_secret_access_key = aws_secret_access_key  # type: ignore[attr-defined]
    return Models(*models)

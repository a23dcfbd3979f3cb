"""The AWS resources raspa needs, as plain data: one source for CDK, the local stack and tests.

The CDK stack and ``local/resources.py`` both build from ``resources(settings)``,
so names, keys, indexes, TTL attributes and redrive settings cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.adapters.dynamo.models import QUEUE_INDEX
from chalicelib.config import Settings
from chalicelib.domain.batchfile import RESULTS_PREFIX, UPLOAD_PREFIX, UPLOAD_SUFFIX

__all__ = [
    "BucketSpec",
    "EventSourceSpec",
    "IndexSpec",
    "QueueSpec",
    "Resources",
    "TableSpec",
    "resources",
]

#: AWS's guidance for SQS event sources: visibility timeout >= 6 x the function timeout.
VISIBILITY_FACTOR = 6
#: Deliveries of an ingest message before it is dead-lettered (a file that keeps failing).
INGEST_RECEIVES = 5


@dataclass(frozen=True)
class IndexSpec:
    name: str
    hash_key: tuple[str, str]
    range_key: tuple[str, str] | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    hash_key: tuple[str, str]
    ttl_attribute: str
    indexes: tuple[IndexSpec, ...] = ()


@dataclass(frozen=True)
class QueueSpec:
    name: str
    visibility_timeout: int
    retention_seconds: int
    dead_letter: str | None = None
    max_receive_count: int | None = None


@dataclass(frozen=True)
class EventSourceSpec:
    """An SQS event source of a function (batch size 1), capped at ``max_concurrency``."""

    queue: str
    max_concurrency: int


@dataclass(frozen=True)
class BucketSpec:
    """The batch bucket: uploads under ``upload_prefix`` notify ``notify_queue``."""

    name: str
    upload_prefix: str
    upload_suffix: str
    results_prefix: str
    notify_queue: str
    upload_expiry_days: int
    results_expiry_days: int


@dataclass(frozen=True)
class Resources:
    tables: tuple[TableSpec, ...]
    queues: tuple[QueueSpec, ...]
    secret_name: str
    #: The worker's reserved concurrency: the portal's limit of scrapes at once.
    worker_reserved_concurrency: int = 3
    #: The worker's event source: the scrape queue, capped at the portal's limit, whose
    #: messages wake the worker up to claim the best waiting task (docs/scheduling.md).
    worker_sources: tuple[EventSourceSpec, ...] = ()
    #: Uploaded batch files and their results.
    bucket: BucketSpec | None = None
    #: The batch ingest function's event source (S3 notifications and continuations).
    ingest_source: EventSourceSpec | None = None
    #: The ingest function's time limit (its queue's visibility is 6 x this).
    ingest_timeout_seconds: int = 300


def resources(settings: Settings) -> Resources:
    """Everything raspa's functions read or write, named as ``settings`` says."""
    os_table = TableSpec(settings.os_table, ("numero_os", "S"), "expires_at")
    tasks_table = TableSpec(
        settings.tasks_table,
        ("pk", "S"),
        "expires_at",
        indexes=(IndexSpec(QUEUE_INDEX, ("queue_group", "S"), ("queue_order", "N")),),
    )
    connections_table = TableSpec(settings.connections_table, ("connection_id", "S"), "expires_at")
    dlq = QueueSpec(settings.dlq_name, visibility_timeout=30, retention_seconds=14 * 86_400)
    scrape = QueueSpec(
        settings.queue_name,
        visibility_timeout=VISIBILITY_FACTOR * settings.scrape_timeout_seconds,
        retention_seconds=settings.lock_ttl_seconds,
        dead_letter=dlq.name,
        max_receive_count=settings.max_receive_count,
    )
    ingest = QueueSpec(
        settings.ingest_queue_name,
        visibility_timeout=VISIBILITY_FACTOR * settings.ingest_timeout_seconds,
        retention_seconds=settings.lock_ttl_seconds,
        dead_letter=dlq.name,
        max_receive_count=INGEST_RECEIVES,
    )
    bucket = BucketSpec(
        settings.batch_bucket,
        upload_prefix=UPLOAD_PREFIX,
        upload_suffix=UPLOAD_SUFFIX,
        results_prefix=RESULTS_PREFIX,
        notify_queue=ingest.name,
        upload_expiry_days=7,
        results_expiry_days=30,
    )
    return Resources(
        tables=(os_table, tasks_table, connections_table),
        queues=(dlq, scrape, ingest),
        secret_name=settings.portal_secret_name,
        worker_reserved_concurrency=settings.concurrency,
        # MaximumConcurrency equal to the reserved concurrency: the pollers never ask
        # for more than the function may run, so Lambda never throttles and returns them.
        worker_sources=(EventSourceSpec(scrape.name, settings.concurrency),),
        bucket=bucket,
        ingest_source=EventSourceSpec(ingest.name, settings.ingest_max_concurrency),
        ingest_timeout_seconds=settings.ingest_timeout_seconds,
    )

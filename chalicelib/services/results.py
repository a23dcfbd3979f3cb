"""A batch's outcomes: its owner's progress events, the worker's hook, the results files.

``BatchResults`` is the base of the batch use cases: it holds what they are built from
(``build_batch_service``) and reads a batch's file, and it reports what the batch's tasks
have done: a progress event per chunk ingested or task finished (``task_finished``, the
worker's hook), then, once every number has an outcome, the results files (``finalize``).
``services.ingest`` adds the ingest function's work and ``services.batches`` the API's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from chalicelib.domain.batches import BatchOutcome, BatchStatus, counts_of, is_complete
from chalicelib.domain.batchfile import (
    ParsedFile,
    parse_batch,
    result_lines,
    results_csv,
    results_json,
)
from chalicelib.domain.codec import IngestMessage, IngestOp
from chalicelib.domain.records import TaskRecord
from chalicelib.errors import InvalidOsNumberError
from chalicelib.services.ports import BatchFiles, IngestQueue, OsNumbers, UserNotifier
from chalicelib.services.stores import (
    Batches,
    BatchLaneOrder,
    BatchTaskWriter,
    BatchWaitList,
    CacheEntries,
    TaskBatchReader,
    WaitingCanceller,
)

__all__ = ["BatchLimits", "BatchResults"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchLimits:
    max_bytes: int
    max_lines: int
    daily_lines: int
    url_expiry_seconds: int


class BatchResults:
    """What the batch use cases are built from, and how a batch's outcomes reach its owner."""

    def __init__(
        self,
        batches: Batches,
        bucket: BatchFiles,
        lane: BatchLaneOrder,
        ingest: IngestQueue,
        profile: OsNumbers,
        notifier: UserNotifier,
        *,
        batch_tasks: BatchTaskWriter,
        tasks: TaskBatchReader,
        runs: WaitingCanceller,
        cache: CacheEntries,
        waits: BatchWaitList,
        limits: BatchLimits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.batches = batches
        #: Creating a chunk's tasks, reading them back, and cancelling those that wait.
        self.batch_tasks = batch_tasks
        self.tasks = tasks
        self.runs = runs
        #: Numbers answered from the OS cache.
        self.cache = cache
        self.bucket = bucket
        #: The batch lane's fair order and its queue, and the ingest queue (continuations).
        self.lane = lane
        self.ingest = ingest
        self.waits = waits
        self.profile = profile
        self.notifier = notifier
        self.limits = limits
        self.clock = clock

    def _parse(self, raw: bytes) -> ParsedFile:
        def validate(value: str) -> str:
            try:
                return self.profile.validate_number(value)
            except InvalidOsNumberError as exc:
                raise ValueError(f"invalid OS number: {exc.rule}") from None

        return parse_batch(raw, validate, max_lines=self.limits.max_lines)

    # ------------------------------------------------------ progress, results
    def progress(self, batch_id: str, *, finalize_inline: bool = False) -> str:
        """Tell the owner the batch's counts; finish it when every number has an outcome."""
        batch = self.batches.get(batch_id)
        if batch is None:
            return "unknown_batch"
        counts = counts_of(batch)
        if batch.status == BatchStatus.RUNNING.value and is_complete(counts):
            if finalize_inline:
                return self.finalize(batch_id)
            self.ingest.send_body(IngestMessage(IngestOp.FINALIZE, batch_id).encode())
            return "finalizing"
        self.notifier.publish_to_user(
            batch.owner,
            {
                "batch_id": batch_id,
                "status": "progress",
                "batch_status": batch.status,
                "counts": counts,
            },
        )
        return batch.status

    def task_finished(self, task: TaskRecord) -> list[str]:
        """The worker's hook once a task is terminal: count its outcome in every batch
        waiting for it (raises ``StorageError`` if that fails: the worker has the message
        delivered again, and counting again changes nothing), then tell their owners."""
        batches = self.waits.count_outcomes(task)
        for batch_id in batches:
            try:
                self.progress(batch_id)
            except Exception:
                logger.exception("batch progress failed", extra={"batch_id": batch_id})
        return batches

    def finalize(self, batch_id: str) -> str:
        """Write the results files and complete the batch (idempotent)."""
        batch = self.batches.get(batch_id)
        if batch is None or batch.status != BatchStatus.RUNNING.value:
            return "not_running"
        counts = counts_of(batch)
        if not is_complete(counts):
            return "not_complete"
        parsed = self._parse(self.bucket.read(batch.key, self.limits.max_bytes))
        numbers = [numero for numero, _ in parsed.numbers]
        marks = self.batches.marks(batch_id, numbers)
        found = [n for n, mark in marks.items() if mark.outcome == BatchOutcome.OK.value]
        entries = self.cache.entries(found)
        outcomes: dict[str, tuple[str, str, Any]] = {}
        for numero, mark in marks.items():
            data = None
            if mark.outcome == BatchOutcome.OK.value and numero in entries:
                data = entries[numero].data
            outcomes[numero] = (mark.outcome, mark.message or "", data)
        rows = result_lines(parsed, outcomes)
        stem = f"results/{batch.owner}/{batch_id}"
        self.bucket.write(f"{stem}.csv", results_csv(rows), "text/csv; charset=utf-8")
        self.bucket.write(f"{stem}.json", results_json(batch_id, counts, rows), "application/json")
        if not self.batches.complete(batch_id, f"{stem}.csv", f"{stem}.json"):
            return "completed_elsewhere"
        logger.info("batch complete", extra={"batch_id": batch_id, **counts})
        self.notifier.publish_to_user(
            batch.owner,
            {
                "batch_id": batch_id,
                "status": "complete",
                "counts": counts,
                "status_url": f"/batches/{batch_id}",
            },
        )
        return "complete"

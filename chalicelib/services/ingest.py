"""The batch ingest function's work: S3's notifications, chunked ingest, cancelled tasks.

The ingest function receives S3's notification of an upload (through the ingest
queue), then works through the file's distinct numbers 100 at a time: one BatchGetItem
answers the cached ones, the rest join an active task or get a new one in the batch
lane (SendMessageBatch, ten per call). Before its time runs out it saves where it is
and sends itself a continuation message; a crash resumes from the last saved chunk.
A cancelled batch's waiting tasks are failed the same way, chunk by chunk.
"""

from __future__ import annotations

import logging
import uuid
from typing import Callable

from chalicelib.domain.batches import BatchOutcome, BatchStatus, task_id_for
from chalicelib.domain.batchfile import BatchFileError, ParsedFile, parse_key
from chalicelib.domain.codec import IngestMessage, IngestOp, UploadNotice, decode_ingest
from chalicelib.domain.lanes import Lane
from chalicelib.domain.messages import user_message
from chalicelib.domain.records import BatchRecord
from chalicelib.domain.tasks import TaskStatus
from chalicelib.errors import (
    FileTooLargeError,
    ObjectMissingError,
    QueueError,
    QuotaExceeded,
    StorageError,
)
from chalicelib.observability import correlate, count
from chalicelib.services.results import BatchResults

__all__ = ["BatchIngest"]

logger = logging.getLogger(__name__)

#: Numbers per chunk: one BatchGetItem's worth.
CHUNK = 100
#: Stop starting chunks when less than this is left of the invocation's time.
MARGIN_MS = 30_000
#: How long an ingest invocation owns a batch without committing a chunk.
LEASE_SECONDS = 120
#: At most one progress event per batch per this many seconds from the ingest.
PROGRESS_EVERY = 1.0
#: After an ingest, the batch lane is topped up once more this much later.
RELEASE_AGAIN_SECONDS = 10


class BatchIngest(BatchResults):
    """The ingest queue's messages, and the batch lane's top-up (the worker's other hook)."""

    # --------------------------------------------------------------- ingest
    def handle_message(self, body: str, remaining_ms: Callable[[], int]) -> str:
        """One ingest-queue message: an S3 notification, a continuation or a finalize.

        Raises ``MalformedMessageError`` (a ValueError) for a body raspa cannot read.
        """
        message = decode_ingest(body)
        if isinstance(message, UploadNotice):
            if message.test_event:
                return "test_event"
            outcomes = [self.uploaded(key, remaining_ms) for key in message.keys]
            return ",".join(outcomes) or "no_records"
        batch_id = message.batch_id
        if message.op is IngestOp.INGEST:
            return self.resume(batch_id, remaining_ms)
        if message.op is IngestOp.FINALIZE:
            return self.finalize(batch_id)
        if message.op is IngestOp.RELEASE:
            return f"released {self.release()}"
        return self.cancel_tasks(batch_id, message.start, remaining_ms)

    def uploaded(self, key: str, remaining_ms: Callable[[], int]) -> str:
        """A file arrived (its object key, URL-decoded): check it, count its lines against
        the limits, start ingesting."""
        parsed_key = parse_key(key)
        if parsed_key is None:
            logger.warning("upload ignored: not batches/{user}/{batch_id}.csv", extra={"key": key})
            return "ignored"
        owner, batch_id = parsed_key
        correlate(batch_id, batch_id=batch_id)
        batch = self.batches.get(batch_id)
        if batch is not None and batch.owner != owner:
            logger.warning("upload ignored: batch belongs to another user", extra={"key": key})
            return "ignored"
        if batch is not None and batch.status != BatchStatus.AWAITING_UPLOAD.value:
            if batch.status == BatchStatus.INGESTING.value:
                return self.resume(batch_id, remaining_ms)
            return "already_" + batch.status
        try:
            raw = self.bucket.read(key, self.limits.max_bytes)
            parsed = self._parse(raw)
        except (FileTooLargeError, ObjectMissingError, BatchFileError) as exc:
            return self._reject(batch_id, owner, key, str(exc))
        if parsed.lines == 0:
            return self._reject(batch_id, owner, key, "the file has a header but no data lines")
        counts = {
            "lines": parsed.lines,
            "valid": len(parsed.numbers),
            "invalid": len(parsed.invalid),
            "duplicates": len(parsed.duplicates),
        }
        try:
            begun = self.batches.begin(
                batch_id, owner, key, counts, daily_limit=self.limits.daily_lines
            )
        except QuotaExceeded as exc:
            return self._reject(
                batch_id,
                owner,
                key,
                f"daily limit of {exc.limit} batch lines exceeded: {exc.used} used today, "
                f"this file has {parsed.lines}",
            )
        if not begun:
            return self.resume(batch_id, remaining_ms)
        count("BatchLines", parsed.lines)
        logger.info("batch ingest started", extra={"batch_id": batch_id, **counts})
        return self._ingest(self.batches.get(batch_id), parsed, remaining_ms)

    def resume(self, batch_id: str, remaining_ms: Callable[[], int]) -> str:
        """Continue an ingest from its saved offset (a continuation, or a redelivery)."""
        correlate(batch_id, batch_id=batch_id)
        batch = self.batches.get(batch_id)
        if batch is None or batch.status != BatchStatus.INGESTING.value:
            return "not_ingesting"
        parsed = self._parse(self.bucket.read(batch.key, self.limits.max_bytes))
        return self._ingest(batch, parsed, remaining_ms)

    def _reject(self, batch_id: str, owner: str, key: str, error: str) -> str:
        if self.batches.reject(batch_id, owner, key, error):
            logger.info("batch rejected", extra={"batch_id": batch_id, "error": error})
            self.notifier.publish_to_user(
                owner, {"batch_id": batch_id, "status": "rejected", "error": error}
            )
            return "rejected"
        return "already_started"

    def _ingest(
        self, batch: BatchRecord, parsed: ParsedFile, remaining_ms: Callable[[], int]
    ) -> str:
        """Work through the numbers from the saved offset, one chunk at a time; the batch
        lane is topped up after each chunk (``BatchLane.release``)."""
        numbers = [numero for numero, _ in parsed.numbers]
        batch_id, owner = batch.batch_id, batch.owner
        lease = uuid.uuid4().hex
        taken, careful = self.batches.acquire(batch_id, lease, LEASE_SECONDS)
        if not taken:
            return "ingesting_elsewhere"  # its holder continues, or its lease runs out
        batch = self.batches.get(batch_id)
        offset = int(batch.offset or 0)
        last_event = self.clock()
        while True:
            if remaining_ms() < MARGIN_MS:
                self.batches.release(batch_id, lease)
                self.ingest.send_body(IngestMessage(IngestOp.INGEST, batch_id).encode())
                logger.info("batch ingest continues", extra={"batch_id": batch_id, "at": offset})
                return "continued"
            end = min(offset + CHUNK, len(numbers))
            last = end == len(numbers)
            chunk = numbers[offset:end]
            counts = self._chunk(batch_id, owner, chunk, careful)
            if not self.batches.commit_chunk(
                batch_id, lease, offset, end, counts, last=last, lease_seconds=LEASE_SECONDS
            ):
                current = self.batches.get(batch_id)
                if current is not None and current.status == BatchStatus.CANCELLED.value:
                    self._cancel_numbers(current, chunk)  # created after the cancel's walk
                    return "cancelled"
                return "lease_lost"  # a slow chunk outlived the lease; the holder redoes it
            self.release(strict=False)
            offset, careful = end, False
            if last:
                break
            if self.clock() - last_event >= PROGRESS_EVERY:
                last_event = self.clock()
                self.progress(batch_id)
        logger.info("batch ingest finished", extra={"batch_id": batch_id})
        # The queue index lags its table a little in AWS: one more look, a while later,
        # releases tasks the last release could not see yet.
        self.ingest.send_body(
            IngestMessage(IngestOp.RELEASE, batch_id).encode(), delay_seconds=RELEASE_AGAIN_SECONDS
        )
        return self.progress(batch_id, finalize_inline=remaining_ms() >= MARGIN_MS)

    def _chunk(
        self, batch_id: str, owner: str, numbers: list[str], careful: bool
    ) -> dict[str, int]:
        """Answer one chunk: cached outcomes, joined tasks, and new held tasks."""
        counts = dict.fromkeys(("cached", "joined", "queued", "succeeded", "not_found"), 0)
        pending = list(numbers)
        for round_ in range(5):  # a task finishing while we join it: look at its number again
            if not pending:
                break
            entries = self.cache.entries(pending)
            now = self.clock()
            cached = {}
            for numero, entry in entries.items():
                if entry.fresh(now):
                    cached[numero] = (
                        (BatchOutcome.OK, "")
                        if entry.outcome == "ok"
                        else (BatchOutcome.NOT_FOUND, user_message("not_found", numero=numero))
                    )
            rest = [n for n in pending if n not in cached]
            check = careful or round_ > 0
            if check and rest:
                self.batches.forget_uncounted(batch_id, rest)
            for outcome, _ in self.batches.mark_cached(batch_id, cached, careful=check).values():
                counts[outcome.counter] += 1
            counts["cached"] += len(cached)
            created = self.batch_tasks.create_tasks(
                batch_id,
                owner,
                rest,
                careful=check,
                reserve=lambda n: self.lane.reserve(owner, n),
            )
            counts["queued"] += len(created.tasks) + len(created.finished)
            pending = []
            for numero, holder in created.taken.items():
                if self.waits.join(holder, batch_id) is not None:
                    counts["joined"] += 1
                else:
                    pending.append(numero)
        if pending:
            raise RuntimeError(f"{len(pending)} numbers kept changing hands; retrying the chunk")
        return counts

    def release(self, *, strict: bool = True) -> int:
        """Top the batch lane up (see ``BatchLane.release``). Not ``strict``, a failure is
        only logged: the next chunk, finishing task or release message tries again."""
        try:
            return self.lane.release()
        except (StorageError, QueueError) as exc:
            if strict:
                raise
            logger.warning("releasing batch tasks failed", extra={"error": str(exc)})
            return 0

    # --------------------------------------------------------------- cancel
    def cancel_tasks(self, batch_id: str, start: int, remaining_ms: Callable[[], int]) -> str:
        """Fail a cancelled batch's waiting tasks from its ``start``-th number on, in
        chunks, continuing in a new invocation before time runs out."""
        correlate(batch_id, batch_id=batch_id)
        batch = self.batches.get(batch_id)
        if batch is None or batch.status != BatchStatus.CANCELLED.value:
            return "not_cancelled"
        try:
            parsed = self._parse(self.bucket.read(batch.key, self.limits.max_bytes))
        except (FileTooLargeError, ObjectMissingError, BatchFileError):
            return "cancelled"  # never uploaded, or never ingested: it has no tasks
        numbers = [numero for numero, _ in parsed.numbers]
        # Tasks exist up to the ingest's offset, and for the chunk it was working on.
        end = min(len(numbers), int(batch.offset or 0) + CHUNK)
        cancelled = 0
        for i in range(start, end, CHUNK):
            if remaining_ms() < MARGIN_MS:
                self.ingest.send_body(IngestMessage(IngestOp.CANCEL, batch_id, i).encode())
                return "continued"
            cancelled += self._cancel_numbers(batch, numbers[i : i + CHUNK])
        logger.info("batch tasks cancelled", extra={"batch_id": batch_id, "tasks": cancelled})
        self.release(strict=False)
        return "cancelled"

    def _cancel_numbers(self, batch: BatchRecord, numbers: list[str]) -> int:
        ids = [task_id_for(batch.batch_id, numero) for numero in numbers]
        message = user_message("cancelled")
        done = 0
        for task in self.tasks.get_many(ids):
            if task.status == TaskStatus.PENDING.value and task.queue == Lane.BATCH:
                done += self.runs.cancel_waiting(
                    task, owner=batch.owner, message=message, reason="cancelled"
                )
        return done

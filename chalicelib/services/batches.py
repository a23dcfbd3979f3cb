"""Batch uploads' use cases: create a batch, ingest its file in chunks, report, finalize.

The ingest function receives S3's notification of an upload (through the ingest
queue), then works through the file's distinct numbers 100 at a time: one BatchGetItem
answers the cached ones, the rest join an active task or get a new one in the batch
lane (SendMessageBatch, ten per call). Before its time runs out it saves where it is
and sends itself a continuation message; a crash resumes from the last saved chunk.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from chalicelib.config import Settings
from chalicelib.domain.batches import (
    BatchOutcome,
    BatchStatus,
    counts_of,
    is_batch_id,
    is_complete,
    new_batch_id,
    task_id_for,
)
from chalicelib.domain.batchfile import (
    BatchFileError,
    ParsedFile,
    parse_batch,
    parse_key,
    result_lines,
    results_csv,
    results_json,
    upload_key,
)
from chalicelib.domain.codec import IngestMessage, IngestOp, UploadNotice, decode_ingest
from chalicelib.domain.identity import Identity
from chalicelib.domain.lanes import Lane
from chalicelib.domain.messages import user_message
from chalicelib.domain.records import BatchRecord, TaskRecord
from chalicelib.domain.tasks import TaskStatus
from chalicelib.errors import (
    BatchFinishedError,
    BatchNotFoundError,
    FileTooLargeError,
    InvalidOsNumberError,
    InvalidRequestError,
    ObjectMissingError,
    QueueError,
    QuotaExceeded,
    StorageError,
)
from chalicelib.observability import correlate, count
from chalicelib.services.ports import (
    Batches,
    BatchFiles,
    BatchLaneOrder,
    BatchStores,
    BatchTaskWriter,
    BatchWaitList,
    CacheEntries,
    IngestQueue,
    MessageQueue,
    OsNumbers,
    TaskBatchReader,
    UserNotifier,
    WaitingCanceller,
)

__all__ = ["BatchLimits", "BatchService", "build_batch_service"]

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
_FILENAME = re.compile(r"[^\w.\- ()]+")
_USER = re.compile(r"[A-Za-z0-9._@+-]{1,128}")


@dataclass(frozen=True)
class BatchLimits:
    max_bytes: int
    max_lines: int
    daily_lines: int
    url_expiry_seconds: int


class BatchService:
    """Everything raspa does with a batch, from upload URL to results file."""

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

    # ------------------------------------------------------------------ API
    def create(self, identity: Identity, body: dict[str, Any]) -> dict[str, Any]:
        """A new batch and a presigned PUT for its file (``POST /batches``)."""
        size = body.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidRequestError("invalid_size", "size must be the file's size in bytes")
        if size > self.limits.max_bytes:
            raise InvalidRequestError(
                "file_too_large", f"the file may have at most {self.limits.max_bytes} bytes"
            )
        raw_name = body.get("filename", "batch.csv")
        if not isinstance(raw_name, str) or len(raw_name) > 200:
            raise InvalidRequestError("invalid_filename", "filename must be at most 200 characters")
        if not _USER.fullmatch(identity.user):
            raise InvalidRequestError("invalid_user", "this user name cannot own batch files")
        filename = _FILENAME.sub("_", raw_name).strip() or "batch.csv"
        batch_id = new_batch_id()
        key = upload_key(identity.user, batch_id)
        self.batches.create(batch_id, identity.user, key, filename, size)
        url = self.bucket.upload_url(key, size, "text/csv", self.limits.url_expiry_seconds)
        return {
            "batch_id": batch_id,
            "status": BatchStatus.AWAITING_UPLOAD.value,
            "upload": {
                "url": url,
                "method": "PUT",
                "headers": {"Content-Type": "text/csv"},
                "expires_in": self.limits.url_expiry_seconds,
                "max_bytes": self.limits.max_bytes,
            },
            "status_url": f"/batches/{batch_id}",
        }

    def view(self, batch_id: str, user: str) -> dict[str, Any]:
        """The batch's state for its owner (``GET /batches/{id}``); others get not found."""
        batch = self.batches.get(batch_id) if is_batch_id(batch_id) else None
        if batch is None or batch.owner != user:
            raise BatchNotFoundError(batch_id)
        body = summary(batch)
        if batch.status == BatchStatus.COMPLETE.value and batch.results_csv:
            stem = (batch.filename or "batch.csv").rsplit(".", 1)[0]
            expiry = self.limits.url_expiry_seconds
            body["results"] = {
                "csv_url": self.bucket.download_url(
                    batch.results_csv, f"{stem}-resultados.csv", expiry
                ),
                "json_url": self.bucket.download_url(
                    batch.results_json, f"{stem}-resultados.json", expiry
                ),
                "expires_in": expiry,
            }
        return body

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

    def _parse(self, raw: bytes) -> ParsedFile:
        def validate(value: str) -> str:
            try:
                return self.profile.validate_number(value)
            except InvalidOsNumberError as exc:
                raise ValueError(f"invalid OS number: {exc.rule}") from None

        return parse_batch(raw, validate, max_lines=self.limits.max_lines)

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
    def cancel(self, batch_id: str, user: str | None) -> dict[str, Any]:
        """Cancel a batch (``DELETE /batches/{id}`` by its owner, or ops with ``user`` None):
        it stops ingesting, and its tasks that have not started and that nobody else waits
        for fail as ``cancelled`` with their OS locks released (by the ingest function,
        which walks the file in chunks). Idempotent; a finished batch is refused."""
        batch = self.batches.get(batch_id) if is_batch_id(batch_id) else None
        if batch is None or (user is not None and batch.owner != user):
            raise BatchNotFoundError(batch_id)
        if batch.status in (BatchStatus.COMPLETE.value, BatchStatus.REJECTED.value):
            raise BatchFinishedError(batch_id, batch.status)
        if batch.status != BatchStatus.CANCELLED.value:
            if self.batches.cancel(batch_id, user) is None:
                return self.cancel(batch_id, user)  # it changed meanwhile: look again
            correlate(batch_id, batch_id=batch_id)
            logger.info("batch cancelled", extra={"batch_id": batch_id, "by": user or "ops"})
            self.ingest.send_body(IngestMessage(IngestOp.CANCEL, batch_id).encode())
            self.notifier.publish_to_user(
                batch.owner, {"batch_id": batch_id, "status": "cancelled"}
            )
        body = summary(self.batches.get(batch_id))
        body["message"] = "lote cancelado; as OS que ainda não começaram foram retiradas da fila"
        return body

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


def summary(batch: BatchRecord) -> dict[str, Any]:
    counts = counts_of(batch)
    done = counts["succeeded"] + counts["failed"] + counts["not_found"]
    return {
        "batch_id": batch.batch_id,
        "status": batch.status,
        "filename": batch.filename,
        "counts": counts,
        "progress": 100 if not counts["valid"] else int(100 * done / counts["valid"]),
        "error": batch.error,
        "created_at": _iso(batch.created_at),
        "finished_at": _iso(batch.finished_at),
    }


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(epoch)))


def build_batch_service(
    settings: Settings,
    stores: BatchStores,
    *,
    bucket: BatchFiles,
    batch_queue: MessageQueue,
    ingest_queue: IngestQueue,
    profile: OsNumbers,
    notifier: UserNotifier,
) -> BatchService:
    """The batch use cases over ``stores``, as ``settings`` say (the API's functions and the
    ops CLI build them alike)."""
    s = settings
    return BatchService(
        stores.batches,
        bucket,
        stores.batch_lane(batch_queue),
        ingest_queue,
        profile,
        notifier,
        batch_tasks=stores.batch_tasks,
        tasks=stores.tasks,
        runs=stores.runs,
        cache=stores.cache,
        waits=stores.waits,
        limits=BatchLimits(
            max_bytes=s.batch_max_bytes,
            max_lines=s.batch_max_lines,
            daily_lines=s.batch_daily_lines,
            url_expiry_seconds=s.batch_url_expiry_seconds,
        ),
    )

"""The scrape worker's use case: one SQS message in, one task moved forward."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from chalicelib.domain.codec import ScrapeMessage
from chalicelib.domain.lanes import Lane
from chalicelib.domain.messages import user_message
from chalicelib.domain.outcome import TaskOutcome
from chalicelib.domain.records import TaskRecord
from chalicelib.domain.tasks import TERMINAL, TaskStatus, decide_after_error, progress_for
from chalicelib.errors import (
    ConfigurationError,
    ItemRefusedError,
    MalformedMessageError,
    QueueError,
    RaspaError,
    ScrapeError,
    TooLargeError,
    TransientScrapeError,
)
from chalicelib.observability import correlate, count, count_failure, timing
from chalicelib.services.ports import MessageQueue, ScraperFactory, TaskEvents
from chalicelib.services.stores import TaskReader, TaskRuns
from chalicelib.tracing import annotate

__all__ = ["Delivery", "RedeliverError", "ScrapeWorker", "record_bytes"]

logger = logging.getLogger(__name__)

#: Failures whose message is simply dropped (an answer, or nothing ops could redrive).
_NO_LETTER = (None, "not_found", "enqueue_failed", "cancelled", "purged")
#: How soon a message comes back when its batches' counts could not be written.
RECOUNT_SECONDS = 10
#: SQS's longest DelaySeconds on a new message.
MAX_SEND_DELAY = 900


class RedeliverError(Exception):
    """Raised to the Lambda runtime so SQS keeps the message (a retry or the DLQ path).

    The message's visibility has already been set: the back-off for a retry, or 0 so
    that SQS's redrive policy moves a failed task's message to the DLQ at once.
    """


@dataclass(frozen=True)
class Delivery:
    """One delivery of a scrape message: the request, and what SQS says about it."""

    message: ScrapeMessage
    receipt_handle: str
    receive_count: int = 1
    #: The ARN of the queue it came from (its name is the last part).
    source_arn: str = ""

    @property
    def task_id(self) -> str:
        return self.message.task_id

    @property
    def numero_os(self) -> str:
        return self.message.numero_os

    @classmethod
    def of(
        cls, body: str, receipt_handle: str, attributes: dict[str, Any], source_arn: str = ""
    ) -> Delivery:
        """Read an SQS record; MalformedMessageError for a body raspa did not write."""
        message = ScrapeMessage.decode(body)
        try:
            receive_count = int(attributes.get("ApproximateReceiveCount", 1))
        except (ValueError, TypeError):
            raise MalformedMessageError("ApproximateReceiveCount is not a number") from None
        return cls(message, receipt_handle, receive_count, source_arn)


def _subscribers(task: TaskRecord | None, known: set[str]) -> set[str]:
    """The subscribers on the task a write returned; ``known`` if there is none."""
    if task is None:
        return known
    return set(task.subscribers)


class ScrapeWorker:
    """Runs one scrape attempt per message and records every transition."""

    def __init__(
        self,
        queues: Mapping[str, MessageQueue],
        scraper: ScraperFactory,
        *,
        tasks: TaskReader,
        runs: TaskRuns,
        max_attempts: int,
        retry_base_delay_seconds: float,
        time_budget_seconds: float = 285,
        max_record_bytes: int = 200 * 1024,
        clock: Callable[[], float] = time.monotonic,
        notify: TaskEvents | None = None,
        on_finished: Callable[[TaskRecord], object] | None = None,
        on_batch_slot: Callable[[], object] | None = None,
    ) -> None:
        self.tasks = tasks
        self.runs = runs
        #: The queues messages come from, by queue name (the VIP, standard and batch lanes).
        self.queues = queues
        self.scraper = scraper
        self.max_attempts = max_attempts
        self.retry_base_delay = retry_base_delay_seconds
        self.time_budget = time_budget_seconds
        #: Largest record stored (its compact JSON); a bigger OS fails as ``too_large``.
        self.max_record_bytes = max_record_bytes
        self.clock = clock
        self.notify = notify or (lambda *args, **kwargs: None)
        #: Called once a task is terminal: its batches count the outcome. It may raise (a
        #: storage error): the message is then delivered again and it is called again.
        self.on_finished = on_finished or (lambda task: None)
        #: Called when a batch-lane attempt ends, to release the next batch task.
        self.on_batch_slot = on_batch_slot or (lambda: None)

    def handle_record(
        self, body: str, receipt_handle: str, attributes: dict[str, Any], source_arn: str = ""
    ) -> str:
        """Process one raw SQS record; a body raspa did not write goes to the DLQ."""
        try:
            msg = Delivery.of(body, receipt_handle, attributes, source_arn)
        except MalformedMessageError as exc:
            logger.error("malformed scrape message", extra={"error": str(exc)})
            self._queue_of(source_arn).delay_redelivery(receipt_handle, 0)
            raise RedeliverError(f"malformed message: {exc}") from exc
        return self.handle(msg)

    def _queue_of(self, source_arn: str) -> MessageQueue:
        """The queue a message came from (its ARN ends with the queue's name)."""
        name = source_arn.rsplit(":", 1)[-1]
        return self.queues.get(name) or next(iter(self.queues.values()))

    def handle(self, msg: Delivery) -> str:
        """Process one delivery; returns what happened (for logs and tests).

        Raises ``RedeliverError`` when SQS must deliver the message again.
        """
        try:
            return self._handle(msg)
        finally:
            if self._queue_of(msg.source_arn).lane == Lane.BATCH:
                self._free_batch_slot()

    def _handle(self, msg: Delivery) -> str:
        task = self.runs.start(msg.task_id)
        if task is None:
            return self._not_startable(msg)
        correlate(task.pk, task_id=task.pk, numero_os=task.numero_os)
        annotate(task_id=task.pk, numero_os=task.numero_os, lane=task.lane or "")
        attempt = int(task.attempts)
        if attempt > self.max_attempts:
            # The previous attempt died without finishing (timeout, crash): give up now.
            detail = f"the worker stopped during attempt {attempt - 1} of {self.max_attempts}"
            self._fail(msg, task, "worker_died", user_message("worker_died"), detail)
            return self._to_dead_letter(msg, "worker_died")
        logger.info(
            "scrape started",
            extra={"task_id": task.pk, "numero_os": task.numero_os, "attempt": attempt},
        )
        started = self.clock()
        # Every write of the task returns it whole, subscribers and waiting batches
        # included: progress events go to the connections the last write saw, and the
        # finish knows how many batches wait, without reading the task again.
        latest, connections = task, _subscribers(task, set())

        def on_progress(step: str, percent: int | None = None) -> None:
            nonlocal latest, connections
            value = progress_for(step, percent)
            written = self.runs.record_progress(task.pk, step, value)
            connections = _subscribers(written, connections)
            if written is not None:
                latest = replace(latest, waiters=written.waiters)
            self.notify(TaskOutcome.of(task).progressed(step, value), connections)

        try:
            try:
                scraper = self.scraper()
            except ConfigurationError as exc:
                # Usually a secret that could not be read: retried, then DLQ for ops.
                raise TransientScrapeError(f"worker not ready: {exc}") from exc
            record = scraper.scrape(
                task.numero_os, on_progress=on_progress, deadline=started + self.time_budget
            )
            self._check_size(task.numero_os, record)
        except ScrapeError as exc:
            return self._after_error(msg, latest, exc, attempt)
        on_progress("save")
        duration = self.clock() - started
        try:
            finished = self.runs.finish_success(latest, record, duration)
        except ItemRefusedError as exc:
            # DynamoDB refused the record (a size the settings' budget did not foresee):
            # the task fails with the reason instead of staying unfinishable.
            logger.error("record refused by the store", extra={"error": str(exc)})
            self._fail(msg, latest, "not_storable", user_message("not_storable"), str(exc))
            return self._to_dead_letter(msg, "not_storable")
        if finished is not None:
            count("ScrapeSucceeded")
            timing("ScrapeDuration", duration)
            # The result goes first to the connections the last write saw, then to any
            # that subscribed since (read once more, after the finish).
            self.notify(TaskOutcome.of(task).succeeded(record), connections, recheck=True)
            self._finished(msg, finished)
        logger.info(
            "scrape succeeded",
            extra={"task_id": task.pk, "numero_os": task.numero_os, "seconds": round(duration, 3)},
        )
        return "success"

    def _check_size(self, numero_os: str, record: dict[str, Any]) -> None:
        size = record_bytes(record)
        if size > self.max_record_bytes:
            raise TooLargeError(
                f"OS {numero_os}'s record", size, self.max_record_bytes, "RASPA_MAX_RECORD_BYTES"
            )

    def _not_startable(self, msg: Delivery) -> str:
        task = self.tasks.get_task(msg.task_id)
        if task is None:
            logger.warning("message for an unknown task dropped", extra={"task_id": msg.task_id})
            return "unknown_task"
        if TaskStatus(task.status) in TERMINAL:
            if task.batch_id or task.waiters:
                self._finished(msg, task)  # in case the delivery that finished it died after
            if task.status == TaskStatus.FAILURE.value and task.error_reason not in _NO_LETTER:
                return self._to_dead_letter(msg, task.error_reason)
            return "already_finished"  # a duplicate delivery: nothing changes
        return "not_startable"

    def _after_error(self, msg: Delivery, task: TaskRecord, exc: ScrapeError, attempt: int) -> str:
        decision = decide_after_error(
            exc, attempt, self.max_attempts, self.retry_base_delay, task.numero_os
        )
        log_extra = {
            "task_id": task.pk,
            "numero_os": task.numero_os,
            "attempt": attempt,
            "reason": exc.reason,
            "error": decision.detail,
        }
        if decision.status is TaskStatus.RETRY:
            logger.warning(
                "scrape failed, will retry", extra={**log_extra, "delay": decision.delay_seconds}
            )
            self.runs.mark_retry(
                task,
                message=decision.message,
                detail=decision.detail,
                reason=exc.reason,
                delay_seconds=decision.delay_seconds,
            )
            count("ScrapeRetried")
            retrying = TaskOutcome.of(task).retrying(
                decision.message, exc.reason, decision.delay_seconds
            )
            self.notify(retrying)
            self._redeliver_later(msg, task, decision.delay_seconds)
            raise RedeliverError(f"retry in {decision.delay_seconds}s: {exc.reason}")
        logger.error("scrape failed", extra=log_extra)
        self._fail(msg, task, exc.reason, decision.message, decision.detail)
        if decision.dead_letter:
            return self._to_dead_letter(msg, exc.reason)
        return exc.reason

    def _fail(
        self, msg: Delivery, task: TaskRecord, reason: str, message: str, detail: str
    ) -> None:
        """Finish ``task`` as FAILURE (once), tell its subscribers and count its batches."""
        negative = reason == "not_found"
        failed = self.runs.finish_failure(
            task, message=message, detail=detail, reason=reason, negative=negative
        )
        if failed is not None:
            count_failure(reason)
            self.notify(TaskOutcome.of(task).failed(message, reason))
            self._finished(msg, failed)

    def _finished(self, msg: Delivery, task: TaskRecord) -> None:
        """Count a terminal task's outcome in its batches; if that fails, the message comes
        back soon and the next delivery counts again (counting is idempotent)."""
        if not (task.batch_id or task.waiters):
            return
        try:
            self.on_finished(task)
        except RaspaError as exc:
            logger.warning(
                "counting the outcome in its batches failed; the message comes back",
                extra={"task_id": task.pk, "error": str(exc)},
            )
            self._queue_of(msg.source_arn).delay_redelivery(msg.receipt_handle, RECOUNT_SECONDS)
            raise RedeliverError(f"task {task.pk}: batch outcomes not counted yet") from exc

    def _free_batch_slot(self) -> None:
        try:
            self.on_batch_slot()
        except Exception:  # the next attempt, chunk or release message tries again
            logger.exception("releasing the next batch task failed")

    def _redeliver_later(self, msg: Delivery, task: TaskRecord, delay: int) -> None:
        """Set the retry's back-off on the message; if the message is gone (an ops purge
        while the task ran), send the task a new one rather than leave it stranded."""
        queue = self._queue_of(msg.source_arn)
        try:
            queue.delay_redelivery(msg.receipt_handle, delay)
        except QueueError as exc:
            logger.warning(
                "the message could not be delayed; sending a new one",
                extra={"task_id": task.pk, "error": str(exc)},
            )
            queue.send(task.pk, task.numero_os, delay_seconds=min(delay, MAX_SEND_DELAY))

    def _to_dead_letter(self, msg: Delivery, reason: str | None) -> str:
        """Hand the message back with no delay: SQS's redrive policy moves it to the DLQ."""
        self._queue_of(msg.source_arn).delay_redelivery(msg.receipt_handle, 0)
        raise RedeliverError(f"task {msg.task_id} failed ({reason}); message goes to the DLQ")


def record_bytes(record: Any) -> int:
    """A record's compact JSON size in bytes: an upper bound of its DynamoDB size."""
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8"))

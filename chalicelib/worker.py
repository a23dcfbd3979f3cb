"""The scrape worker's use case: one SQS message in, one task moved forward."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping

from chalicelib.errors import ConfigurationError, ScrapeError, TransientScrapeError
from chalicelib.observability import correlate, count, count_failure, timing
from chalicelib.queue import ScrapeMessage
from chalicelib.tasks import TERMINAL, TaskStatus, decide_after_error, progress_for
from chalicelib.tracing import annotate

__all__ = ["RedeliverError", "ScrapeWorker"]

logger = logging.getLogger(__name__)


class RedeliverError(Exception):
    """Raised to the Lambda runtime so SQS keeps the message (a retry or the DLQ path).

    The message's visibility has already been set: the back-off for a retry, or 0 so
    that SQS's redrive policy moves a failed task's message to the DLQ at once.
    """


def _subscribers(item: Any, known: set[str]) -> set[str]:
    """The subscribers on a task item a write returned; ``known`` if there is none."""
    if item is None or not hasattr(item, "subscribers"):
        return known
    return set(item.subscribers or ())


class ScrapeWorker:
    """Runs one scrape attempt per message and records every transition."""

    def __init__(
        self,
        store: Any,
        queues: Mapping[str, Any],
        scraper: Callable[[], Any],
        *,
        max_attempts: int,
        retry_base_delay_seconds: float,
        time_budget_seconds: float = 285,
        clock: Callable[[], float] = time.monotonic,
        notify: Callable[..., None] | None = None,
        on_finished: Callable[[Any], None] | None = None,
    ) -> None:
        self.store = store
        #: The queues messages come from, by queue name (the standard and the VIP lane).
        self.queues = queues
        self.scraper = scraper
        self.max_attempts = max_attempts
        self.retry_base_delay = retry_base_delay_seconds
        self.time_budget = time_budget_seconds
        self.clock = clock
        self.notify = notify or (lambda *args, **kwargs: None)
        #: Called once a task is terminal (its batches count one more outcome).
        self.on_finished = on_finished or (lambda task: None)

    def handle_record(
        self, body: str, receipt_handle: str, attributes: dict[str, Any], source_arn: str = ""
    ) -> str:
        """Process one raw SQS record; a body raspa did not write goes to the DLQ."""
        try:
            msg = ScrapeMessage.from_record(body, receipt_handle, attributes, source_arn)
        except (ValueError, TypeError) as exc:
            logger.error("malformed scrape message", extra={"error": str(exc)})
            self._queue_of(source_arn).delay_redelivery(receipt_handle, 0)
            raise RedeliverError(f"malformed message: {exc}") from exc
        return self.handle(msg)

    def _queue_of(self, source_arn: str) -> Any:
        """The queue a message came from (its ARN ends with the queue's name)."""
        name = source_arn.rsplit(":", 1)[-1]
        return self.queues.get(name) or next(iter(self.queues.values()))

    def handle(self, msg: ScrapeMessage) -> str:
        """Process one delivery; returns what happened (for logs and tests).

        Raises ``RedeliverError`` when SQS must deliver the message again.
        """
        task = self.store.start(msg.task_id)
        if task is None:
            return self._not_startable(msg)
        correlate(task.pk, task_id=task.pk, numero_os=task.numero_os)
        annotate(task_id=task.pk, numero_os=task.numero_os, lane=task.queue or "")
        attempt = int(task.attempts)
        if attempt > self.max_attempts:
            # The previous attempt died without finishing (timeout, crash): give up now.
            if self.store.finish_failure(
                task,
                message=f"the worker stopped during attempt {attempt - 1} of {self.max_attempts}",
                reason="worker_died",
                negative=False,
            ):
                count_failure("worker_died")
                self.notify(
                    task,
                    "error",
                    message="the worker stopped before finishing",
                    reason="worker_died",
                )
                self.on_finished(task)
            return self._to_dead_letter(msg, "worker_died")
        logger.info(
            "scrape started",
            extra={"task_id": task.pk, "numero_os": task.numero_os, "attempt": attempt},
        )
        started = self.clock()
        # Every write of the task returns it whole, subscribers included: progress events
        # go to the connections the last write saw, without reading them again.
        connections = _subscribers(task, set())

        def on_progress(step: str, percent: int | None = None) -> None:
            nonlocal connections
            value = progress_for(step, percent)
            written = self.store.record_progress(task.pk, step, value)
            connections = _subscribers(written, connections)
            self.notify(task, "progress", step=step, progress=value, connections=connections)

        try:
            try:
                scraper = self.scraper()
            except ConfigurationError as exc:
                # Usually a secret that could not be read: retried, then DLQ for ops.
                raise TransientScrapeError(f"worker not ready: {exc}") from exc
            record = scraper.scrape(
                task.numero_os, on_progress=on_progress, deadline=started + self.time_budget
            )
        except ScrapeError as exc:
            return self._after_error(msg, task, exc, attempt)
        on_progress("save")
        duration = self.clock() - started
        if self.store.finish_success(task, record, duration):
            count("ScrapeSucceeded")
            timing("ScrapeDuration", duration)
            # The result goes first to the connections the last write saw, then to any
            # that subscribed since (read once more, after the finish).
            self.notify(task, "success", result=record, connections=connections, recheck=True)
            self.on_finished(task)
        logger.info(
            "scrape succeeded",
            extra={"task_id": task.pk, "numero_os": task.numero_os, "seconds": round(duration, 3)},
        )
        return "success"

    def _not_startable(self, msg: ScrapeMessage) -> str:
        task = self.store.get_task(msg.task_id)
        if task is None:
            logger.warning("message for an unknown task dropped", extra={"task_id": msg.task_id})
            return "unknown_task"
        if TaskStatus(task.status) in TERMINAL:
            if task.batches:
                self.on_finished(task)  # in case the delivery that finished it died after
            if task.status == TaskStatus.FAILURE.value and task.error_reason not in (
                None,
                "not_found",
                "enqueue_failed",
            ):
                return self._to_dead_letter(msg, task.error_reason)
            return "already_finished"  # a duplicate delivery: nothing changes
        return "not_startable"

    def _after_error(self, msg: ScrapeMessage, task: Any, exc: ScrapeError, attempt: int) -> str:
        decision = decide_after_error(exc, attempt, self.max_attempts, self.retry_base_delay)
        log_extra = {
            "task_id": task.pk,
            "numero_os": task.numero_os,
            "attempt": attempt,
            "reason": exc.reason,
            "error": str(exc),
        }
        if decision.status is TaskStatus.RETRY:
            logger.warning(
                "scrape failed, will retry", extra={**log_extra, "delay": decision.delay_seconds}
            )
            self.store.mark_retry(
                task,
                message=decision.message,
                reason=exc.reason,
                delay_seconds=decision.delay_seconds,
            )
            count("ScrapeRetried")
            self.notify(task, "retry", message=decision.message, delay=decision.delay_seconds)
            self._queue_of(msg.source_arn).delay_redelivery(
                msg.receipt_handle, decision.delay_seconds
            )
            raise RedeliverError(f"retry in {decision.delay_seconds}s: {exc}")
        logger.error("scrape failed", extra=log_extra)
        negative = exc.reason == "not_found"
        if self.store.finish_failure(
            task, message=decision.message, reason=exc.reason, negative=negative
        ):
            count_failure(exc.reason)
            self.notify(task, "error", message=decision.message, reason=exc.reason)
            self.on_finished(task)
        if decision.dead_letter:
            return self._to_dead_letter(msg, exc.reason)
        return exc.reason

    def _to_dead_letter(self, msg: ScrapeMessage, reason: str | None) -> str:
        """Hand the message back with no delay: SQS's redrive policy moves it to the DLQ."""
        self._queue_of(msg.source_arn).delay_redelivery(msg.receipt_handle, 0)
        raise RedeliverError(f"task {msg.task_id} failed ({reason}); message goes to the DLQ")

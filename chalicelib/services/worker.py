"""The scrape worker's use case: one SQS message in, one task moved forward.

The message is a wake-up: the scheduler (``chalicelib.services.scheduler``) decides
which waiting task it runs."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any, Callable

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
from chalicelib.services.delivery import Delivery, RedeliverError, record_bytes
from chalicelib.services.portalgate import Admission, PortalGate
from chalicelib.services.ports import MessageQueue, ScraperFactory, TaskEvents
from chalicelib.services.scheduler import How, Scheduler
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
#: When a message finds nothing to run, one wake-up looks again this much later: the
#: queue index lags its table by a moment, and a task sent meanwhile may not show yet.
RESCAN_SECONDS = 2


def _subscribers(task: TaskRecord | None, known: set[str]) -> set[str]:
    """The subscribers on the task a write returned; ``known`` if there is none."""
    if task is None:
        return known
    return set(task.subscribers)


class ScrapeWorker:
    """Runs one scrape attempt per message and records every transition."""

    def __init__(
        self,
        queue: MessageQueue,
        scraper: ScraperFactory,
        *,
        scheduler: Scheduler,
        dead_letters: MessageQueue,
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
        gate: PortalGate | None = None,
    ) -> None:
        self.tasks = tasks
        self.runs = runs
        #: The scrape queue: wake-ups come from it, and go back to it.
        self.queue = queue
        self.scheduler = scheduler
        #: Where a failed task's letter goes for ops to redrive (naming that task).
        self.dead_letters = dead_letters
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
        #: The portal breaker (None: every attempt goes to the portal).
        self.gate = gate

    def handle_record(
        self,
        body: str,
        receipt_handle: str,
        attributes: dict[str, Any],
        source_arn: str = "",
        message_id: str = "",
    ) -> str:
        """Process one raw SQS record; a body raspa did not write goes to the DLQ (by the
        queue's redrive policy, after its receives)."""
        try:
            msg = Delivery.of(body, receipt_handle, attributes, source_arn, message_id)
        except MalformedMessageError as exc:
            logger.error("malformed scrape message", extra={"error": str(exc)})
            self.queue.delay_redelivery(receipt_handle, 0)
            raise RedeliverError(f"malformed message: {exc}") from exc
        return self.handle(msg)

    def handle(self, msg: Delivery) -> str:
        """Process one delivery; returns what happened (for logs and tests).

        Raises ``RedeliverError`` when SQS must deliver the message again.
        """
        admission = self.gate.admit(msg.message_id) if self.gate else Admission.GO
        if admission is Admission.PARKED:
            return "parked"
        claimed = self.scheduler.claim(
            msg.message_id, msg.task_id, first_delivery=msg.receive_count <= 1
        )
        if claimed.how is How.BOUND_DONE:
            return self._not_startable(msg, claimed.bound_task_id or "")
        task = claimed.task
        if task is None:
            return self._idle(msg)
        try:
            return self._run(msg, task, probe=admission is Admission.PROBE)
        finally:
            if task.lane == Lane.BATCH:
                self._free_batch_slot()

    def _idle(self, msg: Delivery) -> str:
        """Nothing waits for this message: other messages took its task. If it named one,
        a plain wake-up looks once more in a moment (a task sent meanwhile may not be in
        the index yet); a plain wake-up that finds nothing is simply done."""
        if msg.message.names_task:
            try:
                self.queue.wake(delay_seconds=RESCAN_SECONDS)
            except QueueError as exc:
                logger.warning("sending a wake-up failed", extra={"error": str(exc)})
        count("WakeupsIdle")
        return "idle"

    def _run(self, msg: Delivery, task: TaskRecord, *, probe: bool = False) -> str:
        correlate(task.pk, task_id=task.pk, numero_os=task.numero_os)
        annotate(task_id=task.pk, numero_os=task.numero_os, lane=task.lane or "")
        attempt = int(task.attempts)
        if attempt > self.max_attempts:
            # The previous attempt died without finishing (timeout, crash): give up now.
            detail = f"the worker stopped during attempt {attempt - 1} of {self.max_attempts}"
            self._fail(msg, task, "worker_died", user_message("worker_died"), detail)
            return self._to_dead_letter(msg, task, "worker_died")
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
            return self._after_error(msg, latest, exc, attempt, probe=probe)
        on_progress("save")
        duration = self.clock() - started
        try:
            finished = self.runs.finish_success(latest, record, duration)
        except ItemRefusedError as exc:
            # DynamoDB refused the record (a size the settings' budget did not foresee):
            # the task fails with the reason instead of staying unfinishable.
            logger.error("record refused by the store", extra={"error": str(exc)})
            self._fail(msg, latest, "not_storable", user_message("not_storable"), str(exc))
            return self._to_dead_letter(msg, latest, "not_storable")
        self._answered()
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

    def _not_startable(self, msg: Delivery, task_id: str) -> str:
        """The message came back for a task it ran that may not start again: finish what
        the delivery that ended it may not have done (its batches' counts, its letter)."""
        task = self.tasks.get_task(task_id)
        if task is None:
            logger.warning("message for an unknown task dropped", extra={"task_id": task_id})
            return "unknown_task"
        if TaskStatus(task.status) in TERMINAL:
            if task.batch_id or task.waiters:
                self._finished(msg, task)  # in case the delivery that finished it died after
            if task.status == TaskStatus.FAILURE.value and task.error_reason not in _NO_LETTER:
                return self._to_dead_letter(msg, task, task.error_reason)
            return "already_finished"  # a duplicate delivery: nothing changes
        return "not_startable"

    def _after_error(
        self, msg: Delivery, task: TaskRecord, exc: ScrapeError, attempt: int, *, probe: bool
    ) -> str:
        if not exc.transient:
            self._answered()
        elif self.gate is not None and self.gate.failed(task, probe=probe):
            logger.warning(
                "the portal is down: the task waits for it",
                extra={"task_id": task.pk, "numero_os": task.numero_os, "reason": exc.reason},
            )
            return "waiting_portal"
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
            return self._to_dead_letter(msg, task, exc.reason)
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
            self.queue.delay_redelivery(msg.receipt_handle, RECOUNT_SECONDS)
            raise RedeliverError(f"task {task.pk}: batch outcomes not counted yet") from exc

    def _answered(self) -> None:
        """The portal answered: the breaker closes (and wakes what it parked)."""
        if self.gate is None:
            return
        try:
            self.gate.answered()
        except RaspaError as exc:  # the next answer closes it
            logger.warning("recording the portal's answer failed", extra={"error": str(exc)})

    def _free_batch_slot(self) -> None:
        try:
            self.on_batch_slot()
        except Exception:  # the next attempt, chunk or release message tries again
            logger.exception("releasing the next batch task failed")

    def _redeliver_later(self, msg: Delivery, task: TaskRecord, delay: int) -> None:
        """Set the retry's back-off on the message; if the message is gone (an ops purge
        while the task ran), send the task a new one rather than leave it stranded."""
        try:
            self.queue.delay_redelivery(msg.receipt_handle, delay)
        except QueueError as exc:
            logger.warning(
                "the message could not be delayed; sending a new one",
                extra={"task_id": task.pk, "error": str(exc)},
            )
            # Not claimed for the task yet: it claims it by name once the back-off is over.
            self.queue.send(
                task.pk, task.numero_os, lane=_lane(task), delay_seconds=min(delay, MAX_SEND_DELAY)
            )

    def _to_dead_letter(self, msg: Delivery, task: TaskRecord, reason: str | None) -> str:
        """Write the failed task's letter to the DLQ (naming it and its lane, for ops to
        redrive); the wake-up itself is done. If the DLQ cannot be reached, the message
        comes back at once and its next delivery writes the letter."""
        try:
            self.dead_letters.send(task.pk, task.numero_os, lane=_lane(task))
        except QueueError as exc:
            self.queue.delay_redelivery(msg.receipt_handle, 0)
            raise RedeliverError(f"task {task.pk} failed ({reason}); letter not written") from exc
        count("DeadLetters")
        logger.warning("task dead-lettered", extra={"task_id": task.pk, "reason": reason})
        return f"dead_letter:{reason}"


def _lane(task: TaskRecord) -> Lane | None:
    try:
        return Lane(task.lane) if task.lane else None
    except ValueError:
        return None

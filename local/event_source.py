"""A local stand-in for Lambda's SQS event source mappings.

Each ``SqsEventSource`` long-polls one queue, runs at most its mapping's
``MaximumConcurrency`` invocations at once, invokes the handler with a Lambda-shaped SQS
event (batch size 1), deletes the message when the handler returns (after the
invocation, as the poller does) and leaves it when it raises, so the visibility timeout
the handler set, and the queue's redrive policy, apply as in AWS.

A function's sources share one ``Slots``: its reserved concurrency. A poller holding a
message waits for a slot, as Lambda's poller retries a throttled invoke while the message
stays in flight. ``worker`` wires the scrape worker as ``infra.spec`` deploys it: one
source on the scrape queue, capped at the portal's limit; which task a message runs is
the worker's own choice (``chalicelib.services.scheduler``), not the poller's.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from infra.spec import Resources

__all__ = ["LambdaContext", "Slots", "SqsEventSource", "WorkerRuntime", "ingest", "worker"]

log = logging.getLogger(__name__)


class LambdaContext:
    """The parts of Lambda's context object raspa's handlers use."""

    def __init__(self, function_name: str, timeout_seconds: float, memory_mb: int = 512) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        )
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Stats:
    invocations: int = 0
    errors: int = 0
    running: int = 0
    peak_running: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Slots:
    """The function's reserved concurrency, shared by its event sources: ``acquire`` waits
    for a free slot (as Lambda's poller retries a throttled invoke)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.running = 0
        self.peak = 0
        #: Times a poller held a message while every slot was busy (Lambda: a throttle).
        self.throttled = 0
        self._cond = threading.Condition()

    def acquire(self, *, stop: threading.Event) -> bool:
        """Take a slot; False when ``stop`` is set first."""
        with self._cond:
            waited = False
            while not stop.is_set():
                if self.running < self.total:
                    self.running += 1
                    self.peak = max(self.peak, self.running)
                    return True
                if not waited:
                    self.throttled += 1
                    waited = True
                self._cond.wait(timeout=0.2)
            return False

    def release(self) -> None:
        with self._cond:
            self.running -= 1
            self._cond.notify_all()


class SqsEventSource:
    """Polls ``queue_url`` with ``concurrency`` pollers and invokes ``handler(event, context)``."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        handler: Callable[[dict, Any], Any],
        *,
        function_name: str = "scrape_worker",
        concurrency: int = 3,
        timeout_seconds: float = 300,
        wait_seconds: int = 1,
        region: str = "us-east-1",
        slots: Slots | None = None,
        spare_pollers: int = 0,
    ) -> None:
        self.sqs, self.queue_url, self.handler = sqs, queue_url, handler
        #: The reserved concurrency this source shares with the function's other sources.
        self.slots = slots or Slots(concurrency)
        self.function_name = function_name
        self.concurrency = concurrency
        #: Pollers beyond ``concurrency`` hold the next message while every slot is busy
        #: (as Lambda's pollers receive ahead), so a freed slot never waits for a receive.
        self.pollers = concurrency + spare_pollers
        self._running = threading.BoundedSemaphore(concurrency)
        self.timeout_seconds = timeout_seconds
        self.wait_seconds = wait_seconds
        self.region = region
        self.stats = Stats()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def start(self) -> SqsEventSource:
        for i in range(self.pollers):
            thread = threading.Thread(
                target=self._poll, name=f"{self.function_name}-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)

    def __enter__(self) -> SqsEventSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                    WaitTimeSeconds=self.wait_seconds,
                ).get("Messages", [])
            except Exception:
                if not self._stop.is_set():
                    log.exception("polling %s failed", self.queue_url)
                    time.sleep(0.5)
                continue
            for message in messages:
                # The mapping's MaximumConcurrency, then a slot of the reserved concurrency.
                while not self._running.acquire(timeout=0.2):
                    if self._stop.is_set():
                        return  # the message becomes visible again after its timeout
                if not self.slots.acquire(stop=self._stop):
                    self._running.release()
                    return
                try:
                    handled = self._invoke(message)
                finally:
                    self.slots.release()
                    self._running.release()
                if handled:  # the poller's work, after the function has returned
                    self._delete(message)

    def _delete(self, message: dict[str, Any]) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        except Exception:
            log.exception("deleting a message of %s failed", self.queue_url)

    def _invoke(self, message: dict[str, Any]) -> bool:
        """Run the function on one message; False if it raised (the message stays)."""
        event = {"Records": [self._record(message)]}
        context = LambdaContext(self.function_name, self.timeout_seconds)
        with self.stats.lock:
            self.stats.invocations += 1
            self.stats.running += 1
            self.stats.peak_running = max(self.stats.peak_running, self.stats.running)
        try:
            self.handler(event, context)
        except Exception as exc:  # noqa: BLE001 - Lambda reports the error; SQS keeps the message
            with self.stats.lock:
                self.stats.errors += 1
            # Lambda logs an unhandled error; the message comes back after its timeout.
            log.warning("%s failed: %s: %s", self.function_name, type(exc).__name__, exc)
            return False
        finally:
            with self.stats.lock:
                self.stats.running -= 1
        return True

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._arn,
            "awsRegion": self.region,
        }


class WorkerRuntime:
    """The scrape function with its event sources, started and stopped together."""

    def __init__(self, sources: list[SqsEventSource], slots: Slots) -> None:
        self.sources, self.slots = sources, slots

    def start(self) -> WorkerRuntime:
        for source in self.sources:
            source.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        for source in self.sources:
            source._stop.set()
        for source in self.sources:
            source.stop(timeout)

    def __enter__(self) -> WorkerRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def worker(
    sqs: Any,
    handler: Callable[[dict, Any], Any],
    spec: Resources,
    queue_urls: Mapping[str, str],
    *,
    concurrency: int | None = None,
    **options: Any,
) -> WorkerRuntime:
    """raspa's worker as ``spec`` deploys it: its event source on the scrape queue, capped
    at its ``MaximumConcurrency`` and the reserved concurrency (or ``concurrency``)."""
    slots = Slots(concurrency or spec.worker_reserved_concurrency)
    sources = [
        SqsEventSource(
            sqs,
            queue_urls[source.queue],
            handler,
            function_name="scrape_worker",
            concurrency=min(source.max_concurrency, slots.total),
            slots=slots,
            spare_pollers=1,
            **options,
        )
        for source in spec.worker_sources
    ]
    return WorkerRuntime(sources, slots)


def ingest(
    sqs: Any,
    handler: Callable[[dict, Any], Any],
    spec: Resources,
    queue_urls: Mapping[str, str],
    **options: Any,
) -> SqsEventSource:
    """The batch ingest function on its queue (S3 notifications and continuations)."""
    source = spec.ingest_source
    assert source is not None, "the resources define no ingest source"
    return SqsEventSource(
        sqs,
        queue_urls[source.queue],
        handler,
        function_name="batch_ingest",
        concurrency=source.max_concurrency,
        timeout_seconds=spec.ingest_timeout_seconds,
        **options,
    )

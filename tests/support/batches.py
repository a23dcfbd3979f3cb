"""Drive batch uploads in tests: put a file in the bucket, run the ingest on its queue."""

from __future__ import annotations

from typing import Any, Callable

from tests.support.sqs import QueueDriver


class Countdown:
    """A Lambda context whose remaining time falls by ``step_ms`` on every look."""

    def __init__(self, start_ms: int = 300_000, step_ms: int = 0) -> None:
        self.remaining, self.step = start_ms, step_ms

    def get_remaining_time_in_millis(self) -> int:
        value = self.remaining
        self.remaining -= self.step
        return value


class IngestDriver(QueueDriver):
    """Plays the ingest function's event source: each delivery gets a fresh context."""

    def __init__(
        self, sqs: Any, queue_url: str, handler: Callable[[dict, Any], Any], context: Any = None
    ) -> None:
        self.context_factory = context or (lambda: Countdown())
        super().__init__(sqs, queue_url, lambda event: handler(event, self.context_factory()))


def upload(s3: Any, bucket: str, user: str, batch_id: str, body: bytes) -> str:
    key = f"batches/{user}/{batch_id}.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return key

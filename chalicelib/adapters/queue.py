"""SQS adapter: scrape and ingest messages out, visibility changes for back-off.
ClientError → QueueError. The bodies are the codec's (``chalicelib.domain.codec``)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.codec import ScrapeMessage
from chalicelib.domain.lanes import Lane
from chalicelib.errors import QueueError

__all__ = ["ScrapeQueue"]


#: SQS's limit of entries per SendMessageBatch.
SEND_BATCH = 10


class ScrapeQueue:
    """Sends scrape messages and sets when a failed one comes back."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    @classmethod
    def by_name(cls, client: Any, name: str) -> ScrapeQueue:
        """The queue called ``name`` (one GetQueueUrl call, made once per container)."""
        try:
            url = client.get_queue_url(QueueName=name)["QueueUrl"]
        except (ClientError, BotoCoreError) as exc:
            raise QueueError(f"queue {name!r} could not be found: {exc}") from exc
        return cls(client, url)

    def send(
        self, task_id: str, numero_os: str, *, lane: Lane | None = None, delay_seconds: int = 0
    ) -> str:
        """Wake the worker up for a task that waits in ``lane`` (the message names it, for
        ops and for a worker that cannot see it in the queue index yet)."""
        body = ScrapeMessage(task_id, numero_os, lane).encode()
        return self.send_body(body, delay_seconds=delay_seconds)

    def wake(self, count: int = 1, *, delay_seconds: int = 0) -> None:
        """Send ``count`` wake-ups that name no task (the worker claims the best one)."""
        body = ScrapeMessage.wakeup().encode()
        if delay_seconds or count == 1:
            for _ in range(count):
                self.send_body(body, delay_seconds=delay_seconds)
            return
        self._send_bodies([body] * count)

    def send_body(self, body: str, *, delay_seconds: int = 0) -> str:
        extra = {"DelaySeconds": int(delay_seconds)} if delay_seconds else {}
        try:
            response = self.client.send_message(QueueUrl=self.queue_url, MessageBody=body, **extra)
        except (ClientError, BotoCoreError) as exc:
            raise QueueError(f"sending to the queue failed: {exc}") from exc
        return response["MessageId"]

    def send_many(self, tasks: list[tuple[str, str]], *, lane: Lane | None = None) -> None:
        """Send (task id, number) pairs, ten per SendMessageBatch; entries SQS refuses
        are sent again, and a QueueError is raised if some never get through."""
        self._send_bodies([ScrapeMessage(t, n, lane).encode() for t, n in tasks])

    def _send_bodies(self, bodies: list[str]) -> None:
        for i in range(0, len(bodies), SEND_BATCH):
            entries = {str(j): body for j, body in enumerate(bodies[i : i + SEND_BATCH])}
            for _ in range(5):
                try:
                    response = self.client.send_message_batch(
                        QueueUrl=self.queue_url,
                        Entries=[{"Id": k, "MessageBody": v} for k, v in entries.items()],
                    )
                except (ClientError, BotoCoreError) as exc:
                    raise QueueError(f"sending scrape requests failed: {exc}") from exc
                failed = {f["Id"] for f in response.get("Failed", [])}
                entries = {k: v for k, v in entries.items() if k in failed}
                if not entries:
                    break
            else:
                raise QueueError(f"SQS refused {len(entries)} scrape requests")

    def delay_redelivery(self, receipt_handle: str, seconds: int) -> None:
        """Make a received message visible again in ``seconds`` (the retry back-off)."""
        try:
            self.client.change_message_visibility(
                QueueUrl=self.queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=int(seconds),
            )
        except (ClientError, BotoCoreError) as exc:
            raise QueueError(f"changing message visibility failed: {exc}") from exc

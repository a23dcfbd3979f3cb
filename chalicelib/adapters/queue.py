"""SQS adapter: scrape messages in, visibility changes for back-off. ClientError → QueueError."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import QueueError

__all__ = ["ScrapeMessage", "ScrapeQueue"]


@dataclass(frozen=True)
class ScrapeMessage:
    """One scrape request as the worker receives it."""

    task_id: str
    numero_os: str
    receipt_handle: str
    receive_count: int
    source_arn: str = ""

    @classmethod
    def from_record(
        cls, body: str, receipt_handle: str, attributes: dict[str, Any], source_arn: str = ""
    ) -> ScrapeMessage:
        """Parse an SQS record; raises ValueError for a body raspa did not write."""
        payload = json.loads(body)
        if (
            not isinstance(payload, dict)
            or not payload.get("task_id")
            or not payload.get("numero_os")
        ):
            raise ValueError("message body lacks task_id or numero_os")
        return cls(
            task_id=str(payload["task_id"]),
            numero_os=str(payload["numero_os"]),
            receipt_handle=receipt_handle,
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
            source_arn=source_arn,
        )


def encode(task_id: str, numero_os: str, lane: str | None = None) -> str:
    body = {"v": 1, "task_id": task_id, "numero_os": numero_os}
    if lane:
        body["lane"] = lane  # where ops redrive it from the DLQ
    return json.dumps(body, separators=(",", ":"))


#: SQS's limit of entries per SendMessageBatch.
SEND_BATCH = 10


class ScrapeQueue:
    """Sends scrape messages and sets when a failed one comes back."""

    def __init__(self, client: Any, queue_url: str, lane: str | None = None) -> None:
        self.client = client
        self.queue_url = queue_url
        self.lane = lane

    @classmethod
    def by_name(cls, client: Any, name: str, lane: str | None = None) -> ScrapeQueue:
        """The queue called ``name`` (one GetQueueUrl call, made once per container)."""
        try:
            url = client.get_queue_url(QueueName=name)["QueueUrl"]
        except (ClientError, BotoCoreError) as exc:
            raise QueueError(f"queue {name!r} could not be found: {exc}") from exc
        return cls(client, url, lane)

    def send(self, task_id: str, numero_os: str, *, delay_seconds: int = 0) -> str:
        return self.send_body(encode(task_id, numero_os, self.lane), delay_seconds=delay_seconds)

    def send_body(self, body: str, *, delay_seconds: int = 0) -> str:
        extra = {"DelaySeconds": int(delay_seconds)} if delay_seconds else {}
        try:
            response = self.client.send_message(QueueUrl=self.queue_url, MessageBody=body, **extra)
        except (ClientError, BotoCoreError) as exc:
            raise QueueError(f"sending to the queue failed: {exc}") from exc
        return response["MessageId"]

    def send_many(self, tasks: list[tuple[str, str]]) -> None:
        """Send (task id, number) pairs, ten per SendMessageBatch; entries SQS refuses
        are sent again, and a QueueError is raised if some never get through."""
        for i in range(0, len(tasks), SEND_BATCH):
            entries = {
                str(j): encode(task_id, numero, self.lane)
                for j, (task_id, numero) in enumerate(tasks[i : i + SEND_BATCH])
            }
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

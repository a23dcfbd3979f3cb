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


def encode(task_id: str, numero_os: str) -> str:
    return json.dumps({"v": 1, "task_id": task_id, "numero_os": numero_os}, separators=(",", ":"))


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

    def send(self, task_id: str, numero_os: str) -> str:
        try:
            response = self.client.send_message(
                QueueUrl=self.queue_url, MessageBody=encode(task_id, numero_os)
            )
        except (ClientError, BotoCoreError) as exc:
            raise QueueError(f"sending the scrape request failed: {exc}") from exc
        return response["MessageId"]

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

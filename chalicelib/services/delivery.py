"""One delivery of a scrape message as the worker reads it, and what it raises to have
SQS deliver the message again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.codec import ScrapeMessage
from chalicelib.errors import MalformedMessageError

__all__ = ["Delivery", "RedeliverError", "record_bytes"]


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
    #: SQS's id of the message (the same at every delivery); the receipt handle if not given.
    message_id: str = ""

    def __post_init__(self) -> None:
        if not self.message_id:
            object.__setattr__(self, "message_id", self.receipt_handle)

    @property
    def task_id(self) -> str | None:
        """The task whose arrival sent the message (None: a plain wake-up)."""
        return self.message.task_id

    @property
    def numero_os(self) -> str | None:
        return self.message.numero_os

    @classmethod
    def of(
        cls,
        body: str,
        receipt_handle: str,
        attributes: dict[str, Any],
        source_arn: str = "",
        message_id: str = "",
    ) -> Delivery:
        """Read an SQS record; MalformedMessageError for a body raspa did not write."""
        message = ScrapeMessage.decode(body)
        try:
            receive_count = int(attributes.get("ApproximateReceiveCount", 1))
        except (ValueError, TypeError):
            raise MalformedMessageError("ApproximateReceiveCount is not a number") from None
        return cls(message, receipt_handle, receive_count, source_arn, message_id)


def record_bytes(record: Any) -> int:
    """A record's compact JSON size in bytes: an upper bound of its DynamoDB size."""
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8"))

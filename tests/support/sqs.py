"""Turn real (moto) SQS messages into the Lambda SQS event Chalice's handler receives."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

_TEMPLATE = json.loads((Path(__file__).parents[1] / "events" / "sqs_record.json").read_text())


def lambda_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """A Lambda SQS event carrying ``messages`` as returned by ReceiveMessage."""
    records = []
    for msg in messages:
        record = copy.deepcopy(_TEMPLATE)
        record.update(
            messageId=msg["MessageId"],
            receiptHandle=msg["ReceiptHandle"],
            body=msg["Body"],
            md5OfBody=msg["MD5OfBody"],
            eventSourceARN=queue_arn,
        )
        record["attributes"].update(msg.get("Attributes", {}))
        records.append(record)
    return {"Records": records}


class QueueDriver:
    """Plays Lambda's SQS event source in tests: receive, invoke, delete on success."""

    def __init__(self, sqs: Any, queue_url: str, invoke: Any) -> None:
        self.sqs, self.queue_url, self.invoke = sqs, queue_url, invoke
        self.arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def receive(self) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=1,
            AttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])

    def deliver_once(self) -> str | None:
        """Receive one message and run the handler; returns "ok", "error" or None if empty."""
        messages = self.receive()
        if not messages:
            return None
        try:
            self.invoke(lambda_event(messages, self.arn))
        except Exception:  # noqa: BLE001 - Lambda reports any error and keeps the message
            return "error"
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        return "ok"

    def drain(self, limit: int = 1000) -> list[str]:
        """Deliver until the queue is empty (or ``limit`` deliveries); each one's outcome."""
        outcomes = []
        for _ in range(limit):
            outcome = self.deliver_once()
            if outcome is None:
                break
            outcomes.append(outcome)
        return outcomes

"""The bodies of raspa's SQS messages, written and read in one place. Pure, no I/O.

* Scrape lanes: ``{"v": 1, "task_id": ..., "numero_os": ..., "lane": ...}`` (``lane`` is
  optional: it tells ops which lane a dead letter goes back to).
* The batch ingest queue: raspa's own ``{"v": 1, "op": ..., "batch_id": ..., "from": ...}``
  (``from`` on ``cancel`` only), and S3's notifications of uploaded files
  (``{"Records": [...]}``, or its ``s3:TestEvent``).

``encode`` writes compact JSON, byte for byte what raspa has always sent. ``decode``
checks the shape and raises ``MalformedMessageError`` (a ValueError) for a body raspa
did not write: not JSON, another version, a field missing or invalid. Unknown extra keys
are ignored, so a newer writer may add some.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from chalicelib.domain.batches import is_batch_id
from chalicelib.domain.lanes import Lane
from chalicelib.domain.tasks import is_task_id
from chalicelib.errors import MalformedMessageError

__all__ = [
    "VERSION",
    "IngestMessage",
    "IngestOp",
    "ScrapeMessage",
    "UploadNotice",
    "decode_ingest",
]

#: The body version raspa writes; a body naming another is refused.
VERSION = 1
#: The test notification S3 sends when a bucket's notifications are configured.
S3_TEST_EVENT = "s3:TestEvent"


@dataclass(frozen=True)
class ScrapeMessage:
    """One message on the scrape queue: a wake-up for the worker, which claims the best
    waiting task itself. It names the task whose arrival sent it (and its lane), or none
    (``wakeup()``: sent again for tasks that waited out a portal outage).

    Letters in the dead-letter queue have the same shape and always name their task.
    """

    task_id: str | None
    numero_os: str | None
    lane: Lane | None = None

    def __post_init__(self) -> None:
        if self.task_id is None and self.numero_os is None:
            if self.lane is not None:
                raise MalformedMessageError("a wake-up names no lane")
            return
        if not is_task_id(self.task_id):
            raise MalformedMessageError(f"task_id {self.task_id!r:.60} is not a task id")
        if not isinstance(self.numero_os, str) or not self.numero_os:
            raise MalformedMessageError("numero_os must be a non-empty string")
        if self.lane is not None:
            object.__setattr__(self, "lane", _lane(self.lane))

    @classmethod
    def wakeup(cls) -> ScrapeMessage:
        """A message that names no task."""
        return cls(None, None)

    @property
    def names_task(self) -> bool:
        return self.task_id is not None

    def encode(self) -> str:
        """The body to send."""
        if not self.names_task:
            return _dumps({"v": VERSION, "wake": True})
        body: dict[str, Any] = {"v": VERSION, "task_id": self.task_id, "numero_os": self.numero_os}
        if self.lane:
            body["lane"] = self.lane.value
        return _dumps(body)

    @classmethod
    def decode(cls, body: str | bytes) -> ScrapeMessage:
        """The message in ``body``; MalformedMessageError if raspa did not write it."""
        payload = _object(body)
        if payload.get("wake") is True and "task_id" not in payload:
            return cls.wakeup()
        if payload.get("task_id") is None:
            raise MalformedMessageError("task_id is missing")
        return cls(
            task_id=payload.get("task_id"),
            numero_os=payload.get("numero_os"),
            lane=payload.get("lane"),
        )


class IngestOp(enum.StrEnum):
    """What an ingest message asks of the batch service."""

    #: Go on reading the batch's file from its saved offset (a continuation).
    INGEST = "ingest"
    #: Every number has an outcome: write the results.
    FINALIZE = "finalize"
    #: Release held batch tasks to the batch lane (the batch named is the one that asked).
    RELEASE = "release"
    #: Fail the cancelled batch's waiting tasks, from its number at ``start`` on.
    CANCEL = "cancel"


@dataclass(frozen=True)
class IngestMessage:
    """One of the batch ingest's own messages."""

    op: IngestOp
    batch_id: str
    #: CANCEL only: where to go on from (encoded as ``from``).
    start: int = 0

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "op", IngestOp(self.op))
        except (ValueError, TypeError):
            raise MalformedMessageError(f"unknown ingest operation {self.op!r:.40}") from None
        if not is_batch_id(self.batch_id):
            raise MalformedMessageError("ingest message lacks a valid batch_id")
        start = self.start
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise MalformedMessageError("a cancel message's 'from' must be a non-negative integer")
        if start and self.op is not IngestOp.CANCEL:
            raise MalformedMessageError(f"an {self.op} message has no 'from'")

    def encode(self) -> str:
        """The body to send."""
        body: dict[str, Any] = {"v": VERSION, "op": self.op.value, "batch_id": self.batch_id}
        if self.op is IngestOp.CANCEL:
            body["from"] = self.start
        return _dumps(body)

    @classmethod
    def decode(cls, body: str | bytes) -> IngestMessage:
        """The message in ``body``; MalformedMessageError for anything else (S3's too)."""
        message = decode_ingest(body)
        if not isinstance(message, IngestMessage):
            raise MalformedMessageError("an S3 notification, not one of raspa's ingest messages")
        return message

    @classmethod
    def _from(cls, payload: dict[str, Any]) -> IngestMessage:
        batch_id = payload.get("batch_id")
        if not is_batch_id(batch_id):  # checked before the operation, as the ingest always did
            raise MalformedMessageError("ingest message lacks a valid batch_id")
        op = payload.get("op")
        start = payload.get("from", 0) if op == IngestOp.CANCEL else 0
        return cls(op, batch_id, start)


@dataclass(frozen=True)
class UploadNotice:
    """S3's notification of uploaded objects: their keys, URL-decoded (none for S3's test
    event, or a notification without records)."""

    keys: tuple[str, ...] = ()
    test_event: bool = False

    def encode(self) -> str:
        """The body as S3 writes it (the parts raspa reads), for tests and tools."""
        if self.test_event:
            return _dumps({"Event": S3_TEST_EVENT})
        records = [{"s3": {"object": {"key": quote_plus(key, safe="/")}}} for key in self.keys]
        return _dumps({"Records": records})

    @classmethod
    def _from(cls, payload: dict[str, Any]) -> UploadNotice:
        if payload.get("Event") == S3_TEST_EVENT:
            return cls(test_event=True)
        records = payload.get("Records") or []
        if not isinstance(records, list):
            raise MalformedMessageError("an S3 notification's Records must be a list")
        return cls(tuple(_object_key(record) for record in records))


def decode_ingest(body: str | bytes) -> IngestMessage | UploadNotice:
    """An ingest-queue body: one of raspa's ingest messages, or an S3 notification."""
    payload = _object(body, versioned=False)
    if payload.get("Event") == S3_TEST_EVENT or "Records" in payload:
        return UploadNotice._from(payload)
    _check_version(payload)
    return IngestMessage._from(payload)


# ------------------------------------------------------------------ helpers
def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


def _object(body: str | bytes, *, versioned: bool = True) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, TypeError, RecursionError) as exc:
        raise MalformedMessageError(f"message body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise MalformedMessageError("message body must be a JSON object")
    if versioned:
        _check_version(payload)
    return payload


def _check_version(payload: dict[str, Any]) -> None:
    """A body without ``v`` is read as version 1 (the only one there has been)."""
    version = payload.get("v", VERSION)
    if isinstance(version, bool) or version != VERSION:
        raise MalformedMessageError(f"unknown message version {version!r:.20}")


def _lane(value: object) -> Lane:
    try:
        return Lane(value)
    except (ValueError, TypeError):
        raise MalformedMessageError(f"unknown lane {value!r:.40}") from None


def _object_key(record: object) -> str:
    """An S3 event record's object key, URL-decoded (S3 encodes keys as a form would)."""
    s3 = record.get("s3") if isinstance(record, dict) else None
    stored = s3.get("object") if isinstance(s3, dict) else None
    key = stored.get("key") if isinstance(stored, dict) else None
    if not isinstance(key, str):
        raise MalformedMessageError("an S3 notification record lacks s3.object.key")
    return unquote_plus(key)

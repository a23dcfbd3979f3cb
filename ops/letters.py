"""Dead letters and queues as the ops CLI sees them. Pure functions, no AWS calls.

Scrape messages are ``{"v": 1, "task_id", "numero_os", "lane"?}``; batch ingest messages
carry ``batch_id`` or are S3 event notifications (``Records``) and go back to the ingest
queue. A scrape message without a lane goes to the lane of the queue it came from when
SQS says (``DeadLetterQueueSourceArn``), else to the standard lane.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from chalicelib.domain.lanes import ALIASES as LANE_ALIASES
from chalicelib.domain.lanes import Lane

__all__ = [
    "DLQ",
    "INGEST",
    "LANES",
    "QUEUES",
    "DeadLetter",
    "Disposition",
    "describe",
    "disposition",
    "earlier",
    "lane_of_queue",
    "queue_named",
    "summarise",
]

#: The queues that are not scrape lanes.
INGEST, DLQ = "ingest", "dlq"
#: The scrape lanes a message's ``lane`` may name, by precedence (VIP first).
LANES = tuple(Lane)
#: Every queue ops can name, in display order.
QUEUES = (*LANES, INGEST, DLQ)
#: The names an operator may type for each queue.
ALIASES = {**LANE_ALIASES, INGEST: INGEST, "batch-ingest": INGEST, DLQ: DLQ}


@dataclass(frozen=True)
class DeadLetter:
    """One DLQ message as ops see it; ``lane`` is None when raspa did not write it."""

    message_id: str
    kind: str  # "scrape", "batch", "s3" or "unknown"
    lane: str | None
    receive_count: int
    body: str
    task_id: str | None = None
    batch_id: str | None = None
    numero_os: str | None = None
    object_key: str | None = None
    receipt_handle: str = ""

    @property
    def ref(self) -> str:
        """What the letter is about: its task, batch or uploaded object."""
        return self.task_id or self.batch_id or self.object_key or "-"


class Disposition:
    """What redrive does with a dead letter."""

    SEND = "send"  # back to its lane, then deleted from the DLQ
    DROP = "drop"  # deleted: nothing left to run, or another message runs it
    KEEP = "keep"  # left in the DLQ for a person to look at


#: ``Reopener.reopen``'s answers (``Reopen``, ``chalicelib/adapters/dynamo/reopen.py``) and what
#: becomes of the letter.
_BY_REOPEN = {
    "reopened": Disposition.SEND,
    "active": Disposition.SEND,
    "done": Disposition.DROP,
    "superseded": Disposition.DROP,
    "cached": Disposition.DROP,
    "missing": Disposition.KEEP,
}


def disposition(reopen_result: str) -> str:
    """SEND, DROP or KEEP a scrape letter, given what reopening its task found."""
    try:
        return _BY_REOPEN[str(reopen_result)]
    except KeyError:
        raise ValueError(f"unknown reopen result {reopen_result!r}") from None


def queue_named(text: str) -> str:
    """The queue an operator means (``priority`` is ``vip``, ``batch-ingest`` is ``ingest``).

    Raises ValueError naming the accepted names.
    """
    key = text.strip().lower()
    if key not in ALIASES:
        raise ValueError(f"unknown lane {text!r}; use one of {', '.join(ALIASES)}")
    return ALIASES[key]


def earlier(lane: str, than: str) -> bool:
    """Whether scrape lane ``lane`` is served before ``than`` (VIP, standard, batch)."""
    if lane not in LANES or than not in LANES:
        return False
    return Lane(lane).rank < Lane(than).rank


def lane_of_queue(queue_arn_or_url: str, queue_names: Mapping[str, str]) -> str | None:
    """The lane whose queue is ``queue_arn_or_url`` (ARNs end ``:name``, URLs ``/name``)."""
    name = queue_arn_or_url.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    for lane, queue_name in queue_names.items():
        if queue_name == name:
            return lane
    return None


def describe(
    message: Mapping[str, Any], queue_names: Mapping[str, str] | None = None
) -> DeadLetter:
    """Read one ``ReceiveMessage`` entry: what it is and which queue it goes back to."""
    attributes = message.get("Attributes") or {}
    body = message.get("Body") or ""
    source = attributes.get("DeadLetterQueueSourceArn", "")
    source_lane = lane_of_queue(source, queue_names or {}) if source else None
    common = {
        "message_id": message.get("MessageId", ""),
        "receive_count": int(attributes.get("ApproximateReceiveCount", 0)),
        "body": body,
        "receipt_handle": message.get("ReceiptHandle", ""),
    }
    payload = _json(body)
    if isinstance(payload, dict) and "Records" in payload:
        return DeadLetter(kind="s3", lane=INGEST, object_key=_s3_key(payload), **common)
    if isinstance(payload, dict) and payload.get("batch_id") and not payload.get("task_id"):
        return DeadLetter(kind="batch", lane=INGEST, batch_id=str(payload["batch_id"]), **common)
    if isinstance(payload, dict) and payload.get("task_id") and payload.get("numero_os"):
        lane = payload.get("lane")
        if lane not in LANES:
            lane = source_lane if source_lane in LANES else Lane.STANDARD
        lane = Lane(lane)
        return DeadLetter(
            kind="scrape",
            lane=lane,
            task_id=str(payload["task_id"]),
            numero_os=str(payload["numero_os"]),
            batch_id=str(payload["batch_id"]) if payload.get("batch_id") else None,
            **common,
        )
    return DeadLetter(kind="unknown", lane=None, **common)


def summarise(
    letters: Iterable[DeadLetter], reasons: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Counts by lane, by kind and (for tasks whose item was read) by failure reason."""
    letters = list(letters)
    reasons = reasons or {}
    return {
        "total": len(letters),
        "by_lane": dict(Counter(d.lane or "unroutable" for d in letters)),
        "by_kind": dict(Counter(d.kind for d in letters)),
        "by_reason": dict(
            Counter(reasons[d.task_id] for d in letters if d.task_id and d.task_id in reasons)
        ),
    }


def _json(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _s3_key(payload: Mapping[str, Any]) -> str | None:
    """The uploaded object's key, which names the batch (``batches/{user}/{batch}.csv``)."""
    try:
        return str(payload["Records"][0]["s3"]["object"]["key"])
    except (KeyError, IndexError, TypeError):
        return None

"""Dead letters, lanes and queues as the ops CLI sees them. Pure functions, no AWS calls.

raspa has three queues: the scrape queue (wake-ups of every lane: a lane is data on a
task, not a queue), the batch ingest queue and their DLQ. Scrape letters are
``{"v": 1, "task_id", "numero_os", "lane"?}`` (the worker writes them itself, naming the
failed task and its lane) and go back to the scrape queue; a plain wake-up
``{"v": 1, "wake": true}`` (dead-lettered by the scrape queue's redrive policy) goes back
as it is. Batch ingest messages carry ``batch_id`` or are S3 event notifications
(``Records``) and go back to the ingest queue.
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
    "SCRAPE",
    "DeadLetter",
    "Disposition",
    "describe",
    "disposition",
    "earlier",
    "queue_named",
    "summarise",
]

#: The queues, by role.
SCRAPE, INGEST, DLQ = "scrape", "ingest", "dlq"
#: Every queue ops can name, in display order.
QUEUES = (SCRAPE, INGEST, DLQ)
#: The scrape lanes, by precedence (VIP first).
LANES = tuple(Lane)
#: The names an operator may type for a lane or a queue.
ALIASES: Mapping[str, str] = {
    **LANE_ALIASES,
    SCRAPE: SCRAPE,
    INGEST: INGEST,
    "batch-ingest": INGEST,
    DLQ: DLQ,
}


@dataclass(frozen=True)
class DeadLetter:
    """One DLQ message as ops see it.

    ``lane`` is the scrape lane the letter names (None when it names none: a wake-up, or a
    letter whose task's own lane is then used), ``ingest`` for a batch ingest message, and
    None for a body raspa did not write (``kind`` "unknown").
    """

    message_id: str
    kind: str  # "scrape", "wake", "batch", "s3" or "unknown"
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

    @property
    def queue(self) -> str | None:
        """The queue it goes back to (None: raspa did not write it)."""
        if self.kind in ("scrape", "wake"):
            return SCRAPE
        if self.kind in ("batch", "s3"):
            return INGEST
        return None


class Disposition:
    """What redrive does with a dead letter."""

    SEND = "send"  # back to its queue, then deleted from the DLQ
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
    """The lane or queue an operator means: a ``Lane`` (``priority`` is ``vip``), or
    ``scrape``, ``ingest`` (also ``batch-ingest``) or ``dlq``.

    Raises ValueError naming the accepted names.
    """
    key = text.strip().lower()
    if key not in ALIASES:
        raise ValueError(f"unknown lane or queue {text!r}; use one of {', '.join(ALIASES)}")
    return ALIASES[key]


def earlier(lane: str, than: str) -> bool:
    """Whether scrape lane ``lane`` is served before ``than`` (VIP, standard, batch)."""
    if lane not in LANES or than not in LANES:
        return False
    return Lane(lane).rank < Lane(than).rank


def describe(message: Mapping[str, Any]) -> DeadLetter:
    """Read one ``ReceiveMessage`` entry: what it is and where it goes back to."""
    attributes = message.get("Attributes") or {}
    body = message.get("Body") or ""
    common = {
        "message_id": message.get("MessageId", ""),
        "receive_count": int(attributes.get("ApproximateReceiveCount", 0)),
        "body": body,
        "receipt_handle": message.get("ReceiptHandle", ""),
    }
    payload = _json(body)
    if not isinstance(payload, dict):
        return DeadLetter(kind="unknown", lane=None, **common)
    if "Records" in payload:
        return DeadLetter(kind="s3", lane=INGEST, object_key=_s3_key(payload), **common)
    if payload.get("batch_id") and not payload.get("task_id"):
        return DeadLetter(kind="batch", lane=INGEST, batch_id=str(payload["batch_id"]), **common)
    if payload.get("task_id") and payload.get("numero_os"):
        lane = payload.get("lane")
        return DeadLetter(
            kind="scrape",
            lane=Lane(lane) if lane in LANES else None,
            task_id=str(payload["task_id"]),
            numero_os=str(payload["numero_os"]),
            batch_id=str(payload["batch_id"]) if payload.get("batch_id") else None,
            **common,
        )
    if payload.get("wake") is True:
        return DeadLetter(kind="wake", lane=None, **common)
    return DeadLetter(kind="unknown", lane=None, **common)


def summarise(
    letters: Iterable[DeadLetter], reasons: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Counts by lane, by kind and (for tasks whose item was read) by failure reason."""
    letters = list(letters)
    reasons = reasons or {}
    return {
        "total": len(letters),
        "by_lane": dict(Counter(_lane_key(d) for d in letters)),
        "by_kind": dict(Counter(d.kind for d in letters)),
        "by_reason": dict(
            Counter(reasons[d.task_id] for d in letters if d.task_id and d.task_id in reasons)
        ),
    }


def _lane_key(letter: DeadLetter) -> str:
    """A letter's lane for the counts: ``unroutable`` if raspa did not write it, ``-`` if
    it names none."""
    if letter.lane:
        return str(letter.lane)
    return "unroutable" if letter.queue is None else "-"


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

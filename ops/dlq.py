"""The DLQ: reading dead letters (``dlq``, ``status``) and sending them back (``redrive``).

What a letter is and where it goes is ``ops.letters`` (pure); this module receives,
resends and deletes them, and reopens their tasks (``Reopener.reopen``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamo.tasks import Promotion
from ops.connect import Ops
from ops.letters import DLQ, LANES, DeadLetter, Disposition, describe, disposition, earlier
from ops.queues import receive, release

__all__ = ["RedriveReport", "Redriven", "peek", "redrive", "redrive_by_move_task"]

#: How long a received dead letter stays hidden while redrive decides (released after).
HOLD_SECONDS = 300
#: How long ``dlq`` and ``status`` hide the letters they read (released at once after).
PEEK_SECONDS = 30
#: Error codes of an SQS endpoint without StartMessageMoveTask (emulators answer a bare
#: HTTP status, which botocore reports as the code; AWS's own errors have names).
_NO_MOVE_TASK = {
    "InvalidAction",
    "UnsupportedOperation",
    "NotImplemented",
    "UnknownOperation",
    "404",
    "500",
    "501",
}


@dataclass(frozen=True)
class Redriven:
    """One dead letter and what redrive did with it."""

    letter: DeadLetter
    #: ``Disposition.SEND``, ``DROP`` or ``KEEP``.
    action: str
    #: Why: the task's reopen result, "duplicate", "moved up", "failed again", "no lane"...
    why: str
    #: The queue it was sent to (SEND).
    to: str | None = None


@dataclass
class RedriveReport:
    letters: list[Redriven] = field(default_factory=list)
    #: The SQS move task's handle, when SQS moves the letters (``--sqs-move``).
    move_task: str | None = None
    notes: list[str] = field(default_factory=list)

    def count(self, action: str) -> Counter[str]:
        """Letters with ``action``, by lane (SEND) or by reason."""
        return Counter(
            (r.to or "?") if action == Disposition.SEND else r.why
            for r in self.letters
            if r.action == action
        )


def peek(ops: Ops, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, left in the DLQ (visible again at once).

    Reads as many as SQS counts visible (an approximate number), so it does not wait
    for an empty answer at the end.
    """
    url = ops.url(DLQ)
    attrs = ops.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    visible = min(limit, int(attrs.get("ApproximateNumberOfMessages", 0)))
    letters: dict[str, DeadLetter] = {}
    for message in receive(ops.sqs, url, visible, PEEK_SECONDS):
        letters.setdefault(message["MessageId"], describe(message, ops.names))
    release(ops.sqs, url, [d.receipt_handle for d in letters.values()])
    return list(letters.values())


def redrive(ops: Ops, *, limit: int | None = None) -> RedriveReport:
    """Every dead letter back to its lane, its task made runnable again (``Reopener.reopen``).

    Receives and resends, so each letter goes to the lane its body names. A task another
    active task has replaced, one whose OS is cached since or one already done is not run
    again: its letter is dropped. Letters raspa did not write, of tasks that no longer
    exist, or that fail again while this runs stay in the DLQ.
    """
    url = ops.url(DLQ)
    report = RedriveReport()
    sent_ids: set[str] = set()
    lane_of_task: dict[str, str] = {}
    held: list[str] = []
    while limit is None or len(report.letters) < limit:
        want = 10 if limit is None else min(10, limit - len(report.letters))
        messages = receive(ops.sqs, url, want, HOLD_SECONDS, once=True)
        if not messages:
            break
        for message in messages:
            letter = describe(message, ops.names)
            done = _redrive_one(ops, letter, message, sent_ids, lane_of_task)
            report.letters.append(done)
            if done.action == Disposition.KEEP:
                held.append(letter.receipt_handle)
            else:
                ops.sqs.delete_message(QueueUrl=url, ReceiptHandle=letter.receipt_handle)
    release(ops.sqs, url, held)
    return report


def _redrive_one(
    ops: Ops,
    letter: DeadLetter,
    message: Mapping[str, Any],
    sent_ids: set[str],
    lane_of_task: dict[str, str],
) -> Redriven:
    if letter.message_id in sent_ids:
        return Redriven(letter, Disposition.KEEP, "failed again during this redrive")
    if letter.lane is None:
        return Redriven(letter, Disposition.KEEP, "not a raspa message")
    if letter.lane not in ops.urls:
        return Redriven(letter, Disposition.KEEP, f"no {letter.lane} queue")

    def send(why: str) -> Redriven:
        response = ops.sqs.send_message(
            QueueUrl=ops.urls[letter.lane], MessageBody=letter.body, **_attributes(message)
        )
        sent_ids.add(response["MessageId"])
        if letter.task_id:
            lane_of_task[letter.task_id] = str(letter.lane)
        return Redriven(letter, Disposition.SEND, why, letter.lane)

    if letter.kind != "scrape" or not letter.task_id:
        return send(letter.kind)
    if letter.task_id in lane_of_task:
        first = lane_of_task[letter.task_id]
        if earlier(letter.lane, first) and _moved_up(ops, letter.task_id, letter.lane):
            return send(f"moved up from {first}")
        return Redriven(letter, Disposition.DROP, f"duplicate (sent to {first})")
    outcome = ops.store.reopener.reopen(letter.task_id, letter.lane)
    action = disposition(outcome.result)
    if action == Disposition.SEND:
        return send(_why(outcome))
    return Redriven(letter, action, _why(outcome))


def _moved_up(ops: Ops, task_id: str, lane: str) -> bool:
    """Whether the task, sent to a later lane in this redrive, now waits in ``lane``
    instead (not when it started meanwhile: its first letter runs it)."""
    task = ops.store.tasks.get_task(task_id)
    if task is None:
        return False
    return ops.store.tasks.promote(task, lane).result == Promotion.PROMOTED


def _why(outcome: Any) -> str:
    """A reopen outcome in words: "reopened", "superseded by <task>", "cached"..."""
    return f"{outcome.result} by {outcome.holder}" if outcome.holder else str(outcome.result)


def redrive_by_move_task(ops: Ops, *, limit: int = 1000) -> RedriveReport:
    """Reopen the tasks of up to ``limit`` dead letters, then let SQS move the whole DLQ
    back to the letters' source queues (StartMessageMoveTask).

    Letters whose task must not run again are deleted first. Letters beyond ``limit``,
    or arriving meanwhile, are moved with their tasks still FAILURE, so the worker sends
    them back to the DLQ. Without StartMessageMoveTask (moto), redrives letter by letter.
    """
    url = ops.url(DLQ)
    report = RedriveReport()
    held: list[str] = []
    for message in receive(ops.sqs, url, limit, HOLD_SECONDS):
        letter = describe(message, ops.names)
        if letter.kind == "scrape" and letter.task_id and letter.lane in LANES:
            outcome = ops.store.reopener.reopen(letter.task_id, letter.lane)
            if disposition(outcome.result) == Disposition.DROP:
                ops.sqs.delete_message(QueueUrl=url, ReceiptHandle=letter.receipt_handle)
                report.letters.append(Redriven(letter, Disposition.DROP, _why(outcome)))
                continue
        held.append(letter.receipt_handle)
    release(ops.sqs, url, held)
    handle = None if ops.local else _start_move_task(ops.sqs, url)
    if handle is None:
        rest = redrive(ops)
        rest.letters[:0] = report.letters
        rest.notes.append("this SQS has no StartMessageMoveTask: redrove letter by letter")
        return rest
    report.move_task = handle
    return report


def _start_move_task(sqs: Any, dlq_url: str) -> str | None:
    """StartMessageMoveTask from the DLQ to each letter's source queue; None if unsupported."""
    arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]
    try:
        return sqs.start_message_move_task(SourceArn=arn["QueueArn"])["TaskHandle"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _NO_MOVE_TASK:
            raise
        return None


def _attributes(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message attributes to send again with a letter (none for raspa's own)."""
    attributes = {
        name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {"MessageAttributes": attributes} if attributes else {}

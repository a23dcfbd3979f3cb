"""The DLQ: reading dead letters (``dlq``, ``status``) and sending them back (``redrive``).

What a letter is and where it goes is ``ops.letters`` (pure); this module receives,
resends and deletes them, and reopens their tasks (``Reopener.reopen``). A scrape letter
goes back to the one scrape queue as a wake-up naming its task and lane
(``ScrapeQueue.send``); the worker that receives it claims the best waiting task.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamo.tasks import Promotion
from chalicelib.adapters.queue import ScrapeQueue
from chalicelib.domain.lanes import Lane
from chalicelib.domain.tasks import TaskStatus
from ops.connect import Ops
from ops.letters import DLQ, SCRAPE, DeadLetter, Disposition, describe, disposition, earlier
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
    #: Why: the task's reopen result, "duplicate", "moved up to vip", "not a raspa message"...
    why: str
    #: The queue it was sent to (SEND): ``scrape`` or ``ingest``.
    to: str | None = None
    #: The lane its task waits in again (SEND of a scrape letter).
    lane: str | None = None


@dataclass
class RedriveReport:
    letters: list[Redriven] = field(default_factory=list)
    #: The SQS move task's handle, when SQS moves the letters (``--sqs-move``).
    move_task: str | None = None
    notes: list[str] = field(default_factory=list)

    def count(self, action: str) -> Counter[str]:
        """Letters with ``action``: by lane (SEND; ``ingest`` for batch ingest letters,
        ``wake-up`` for plain wake-ups), or by reason."""
        return Counter(
            (r.lane or r.to or "?") if action == Disposition.SEND else r.why
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
        letters.setdefault(message["MessageId"], describe(message))
    release(ops.sqs, url, [d.receipt_handle for d in letters.values()])
    return list(letters.values())


def redrive(ops: Ops, *, limit: int | None = None) -> RedriveReport:
    """Every dead letter back to its queue, a scrape letter's task made runnable again
    (``Reopener.reopen``) and woken for on the scrape queue.

    A task another active task has replaced, one whose OS is cached since or one already
    done is not run again: its letter is dropped, as is a second letter of a task this
    redrive already woke for (one wake-up per waiting task is enough; a second letter
    naming an earlier lane moves the task up first). Letters raspa did not write, of
    tasks that no longer exist, or that fail again while this runs stay in the DLQ.
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
            letter = describe(message)
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
    queue = letter.queue
    if queue is None:
        return Redriven(letter, Disposition.KEEP, "not a raspa message")
    if queue not in ops.urls:
        return Redriven(letter, Disposition.KEEP, f"no {queue} queue")
    if letter.kind != "scrape" or not letter.task_id or not letter.numero_os:
        # A batch ingest message, an upload notification or a plain wake-up: as it was.
        response = ops.sqs.send_message(
            QueueUrl=ops.urls[queue], MessageBody=letter.body, **_attributes(message)
        )
        sent_ids.add(response["MessageId"])
        return Redriven(letter, Disposition.SEND, letter.kind, queue, _kind_lane(letter))
    if letter.task_id in lane_of_task:
        return _again(ops, letter, lane_of_task[letter.task_id])
    lane = _lane(ops, letter)
    outcome = ops.store.reopener.reopen(letter.task_id, lane)
    action = disposition(outcome.result)
    if action != Disposition.SEND:
        return Redriven(letter, action, _why(outcome))
    scrape = ScrapeQueue(ops.sqs, ops.urls[SCRAPE])
    sent_ids.add(scrape.send(letter.task_id, letter.numero_os, lane=lane))
    lane_of_task[letter.task_id] = str(lane)
    return Redriven(letter, Disposition.SEND, _why(outcome), SCRAPE, str(lane))


def _again(ops: Ops, letter: DeadLetter, first: str) -> Redriven:
    """Another letter of a task this redrive already woke for. If the task is FAILURE
    again, the worker wrote it meanwhile: kept. Otherwise one wake-up is enough: dropped,
    after moving the task up when the letter names an earlier lane and the task waits."""
    task = ops.store.tasks.get_task(str(letter.task_id))
    if task is not None and task.status == TaskStatus.FAILURE:
        return Redriven(letter, Disposition.KEEP, "failed again during this redrive")
    lane = letter.lane
    moved = (
        task is not None
        and lane is not None
        and earlier(lane, first)
        and ops.store.tasks.promote(task, lane).result == Promotion.PROMOTED
    )
    if moved:
        return Redriven(letter, Disposition.DROP, f"moved up to {lane} from {first}")
    return Redriven(letter, Disposition.DROP, f"duplicate (woken for in {first})")


def _lane(ops: Ops, letter: DeadLetter) -> Lane:
    """The lane a scrape letter's task is reopened in: the one the letter names, else the
    task's own (standard if neither says)."""
    if letter.lane is not None:
        return Lane(letter.lane)
    task = ops.store.tasks.get_task(str(letter.task_id))
    named = (task.lane or task.queue) if task is not None else None
    try:
        return Lane(named) if named else Lane.STANDARD
    except ValueError:
        return Lane.STANDARD


def _kind_lane(letter: DeadLetter) -> str:
    return "wake-up" if letter.kind == "wake" else str(letter.queue)


def _why(outcome: Any) -> str:
    """A reopen outcome in words: "reopened", "superseded by <task>", "cached"..."""
    return f"{outcome.result} by {outcome.holder}" if outcome.holder else str(outcome.result)


def redrive_by_move_task(ops: Ops, *, limit: int = 1000) -> RedriveReport:
    """Reopen the tasks of the dead letters, then let SQS move the DLQ's scrape letters
    back to the scrape queue (StartMessageMoveTask).

    Reads up to ``limit`` letters first: a scrape letter's task is reopened (its letter
    deleted if the task must not run again), a batch ingest letter is sent back to the
    ingest queue at once (the move goes to the scrape queue only). When there may be more
    letters than ``limit`` (a moved letter whose task is still FAILURE finds nothing to
    run, and is lost), or without StartMessageMoveTask (moto), redrives letter by letter.
    """
    url = ops.url(DLQ)
    scrape_url = ops.url(SCRAPE)
    report = RedriveReport()
    held: list[str] = []
    received = receive(ops.sqs, url, limit, HOLD_SECONDS)
    for message in received:
        letter = describe(message)
        done = _prepare_move(ops, letter, message)
        if done is None:
            held.append(letter.receipt_handle)
            continue
        ops.sqs.delete_message(QueueUrl=url, ReceiptHandle=letter.receipt_handle)
        report.letters.append(done)
    release(ops.sqs, url, held)
    handle = None
    if len(received) < limit and not ops.local:
        handle = _start_move_task(ops.sqs, url, scrape_url)
    if handle is None:
        rest = redrive(ops)
        rest.letters[:0] = report.letters
        if len(received) >= limit:
            rest.notes.append(
                f"more than {limit} letters (--max): redrove letter by letter, so that no "
                "letter is moved with its task still failed"
            )
        else:
            rest.notes.append("this SQS has no StartMessageMoveTask: redrove letter by letter")
        return rest
    report.move_task = handle
    return report


def _prepare_move(ops: Ops, letter: DeadLetter, message: Mapping[str, Any]) -> Redriven | None:
    """What ``--sqs-move`` does with a letter before the move: None leaves it to be moved."""
    if letter.kind == "scrape" and letter.task_id:
        outcome = ops.store.reopener.reopen(letter.task_id, _lane(ops, letter))
        if disposition(outcome.result) == Disposition.DROP:
            return Redriven(letter, Disposition.DROP, _why(outcome))
        return None
    if letter.queue is not None and letter.queue != SCRAPE and letter.queue in ops.urls:
        ops.sqs.send_message(
            QueueUrl=ops.urls[letter.queue], MessageBody=letter.body, **_attributes(message)
        )
        return Redriven(letter, Disposition.SEND, letter.kind, letter.queue, _kind_lane(letter))
    return None


def _start_move_task(sqs: Any, dlq_url: str, scrape_url: str) -> str | None:
    """StartMessageMoveTask from the DLQ to the scrape queue; None if unsupported."""
    arns = [
        sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for u in (dlq_url, scrape_url)
    ]
    try:
        return sqs.start_message_move_task(SourceArn=arns[0], DestinationArn=arns[1])["TaskHandle"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _NO_MOVE_TASK:
            raise
        return None
    except NotImplementedError:  # an emulator in process (moto's mock) lacks it
        return None


def _attributes(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message attributes to send again with a letter (none for raspa's own)."""
    attributes = {
        name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {"MessageAttributes": attributes} if attributes else {}

"""The queues and the lanes: what each holds (``status``), emptying one (``purge``), and
receiving and releasing messages for the DLQ's commands."""

from __future__ import annotations

from typing import Any, Sequence

from chalicelib.domain.lanes import Lane
from chalicelib.domain.messages import user_message
from ops.connect import Ops, OpsError
from ops.letters import LANES, QUEUES, SCRAPE

__all__ = [
    "SCRAPE_PURGE_REFUSED",
    "fail_lane",
    "lane_counts",
    "purge",
    "queue_counts",
    "receive",
    "release",
]

#: SQS's attributes behind each count of ``queue_counts``.
_COUNTS = {
    "waiting": "ApproximateNumberOfMessages",
    "in_flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
}
#: Why ``purge scrape`` is refused.
SCRAPE_PURGE_REFUSED = (
    "the scrape queue is not purged: it holds every lane's wake-ups, and a task whose "
    "wake-up a purge deleted would wait with nothing to run it; purge a lane instead "
    "(vip, standard, batch): its waiting tasks fail, and their wake-ups find nothing"
)


def queue_counts(ops: Ops) -> dict[str, dict[str, Any]]:
    """Waiting, in-flight and delayed messages of every queue that exists, by role."""
    counts: dict[str, dict[str, Any]] = {}
    for queue in QUEUES:
        if queue not in ops.urls:
            continue
        attrs = ops.sqs.get_queue_attributes(
            QueueUrl=ops.urls[queue], AttributeNames=list(_COUNTS.values())
        )["Attributes"]
        row: dict[str, Any] = {"name": ops.names[queue]}
        row.update({k: int(attrs.get(v, 0)) for k, v in _COUNTS.items()})
        counts[queue] = row
    return counts


def lane_counts(ops: Ops) -> dict[str, int]:
    """Tasks waiting in each lane, from the queue index (the batch lane's held ones too)."""
    return {str(lane): ops.store.queue_index.waiting(lane) for lane in LANES}


def purge(ops: Ops, target: str) -> int:
    """Empty a lane (``fail_lane``), or delete every message of the ingest queue or the DLQ
    (SQS allows one purge a minute per queue). The scrape queue is refused (an OpsError):
    see ``SCRAPE_PURGE_REFUSED``. Returns how many tasks were dropped."""
    if target in LANES:
        return fail_lane(ops, Lane(target))
    if target == SCRAPE:
        raise OpsError(SCRAPE_PURGE_REFUSED)
    ops.sqs.purge_queue(QueueUrl=ops.url(target))
    return 0


def fail_lane(ops: Ops, lane: Lane) -> int:
    """Fail every task waiting in ``lane`` (PENDING, held batch tasks, RETRY between
    attempts) as ``purged``, through the queue index: their OS locks are released, their
    batches count the outcome and their requesters read why. The shared scrape queue is
    left alone: their wake-ups find nothing to run and the worker drops them. Returns how
    many tasks were dropped."""
    dropped = 0
    message = user_message("purged")
    for task in list(ops.store.queue_index.waiting_tasks(lane)):
        current = ops.store.tasks.get_task(task.pk)
        failed = None
        if current is not None:
            failed = ops.store.runs.fail_waiting(current, message=message, reason="purged")
        if failed is None:
            continue  # it started or finished meanwhile: it keeps its own message
        dropped += 1
        if failed.batch_id or failed.waiters:
            ops.batches.task_finished(failed)
    return dropped


def receive(
    sqs: Any, url: str, limit: int, hold_seconds: int, *, once: bool = False
) -> list[dict[str, Any]]:
    """Up to ``limit`` messages, hidden for ``hold_seconds`` (``once``: one call)."""
    messages: list[dict[str, Any]] = []
    while len(messages) < limit:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=max(1, min(10, limit - len(messages))),
            WaitTimeSeconds=1,
            VisibilityTimeout=hold_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        messages += batch
        if not batch or once:
            break
    return messages


def release(sqs: Any, url: str, receipt_handles: Sequence[str]) -> None:
    """Make held messages visible again at once."""
    for start in range(0, len(receipt_handles), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for i, handle in enumerate(receipt_handles[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)

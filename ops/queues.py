"""The queues: what each holds (``status``), emptying one (``purge``), and receiving and
releasing messages for the DLQ's commands."""

from __future__ import annotations

from typing import Any, Sequence

from chalicelib.domain.messages import user_message
from ops.connect import Ops
from ops.letters import LANES, QUEUES

__all__ = ["purge", "queue_counts", "receive", "release"]

#: SQS's attributes behind each count of ``queue_counts``.
_COUNTS = {
    "waiting": "ApproximateNumberOfMessages",
    "in_flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
}


def queue_counts(ops: Ops) -> dict[str, dict[str, Any]]:
    """Waiting, in-flight and delayed messages of every queue, and tasks waiting per lane."""
    counts: dict[str, dict[str, Any]] = {}
    for queue in QUEUES:
        if queue not in ops.urls:
            continue
        attrs = ops.sqs.get_queue_attributes(
            QueueUrl=ops.urls[queue], AttributeNames=list(_COUNTS.values())
        )["Attributes"]
        row: dict[str, Any] = {"name": ops.names[queue]}
        row.update({k: int(attrs.get(v, 0)) for k, v in _COUNTS.items()})
        if queue in LANES:
            row["tasks_pending"] = ops.store.queue_index.waiting(queue)
        counts[queue] = row
    return counts


def purge(ops: Ops, queue: str) -> int:
    """Delete every message of ``queue`` (SQS allows one purge a minute per queue), then
    fail the tasks of that lane that waited for one (PENDING, held batch tasks, RETRY
    between attempts) as ``purged``: their OS locks are released, their batches count
    the outcome and their requesters read why. Returns how many tasks were dropped."""
    ops.sqs.purge_queue(QueueUrl=ops.url(queue))
    if queue not in LANES:
        return 0
    dropped = 0
    message = user_message("purged")
    for task in list(ops.store.queue_index.waiting_tasks(queue)):
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

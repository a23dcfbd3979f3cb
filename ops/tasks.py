"""Tasks and batches: reading tasks (``task``, the failures of ``status``), cancelling a
batch (``cancel``)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from chalicelib.domain.tasks import TaskStatus
from ops.connect import Ops
from ops.letters import DeadLetter

__all__ = ["cancel", "failures", "read_tasks", "task_view"]


def read_tasks(ops: Ops, task_ids: Sequence[str]) -> dict[str, Any]:
    """The tasks of ``task_ids`` that exist, by id (BatchGetItem, 100 at a time)."""
    return {task.pk: task for task in ops.store.tasks.get_many(task_ids)}


def task_view(task: Any) -> dict[str, Any]:
    """A task record as plain JSON values (sets sorted, timestamps as epoch seconds)."""
    return {
        "task_id": task.pk,
        "numero_os": task.numero_os,
        "status": task.status,
        "attempts": int(task.attempts or 0),
        "progress": int(task.progress or 0),
        "step": task.step,
        "lane": task.queue or task.lane,
        "error": task.error,
        "error_reason": task.error_reason,
        "error_detail": task.error_detail,
        "requested_by": task.requested_by,
        "requesters": sorted(task.requesters or ()),
        "batch_id": task.batch_id,
        "waiting_batches": int(task.waiters or 0),
        "created_at": epoch(task.created_at),
        "queued_at": epoch(task.queued_at),
        "started_at": epoch(task.started_at),
        "finished_at": epoch(task.finished_at),
        "updated_at": epoch(task.updated_at),
        "expires_at": task.expires_at.timestamp() if task.expires_at else None,
        "result": task.result,
    }


def failures(letters: Sequence[DeadLetter], tasks: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dead letters' failed tasks, newest first, with lane and reason."""
    rows = []
    for letter in letters:
        task = tasks.get(letter.task_id or "")
        if task is None or task.status != TaskStatus.FAILURE:
            continue
        rows.append(
            {
                "task_id": task.pk,
                "numero_os": task.numero_os,
                "lane": letter.lane,
                "attempts": int(task.attempts or 0),
                "reason": task.error_reason,
                "error": task.error,
                "finished_at": epoch(task.finished_at),
            }
        )
    unique = {r["task_id"]: r for r in rows}.values()
    return sorted(unique, key=lambda r: r["finished_at"] or 0, reverse=True)


def cancel(ops: Ops, batch_id: str) -> dict[str, Any]:
    """Cancel any user's batch, as its owner would with ``DELETE /batches/{id}``."""
    return ops.batches.cancel(batch_id, None)


def epoch(value: Any) -> float | None:
    return None if value is None else float(value)

"""The operators' view of a task, rendered from a ``TaskOutcome``. Pure, no I/O.

Operators see everything users do not: the lane, the error's detail, who asked, the
batches waiting, every timestamp. ``task_view(TaskOutcome.of(task))`` is the JSON the
ops CLI's ``task`` command prints (plain values: sets sorted, timestamps as epoch
seconds).
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.outcome import TaskOutcome

__all__ = ["task_view"]


def task_view(outcome: TaskOutcome) -> dict[str, Any]:
    """A task as plain JSON values, for operators."""
    task = outcome.task
    return {
        "task_id": outcome.task_id,
        "numero_os": outcome.numero_os,
        "status": outcome.status.value,
        "attempts": outcome.attempts,
        "progress": outcome.progress,
        "step": outcome.step,
        "lane": task.queue or task.lane,
        "error": task.error,
        "error_reason": task.error_reason,
        "error_detail": task.error_detail,
        "requested_by": task.requested_by,
        "requesters": sorted(task.requesters or ()),
        "batch_id": task.batch_id,
        "waiting_batches": int(task.waiters or 0),
        "created_at": _epoch(task.created_at),
        "queued_at": _epoch(task.queued_at),
        "started_at": _epoch(task.started_at),
        "finished_at": _epoch(task.finished_at),
        "updated_at": _epoch(task.updated_at),
        "expires_at": task.expires_at.timestamp() if task.expires_at else None,
        "result": task.result,
    }


def _epoch(value: float | None) -> float | None:
    return None if value is None else float(value)

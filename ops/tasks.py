"""Tasks and batches: reading tasks (``task``, the failures of ``status``), cancelling a
batch (``cancel``)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from chalicelib.domain.outcome import TaskOutcome
from chalicelib.domain.records import TaskRecord
from chalicelib.domain.tasks import TaskStatus
from chalicelib.services import opsviews
from ops.connect import Ops
from ops.letters import DeadLetter

__all__ = ["cancel", "failures", "read_tasks", "task_view"]


def task_view(task: TaskRecord) -> dict[str, Any]:
    """A task as operators see it (``chalicelib.services.opsviews``)."""
    return opsviews.task_view(TaskOutcome.of(task))


def read_tasks(ops: Ops, task_ids: Sequence[str]) -> dict[str, Any]:
    """The tasks of ``task_ids`` that exist, by id (BatchGetItem, 100 at a time)."""
    return {task.pk: task for task in ops.store.tasks.get_many(task_ids)}


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
                "lane": letter.lane or task.lane or task.queue,
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

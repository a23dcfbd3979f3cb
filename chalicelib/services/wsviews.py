"""The WebSocket's task messages, each rendered from a ``TaskOutcome``. Pure, no I/O.

Two renderings, in the shape the user's original client expects:

* ``snapshot``: a task's current state, sent when a connection subscribes (a waiting
  task's ``position`` and ``estimated_time``, and its ``task_status``);
* ``event``: what the worker has just done (a step, a retry, the end), pushed to the
  task's subscribers.

Both end alike: ``success`` with the ``result``, or ``error`` with the user's ``message``
and its ``reason``.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.outcome import TaskOutcome
from chalicelib.domain.tasks import TaskStatus

__all__ = ["event", "snapshot"]


def snapshot(outcome: TaskOutcome) -> dict[str, Any]:
    """The task's current state, for a connection that subscribes to it."""
    if outcome.terminal:
        return _ended(outcome)
    waiting_portal = outcome.status is TaskStatus.WAITING_PORTAL
    message = event(outcome) if waiting_portal else _progress(outcome)
    if outcome.position is not None:
        message["position"] = outcome.position
    if outcome.estimated_time is not None:
        message["estimated_time"] = outcome.estimated_time
    message["task_status"] = outcome.status.value
    return message


def event(outcome: TaskOutcome) -> dict[str, Any]:
    """The worker's latest event about the task, for its subscribers."""
    if outcome.terminal:
        return _ended(outcome)
    if outcome.status is TaskStatus.RETRY:
        return _told(outcome, "retry", retry_in=outcome.retry_in)
    if outcome.status is TaskStatus.WAITING_PORTAL:
        return _told(outcome, "waiting_portal", reason=outcome.reason, retry_at=outcome.retry_at)
    return _progress(outcome)


def _told(outcome: TaskOutcome, step: str, **extra: Any) -> dict[str, Any]:
    """A progress event that tells the followers why the task waits."""
    return {
        **_about(outcome),
        "status": "progress",
        "step": step,
        "progress": outcome.progress,
        "message": outcome.message or "",
        **extra,
    }


def _about(outcome: TaskOutcome) -> dict[str, Any]:
    return {"task_id": outcome.task_id, "numero_os": outcome.numero_os}


def _progress(outcome: TaskOutcome) -> dict[str, Any]:
    return {
        **_about(outcome),
        "status": "progress",
        "step": outcome.step,
        "progress": outcome.progress,
    }


def _ended(outcome: TaskOutcome) -> dict[str, Any]:
    if outcome.status is TaskStatus.SUCCESS:
        return {**_about(outcome), "status": "success", "progress": 100, "result": outcome.result}
    return {
        **_about(outcome),
        "status": "error",
        "message": outcome.message,
        "reason": outcome.reason,
    }

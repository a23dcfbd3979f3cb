"""The HTTP API's bodies, each rendered from a domain value (``chalicelib.domain.outcome``).

The field names, values and their order are the API's contract with its clients
(``docs`` and ``chalicelib.http.openapi`` describe them): statuses ``found`` and
``queued``, ``position``, ``estimated_time``, ``progress``, ``task_status``, ``result``,
``error.reason``, and messages in Portuguese.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.messages import user_message
from chalicelib.domain.outcome import Joining, LookupOutcome, TaskOutcome
from chalicelib.domain.records import CacheEntry
from chalicelib.domain.tasks import TaskStatus

__all__ = ["JOINING_MESSAGES", "Answer", "lookup_answer", "record_body", "status_body"]

#: What ``POST /buscar-os-async`` tells a caller who got a task, by how they got it.
JOINING_MESSAGES: dict[Joining, str] = {
    Joining.CREATED: "OS adicionada à fila de processamento",
    Joining.JOINED: "OS já está sendo processada",
    Joining.JOINED_IN_PLACE: (
        "OS já está na fila; seu limite de consultas novas foi atingido, então ela "
        "segue na vez dela"
    ),
}


@dataclass(frozen=True)
class Answer:
    """An HTTP status and its JSON body."""

    http_status: int
    body: dict[str, Any] = field(default_factory=dict)


def lookup_answer(outcome: LookupOutcome) -> Answer:
    """``POST /buscar-os-async/{numero_os}``: 200 ``found``, 404 ``not_found`` (both from
    the cache) or 202 ``queued`` with the task to follow."""
    entry = outcome.cached
    if entry is not None:
        scraped_at = _iso(entry.scraped_at)
        if outcome.not_found:
            return Answer(
                404,
                {
                    "status": "not_found",
                    "error": "os_not_found",
                    "message": user_message("not_found", numero=entry.numero_os),
                    "numero_os": entry.numero_os,
                    "checked_at": scraped_at,
                },
            )
        return Answer(
            200,
            {
                "status": "found",
                "numero_os": entry.numero_os,
                "data": entry.data,
                "scraped_at": scraped_at,
            },
        )
    task = outcome.task
    if task is None or outcome.joining is None:
        raise ValueError("a lookup outcome has a cache entry or a task")
    return Answer(
        202,
        {
            "status": "queued",
            "numero_os": outcome.numero_os,
            "task_id": task.task_id,
            "task_status": task.status.value,
            "position": task.position,
            "estimated_time": task.estimated_time,
            "message": JOINING_MESSAGES[outcome.joining],
        },
    )


def status_body(outcome: TaskOutcome) -> dict[str, Any]:
    """``GET /scraping-status/{task_id}``: the task's state; ``result`` is the record on
    success and the user's message on a failure or a retry (with ``error``), and a
    waiting task has its ``position`` and ``estimated_time``."""
    body: dict[str, Any] = {
        "task_id": outcome.task_id,
        "numero_os": outcome.numero_os,
        "status": outcome.status.value,
        "progress": outcome.progress,
        "step": outcome.step,
        "attempts": outcome.attempts,
        "result": None,
    }
    if outcome.status is TaskStatus.SUCCESS:
        body["result"] = outcome.result
    elif outcome.status in (TaskStatus.FAILURE, TaskStatus.RETRY, TaskStatus.WAITING_PORTAL):
        body["result"] = outcome.message
        body["error"] = {"reason": outcome.reason, "message": outcome.message}
    if outcome.status is TaskStatus.WAITING_PORTAL and outcome.retry_at is not None:
        body["retry_at"] = _iso(outcome.retry_at)
    if outcome.waiting and outcome.position is not None:
        body["position"] = outcome.position
        body["estimated_time"] = outcome.estimated_time
    return body


def record_body(entry: CacheEntry) -> dict[str, Any]:
    """``GET /os/{numero_os}``: a stored OS."""
    return {
        "numero_os": entry.numero_os,
        "outcome": entry.outcome,
        "data": entry.data,
        "scraped_at": _iso(entry.scraped_at),
        "expires_at": _iso(entry.expires_at.timestamp() if entry.expires_at else None),
    }


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(epoch)))

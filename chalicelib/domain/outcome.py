"""A task as the people following it see it, and what a lookup found: the values every
channel renders (the HTTP answers, the WebSocket messages, the ops view). Pure, no I/O.

``TaskOutcome.of(task)`` reads a task's state from its record (with its place in the
queue while it waits); the worker's events are the outcome it has just written
(``progressed``, ``retrying``, ``succeeded``, ``failed``). Each channel has one renderer
built from these values: ``chalicelib.http.views``, ``chalicelib.services.wsviews`` and
``chalicelib.services.opsviews``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.domain.records import CacheEntry, TaskRecord
from chalicelib.domain.tasks import TERMINAL, TaskStatus

__all__ = ["Joining", "LookupOutcome", "TaskOutcome"]

#: The states whose outcome carries the user's message and reason.
_FAILING = frozenset({TaskStatus.FAILURE, TaskStatus.RETRY, TaskStatus.WAITING_PORTAL})


@dataclass(frozen=True)
class TaskOutcome:
    """Where a task stands: its state, how far it got, and what it ended with."""

    #: The task as last read or written (ops shows all of it).
    task: TaskRecord
    status: TaskStatus
    step: str | None = None
    #: Percent done (100 on success).
    progress: int = 0
    #: SUCCESS: the OS's record.
    result: dict[str, Any] | None = None
    #: FAILURE and RETRY: what users are told, and the reason code.
    message: str | None = None
    reason: str | None = None
    #: While it waits, when the caller asked: tasks ahead of it and the seconds until
    #: its result is expected.
    position: int | None = None
    estimated_time: int | None = None
    #: A retry event: seconds until the next attempt.
    retry_in: int | None = None
    #: WAITING_PORTAL: when the portal is tried again (epoch seconds).
    retry_at: float | None = None

    @classmethod
    def of(
        cls,
        task: TaskRecord,
        *,
        position: int | None = None,
        estimated_time: int | None = None,
    ) -> TaskOutcome:
        """``task``'s state as its record has it (ValueError for a status raspa does not
        know); ``position`` and ``estimated_time`` as the queue index gives them."""
        status = TaskStatus(task.status)
        failing = status in _FAILING
        return cls(
            task,
            status,
            step=task.step,
            progress=int(task.progress or 0),
            result=task.result if status is TaskStatus.SUCCESS else None,
            message=task.error if failing else None,
            reason=task.error_reason if failing else None,
            position=position,
            estimated_time=estimated_time,
        )

    @property
    def task_id(self) -> str:
        return self.task.pk

    @property
    def numero_os(self) -> str:
        return self.task.numero_os

    @property
    def attempts(self) -> int:
        return int(self.task.attempts or 0)

    @property
    def terminal(self) -> bool:
        """Whether the task has ended (SUCCESS or FAILURE): nothing more will happen."""
        return self.status in TERMINAL

    @property
    def waiting(self) -> bool:
        """Whether the task waits in a lane for an attempt (PENDING, WAITING_PORTAL)."""
        return self.status in (TaskStatus.PENDING, TaskStatus.WAITING_PORTAL)

    # ------------------------------------------------------------ events
    def progressed(self, step: str, progress: int) -> TaskOutcome:
        """The attempt reached ``step``, ``progress`` percent done."""
        return self._next(TaskStatus.PROGRESS, step=step, progress=progress)

    def retrying(self, message: str, reason: str, delay_seconds: int) -> TaskOutcome:
        """The attempt failed; another starts over in ``delay_seconds``."""
        return self._next(
            TaskStatus.RETRY,
            step="retry",
            progress=0,
            message=message,
            reason=reason,
            retry_in=delay_seconds,
        )

    def succeeded(self, result: dict[str, Any]) -> TaskOutcome:
        """The scrape ended with the OS's ``result``."""
        return self._next(TaskStatus.SUCCESS, progress=100, result=result)

    def failed(self, message: str, reason: str) -> TaskOutcome:
        """The task ended without a result: users are told ``message``."""
        return self._next(TaskStatus.FAILURE, message=message, reason=reason)

    def waiting_portal(self, message: str, retry_at: float) -> TaskOutcome:
        """The portal is down for everyone (the breaker is open): the task waits, and the
        portal is tried again at ``retry_at`` (epoch seconds)."""
        return self._next(
            TaskStatus.WAITING_PORTAL,
            step="waiting_portal",
            message=message,
            reason="portal_down",
            position=self.position,
            estimated_time=self.estimated_time,
            retry_at=retry_at,
        )

    def _next(self, status: TaskStatus, **changes: Any) -> TaskOutcome:
        base = {
            "result": None,
            "message": None,
            "reason": None,
            "position": None,
            "estimated_time": None,
            "retry_in": None,
            "retry_at": None,
        }
        return replace(self, status=status, **{**base, **changes})


class Joining(enum.StrEnum):
    """How a lookup got its task."""

    #: A new task: the lookup enqueued its scrape.
    CREATED = "created"
    #: The OS's active task, asked for by someone else first.
    JOINED = "joined"
    #: The active task, which stays in its lane: moving it up to the caller's would have
    #: been a new scrape beyond the caller's rate limit.
    JOINED_IN_PLACE = "joined_in_place"


@dataclass(frozen=True)
class LookupOutcome:
    """What a lookup found: the OS in the cache, or the task that will scrape it."""

    numero_os: str
    #: Answered from the cache (a record, or a "not found" answer).
    cached: CacheEntry | None = None
    #: Otherwise the task, with its place in the queue.
    task: TaskOutcome | None = None
    joining: Joining | None = None

    @property
    def found(self) -> bool:
        """The cache has the OS's record."""
        return self.cached is not None and self.cached.outcome != "not_found"

    @property
    def not_found(self) -> bool:
        """The cache says the portal has no such OS."""
        return self.cached is not None and self.cached.outcome == "not_found"

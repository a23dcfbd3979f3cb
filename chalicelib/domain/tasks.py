"""Task states, their transitions and the retry policy: pure logic, no I/O."""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass

from chalicelib.domain.messages import user_message
from chalicelib.errors import ScrapeError

__all__ = [
    "ACTIVE",
    "TASK_ID_PATTERN",
    "TERMINAL",
    "Decision",
    "TaskStatus",
    "backoff_delay",
    "can_transition",
    "decide_after_error",
    "is_task_id",
    "new_task_id",
    "progress_for",
]

#: A task id's shape (``uuid4().hex``, or ``uuid5().hex`` for a batch's tasks), unanchored.
TASK_ID_PATTERN = "[0-9a-f]{32}"
_TASK_ID = re.compile(TASK_ID_PATTERN)


def is_task_id(value: object) -> bool:
    """Whether ``value`` has the shape of a task id (``uuid4().hex``)."""
    return isinstance(value, str) and _TASK_ID.fullmatch(value) is not None


def new_task_id() -> str:
    """A fresh task id (a lookup's; a batch's tasks get ``batches.task_id_for``)."""
    return uuid.uuid4().hex


#: SQS refuses visibility timeouts above 12 hours.
MAX_VISIBILITY_SECONDS = 43_200


class TaskStatus(enum.StrEnum):
    """The states of a scrape task (the names the user's clients already know)."""

    PENDING = "PENDING"
    STARTED = "STARTED"
    PROGRESS = "PROGRESS"
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    #: Shown, never stored: a task that waits (PENDING, or RETRY) while the portal breaker
    #: is open; users are told when the portal is tried again.
    WAITING_PORTAL = "WAITING_PORTAL"


TERMINAL = frozenset({TaskStatus.SUCCESS, TaskStatus.FAILURE})
ACTIVE = frozenset(set(TaskStatus) - TERMINAL - {TaskStatus.WAITING_PORTAL})

_ALLOWED: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.STARTED, TaskStatus.FAILURE}),
    # STARTED -> STARTED: a redelivery after a worker died mid-scrape.
    TaskStatus.STARTED: frozenset(
        {
            TaskStatus.PENDING,
            TaskStatus.STARTED,
            TaskStatus.PROGRESS,
            TaskStatus.RETRY,
            TaskStatus.SUCCESS,
            TaskStatus.FAILURE,
        }
    ),
    TaskStatus.PROGRESS: frozenset(
        {
            TaskStatus.PENDING,
            TaskStatus.STARTED,
            TaskStatus.PROGRESS,
            TaskStatus.RETRY,
            TaskStatus.SUCCESS,
            TaskStatus.FAILURE,
        }
    ),
    # -> PENDING: put back in its lane to wait out a portal outage (the breaker is open).
    TaskStatus.RETRY: frozenset({TaskStatus.PENDING, TaskStatus.STARTED, TaskStatus.FAILURE}),
    TaskStatus.SUCCESS: frozenset(),
    TaskStatus.FAILURE: frozenset(),
    TaskStatus.WAITING_PORTAL: frozenset(),
}


def can_transition(current: TaskStatus, target: TaskStatus) -> bool:
    """Whether a task in ``current`` may move to ``target``."""
    return target in _ALLOWED[current]


def sources_of(target: TaskStatus) -> list[str]:
    """The states from which ``target`` can be reached (for conditional writes)."""
    return sorted(s.value for s, targets in _ALLOWED.items() if target in targets)


def backoff_delay(attempt: int, base_seconds: float) -> int:
    """Seconds to wait after failed attempt ``attempt`` (1-based): base * 2 ** (attempt - 1)."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    return int(min(base_seconds * 2 ** (attempt - 1), MAX_VISIBILITY_SECONDS))


@dataclass(frozen=True)
class Decision:
    """What the worker does after a failed attempt."""

    status: TaskStatus
    #: Seconds until SQS redelivers the message (RETRY) or 0 (FAILURE: straight to the DLQ).
    delay_seconds: int
    #: Whether the message goes to the dead-letter queue (so ops can redrive it).
    dead_letter: bool
    #: What users are told (no URL, no account name).
    message: str
    #: What operators are told (logs and the task's ``error_detail``).
    detail: str = ""


def decide_after_error(
    error: ScrapeError,
    attempt: int,
    max_attempts: int,
    base_delay_seconds: float,
    numero: str = "",
) -> Decision:
    """Retry a transient error with exponential back-off until attempts run out.

    Permanent errors fail at once. "Not found" is an answer, not an incident, so its
    message is simply deleted; other failures go to the DLQ for ops to inspect and redrive.
    """
    detail = str(error)
    if error.transient and attempt < max_attempts:
        delay = backoff_delay(attempt, base_delay_seconds)
        retry_after = getattr(error, "retry_after", None)
        if retry_after:
            delay = int(min(max(delay, retry_after), MAX_VISIBILITY_SECONDS))
        return Decision(TaskStatus.RETRY, delay, False, user_message("transient"), detail)
    if error.transient:
        message = user_message("transient", attempts=attempt)
        detail = f"portal unavailable after {attempt} attempts: {error}"
        return Decision(TaskStatus.FAILURE, 0, True, message, detail)
    message = user_message(error.reason, numero=numero)
    return Decision(TaskStatus.FAILURE, 0, error.reason != "not_found", message, detail)


# Progress percentages per step, shown in the status and over the WebSocket.
_STEP_PROGRESS = {"started": 5, "login": 15, "detail": 40, "save": 95}


def progress_for(step: str, percent: int | None = None) -> int:
    """The percentage to report for a scrape step (the scraper may give its own)."""
    if percent is not None:
        return max(0, min(99, int(percent)))
    return _STEP_PROGRESS.get(step, 50)

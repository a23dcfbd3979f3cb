"""The task-pull scheduler: which task a scrape message runs.

Every scrape message is a wake-up. The worker that receives one claims the best waiting
task itself, so any free slot takes the best task of any lane, and one event source with
``MaximumConcurrency`` = the portal's limit keeps all its slots busy (``docs/scheduling.md``):

1. a message that already runs a task (it came back: a retry's back-off, a worker that
   died) runs that task again;
2. otherwise the lanes are tried in the order of this claim's turn (``schedule.preference``:
   weighted shares, VIP first), each lane's first waiting tasks in queue order, and the
   first conditional claim that succeeds wins;
3. a message that finds nothing in the queue index (which lags the table by a moment)
   claims the task it names, read by key.

Each message claims at most one task and every waiting task sent one message, so the
messages never run out while tasks wait (docs/scheduling.md, "Why nothing is stranded").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.lanes import Lane
from chalicelib.domain.records import TaskRecord
from chalicelib.domain.schedule import Shares, preference

__all__ = ["Claimed", "How", "Scheduler", "TaskClaiming"]

#: Waiting tasks read per lane and claim: more than the slots that may race for them.
HEADS = 4
#: Reads of the heads before a message gives up (each after all it read were taken).
ROUNDS = 3


class ClaimResult(Protocol):
    task: TaskRecord | None
    bound: bool


class TaskClaiming(Protocol):
    """The claims store (``chalicelib.adapters.dynamo.claims.TaskClaims``)."""

    def bound(self, message_id: str) -> str | None: ...

    def resume(self, task_id: str) -> TaskRecord | None: ...

    def heads(self, limit: int) -> dict[Lane, list[TaskRecord]]: ...

    def next_turn(self) -> int: ...

    def claim(self, message_id: str, candidate: TaskRecord) -> ClaimResult: ...

    def claim_named(self, message_id: str, task_id: str) -> ClaimResult: ...


class How(enum.StrEnum):
    """How a message came to run its task, or why it runs none."""

    #: It came back, and runs the task it was claimed for again.
    RESUMED = "resumed"
    #: It came back for a task that has finished or runs elsewhere: nothing to run.
    BOUND_DONE = "bound_done"
    #: It claimed the best waiting task.
    CLAIMED = "claimed"
    #: It claimed the task it names (not in the index yet).
    NAMED = "named"
    #: Nothing waits (every task it could run was taken by another message).
    IDLE = "idle"


@dataclass(frozen=True)
class Claimed:
    how: How
    task: TaskRecord | None = None
    #: The task the message was claimed for earlier (RESUMED, BOUND_DONE).
    bound_task_id: str | None = None
    #: The lanes that had work waiting when it chose (for logs and tests).
    lanes: tuple[Lane, ...] = ()


class Scheduler:
    """Chooses and claims the task a scrape message runs."""

    def __init__(self, claims: TaskClaiming, shares: Shares | None = None) -> None:
        self.claims = claims
        self.shares = shares or Shares()

    def claim(
        self, message_id: str, named_task_id: str | None, *, first_delivery: bool = False
    ) -> Claimed:
        """The task ``message_id`` runs. On its ``first_delivery`` a message cannot have
        been claimed before (a concurrent second delivery is caught by the claim itself)."""
        bound = None if first_delivery else self.claims.bound(message_id)
        if bound is not None:
            task = self.claims.resume(bound)
            how = How.RESUMED if task is not None else How.BOUND_DONE
            return Claimed(how, task, bound_task_id=bound)
        waiting: tuple[Lane, ...] = ()
        for _ in range(ROUNDS):
            heads = self.claims.heads(HEADS)
            waiting = tuple(lane for lane in Lane if heads[lane])
            if not waiting:
                break
            turn = self.claims.next_turn() if len(waiting) > 1 else 0
            order = preference(turn, self.shares) if len(waiting) > 1 else waiting
            for lane in order:
                for candidate in heads[lane]:
                    result = self.claims.claim(message_id, candidate)
                    if result.bound:
                        return self.claim(message_id, named_task_id)  # a concurrent delivery
                    if result.task is not None:
                        return Claimed(How.CLAIMED, result.task, lanes=waiting)
            # Every head was taken by another worker meanwhile: read the heads again.
        if named_task_id is not None:
            result = self.claims.claim_named(message_id, named_task_id)
            if result.bound:
                return self.claim(message_id, named_task_id)
            if result.task is not None:
                return Claimed(How.NAMED, result.task, lanes=waiting)
        return Claimed(How.IDLE, lanes=waiting)

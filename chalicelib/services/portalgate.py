"""The worker's side of the portal breaker: stop spending attempts while the portal is
down for everyone, probe it one scrape at a time, and drain the backlog when it answers.

The breaker's state machine is ``chalicelib.domain.breaker``; its item is
``chalicelib.adapters.dynamo.breaker``. While it is open:

* a wake-up is *parked*: counted on the breaker and deleted; a message that was waiting
  out a retry's back-off first puts its task back in its lane;
* a task whose attempt fails transiently goes back to its lane (PENDING, the attempt
  given back) instead of retrying, and its followers are told when the portal is tried
  again ("portal fora do ar; nova tentativa às HH:MM");
* once ``next_probe_at`` has passed, the first wake-up takes the probe: it claims the best
  waiting task and scrapes it. A delayed wake-up is always on its way for the next probe
  (sent when the breaker opens, when a probe starts and when a probe fails), so the
  probes go on with nothing else arriving.

When a scrape gets an answer (a record, or "not found", or any other non-transient end),
the breaker closes and as many wake-ups as were parked are sent again: every waiting task
has its wake-up back, and the backlog drains on every slot.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from dataclasses import replace
from datetime import datetime
from typing import Callable, Protocol
from zoneinfo import ZoneInfo

from chalicelib.domain.breaker import Breaker
from chalicelib.domain.messages import user_message
from chalicelib.domain.outcome import TaskOutcome
from chalicelib.domain.records import TaskRecord
from chalicelib.domain.tasks import TaskStatus
from chalicelib.errors import QueueError
from chalicelib.observability import count
from chalicelib.services.ports import MessageQueue, TaskEvents
from chalicelib.services.stores import TaskReader

__all__ = ["Admission", "BreakerStore", "PortalGate"]

logger = logging.getLogger(__name__)

#: SQS's longest DelaySeconds.
MAX_DELAY = 900
#: The open-breaker alarm watches ``PortalBreakerOpen``: 1 at each park and probe while
#: the breaker is open, 0 when it closes.


class BreakerStore(Protocol):
    """``chalicelib.adapters.dynamo.breaker.PortalBreaker``."""

    def read(self, *, fresh: bool = False) -> Breaker: ...

    def record_failure(self, *, probe: bool = False) -> tuple[Breaker, bool]: ...

    def record_success(self) -> tuple[Breaker, int]: ...

    def take_probe(self, lease_seconds: float) -> bool: ...

    def park(self, n: int = 1) -> None: ...


class TaskPutBack(Protocol):
    """The claims store (``chalicelib.adapters.dynamo.claims.TaskClaims``)."""

    def bound(self, message_id: str) -> str | None: ...

    def put_back(self, task: TaskRecord, *, refund: bool) -> bool: ...


class Admission(enum.StrEnum):
    """What a wake-up may do."""

    #: The breaker is closed: claim and scrape as usual.
    GO = "go"
    #: The breaker is open and this wake-up runs the probe.
    PROBE = "probe"
    #: The breaker is open: the wake-up was counted and is done.
    PARKED = "parked"


class PortalGate:
    """Admits wake-ups, and records what the portal did after each scrape."""

    def __init__(
        self,
        breaker: BreakerStore,
        claims: TaskPutBack,
        tasks: TaskReader,
        queue: MessageQueue,
        *,
        lease_seconds: float,
        timezone: str = "America/Sao_Paulo",
        notify: TaskEvents | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.breaker = breaker
        self.claims = claims
        self.tasks = tasks
        self.queue = queue
        #: How long a probe may run before another may start (the scrape's time budget).
        self.lease = lease_seconds
        self.zone = ZoneInfo(timezone)
        self.notify = notify or (lambda *args, **kwargs: None)
        self.clock = clock

    # ----------------------------------------------------------- wake-ups
    def admit(self, message_id: str) -> Admission:
        state = self.breaker.read()
        if not state.is_open:
            return Admission.GO
        if state.may_probe(self.clock()) and self.breaker.take_probe(self.lease):
            count("PortalProbes")
            count("PortalBreakerOpen")
            logger.warning("probing the portal")
            self._timer(self.lease)  # the next probe, should this one die
            return Admission.PROBE
        self._park(message_id, state)
        return Admission.PARKED

    def _park(self, message_id: str, state: Breaker) -> None:
        bound = self.claims.bound(message_id)
        task = self.tasks.get_task(bound) if bound else None
        # A task waiting out a retry's back-off waits for the portal instead.
        retrying = task is not None and task.status == TaskStatus.RETRY.value
        if retrying and self.claims.put_back(task, refund=True):
            self._tell(task, state)
        self.breaker.park()
        count("WakeupsParked")
        count("PortalBreakerOpen")

    # ------------------------------------------------------------ outcomes
    def failed(self, task: TaskRecord, *, probe: bool) -> bool:
        """A transient failure of ``task``'s attempt (``probe``: the probe's). True if the
        breaker is open now: the task went back to its lane and its wake-up was parked (the
        caller is done); False: retry as usual. Only a probe's failure, or one while the
        breaker is closed, counts: scrapes that were running when it opened do not push
        the next probe back."""
        state, opened = self.breaker.record_failure(probe=probe)
        if not state.is_open:
            return False
        if opened:
            count("PortalBreakerOpened")
            logger.error(
                "portal breaker opened", extra={"failures": state.failures, "task_id": task.pk}
            )
        self.claims.put_back(task, refund=True)
        self.breaker.park()
        count("PortalBreakerOpen")
        self._tell(task, state)
        if (opened or probe) and state.next_probe_at is not None:
            self._timer(state.next_probe_at - self.clock())
        return True

    def answered(self) -> None:
        """The portal answered a scrape: close the breaker, and wake as many tasks as
        were parked."""
        _, parked = self.breaker.record_success()
        if parked:
            logger.warning("portal breaker closed", extra={"parked": parked})
            count("PortalBreakerClosed")
            count("PortalBreakerOpen", 0)
            try:
                self.queue.wake(parked)
            except QueueError:
                self.breaker.park(parked)  # the next answer sends them
                raise

    # ------------------------------------------------------------- views
    def shown(self, outcome: TaskOutcome) -> TaskOutcome:
        """``outcome`` as users see it: a waiting task while the breaker is open waits for
        the portal, with the time of the next try."""
        if outcome.status not in (TaskStatus.PENDING, TaskStatus.RETRY):
            return outcome
        state = self.breaker.read()
        if not state.is_open or state.next_probe_at is None:
            return outcome
        shown = outcome.waiting_portal(self.message(state.next_probe_at), state.next_probe_at)
        if outcome.estimated_time is None:
            return shown
        until = max(0, math.ceil(state.next_probe_at - self.clock()))
        return replace(shown, estimated_time=outcome.estimated_time + until)

    def message(self, at: float) -> str:
        """What users are told: when the portal is tried again, in local time (HH:MM)."""
        local = datetime.fromtimestamp(math.ceil(at / 60) * 60, self.zone)
        return user_message("portal_down", at=local.strftime("%H:%M"))

    # ------------------------------------------------------------- helpers
    def _tell(self, task: TaskRecord, state: Breaker) -> None:
        if state.next_probe_at is None:
            return
        waiting = TaskOutcome.of(task).waiting_portal(
            self.message(state.next_probe_at), state.next_probe_at
        )
        self.notify(waiting)

    def _timer(self, seconds: float) -> None:
        """A wake-up ``seconds`` from now (at most SQS's 15 minutes): the next probe."""
        delay = max(1, min(MAX_DELAY, math.ceil(seconds)))
        try:
            self.queue.wake(delay_seconds=delay)
        except QueueError as exc:  # the next wake-up of any kind probes instead
            logger.warning("sending the probe's wake-up failed", extra={"error": str(exc)})

"""The API's use cases: look an OS up, read a task's status, read a stored OS.

They answer with domain values (``LookupOutcome``, ``TaskOutcome``, ``CacheEntry``);
``chalicelib.http.views`` renders them as the API's bodies."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from chalicelib.domain.identity import Identity
from chalicelib.domain.lanes import Lane
from chalicelib.domain.outcome import Joining, LookupOutcome, TaskOutcome
from chalicelib.domain.ratelimit import RatePolicy
from chalicelib.domain.records import CacheEntry, Promotion, RateState, TaskRecord
from chalicelib.domain.schedule import Shares, claims_before, result_seconds
from chalicelib.domain.tasks import TaskStatus
from chalicelib.errors import QueueError, RateLimitedError, TaskNotFoundError
from chalicelib.observability import correlate, count
from chalicelib.services.ports import MessageQueue, OsNumbers
from chalicelib.services.stores import LookupCache, QueuePositions, TaskAbandoner, TaskRequests

__all__ = ["Limits", "LookupService", "MeanDuration", "Recent"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """Scrapes a user may start per rolling window, standard and VIP."""

    standard: int
    vip: int
    window_seconds: int

    def policy_for(self, identity: Identity) -> RatePolicy:
        limit = self.vip if identity.vip else self.standard
        return RatePolicy(identity.user, limit, self.window_seconds)


class Recent:
    """The tasks waiting in each lane, read from the store at most every ``max_age`` seconds
    (per container) and kept current with the tasks this container queues."""

    def __init__(
        self,
        read: Callable[[], Mapping[Lane, int]],
        max_age: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read, self.max_age, self.clock = read, max_age, clock
        self._value: Mapping[Lane, int] = {}
        self._at = float("-inf")

    def __call__(self) -> Mapping[Lane, int]:
        if self.clock() - self._at > self.max_age:
            self._value = self.read()
            self._at = self.clock()
        return self._value

    def moved(self, into: Lane, out_of: Lane | None = None) -> None:
        """This container just queued a task in ``into`` (from ``out_of``): counted at
        once, until the next read."""
        value = dict(self._value)
        value[into] = value.get(into, 0) + 1
        if out_of is not None:
            value[out_of] = max(0, value.get(out_of, 0) - 1)
        self._value = value


class MeanDuration:
    """Mean scrape duration, read from the store at most every ``max_age`` seconds."""

    def __init__(
        self,
        read: Callable[[], float | None],
        default: float,
        max_age: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read, self.default, self.max_age, self.clock = read, default, max_age, clock
        self._value: float | None = None
        self._at = float("-inf")

    def __call__(self) -> float:
        if self.clock() - self._at > self.max_age:
            measured = self.read()
            self._value = measured if measured else self.default
            self._at = self.clock()
        return self._value if self._value is not None else self.default


class LookupService:
    """Answers lookups from the cache, joins active tasks, or enqueues exactly one scrape."""

    def __init__(
        self,
        queue: MessageQueue,
        profile: OsNumbers,
        *,
        cache: LookupCache,
        tasks: TaskRequests,
        runs: TaskAbandoner,
        queue_index: QueuePositions,
        concurrency: int,
        mean_duration: Callable[[], float],
        limits: Limits | None = None,
        shown: Callable[[TaskOutcome], TaskOutcome] | None = None,
        shares: Shares | None = None,
        lane_counts: Recent | None = None,
    ) -> None:
        self.cache = cache
        self.tasks = tasks
        #: Only to abandon a task whose message could not be sent.
        self.runs = runs
        self.queue_index = queue_index
        #: The scrape queue: a new task's wake-up goes there.
        self.queue = queue
        self.profile = profile
        self.concurrency = concurrency
        self.mean_duration = mean_duration
        self.limits = limits
        #: A waiting task as users see it (waiting for the portal while it is down).
        self.shown = shown or (lambda outcome: outcome)
        #: The scheduler's turns, and the tasks waiting in each lane (a recent count):
        #: a position is the claims made before the task under those turns.
        self.shares = shares or Shares()
        self.lane_counts = lane_counts or Recent(queue_index.waiting_by_lane, max_age=0)

    def lookup(
        self, raw_numero: str, *, refresh: bool = False, identity: Identity | None = None
    ) -> LookupOutcome:
        """Answer from the cache, join the OS's active task, or start exactly one scrape.

        Only a new scrape counts against the caller's rate limit; VIP callers' scrapes go
        to the priority lane.
        """
        numero = self.profile.validate_number(raw_numero)
        count("Lookups")
        user = identity.user if identity else None
        lane = Lane.VIP if identity and identity.vip else Lane.STANDARD
        rate = self.limits.policy_for(identity) if self.limits and identity else None
        # One read: the cache and, for a miss, the caller's rate log its transaction needs.
        cached, rate_log = self.cache.read_for_lookup(numero, rate.user if rate else None)
        if cached is not None and not refresh:
            return self._cached(cached)
        try:
            outcome = self.tasks.create_or_join(
                numero,
                requested_by=user,
                respect_cache=not refresh,
                lane=lane,
                rate=rate,
                rate_log=rate_log,
            )
        except RateLimitedError:
            count("RateLimited")
            raise
        if outcome.cached is not None:
            return self._cached(outcome.cached)
        task = outcome.task
        correlate(task.pk, task_id=task.pk, numero_os=numero)
        if outcome.created:
            try:
                self.queue.send(task.pk, numero, lane=lane)
            except QueueError:
                self.runs.abandon(task, "the scrape queue could not be reached; try again")
                raise
            joining = Joining.CREATED
            count("Enqueued")
            self.lane_counts.moved(lane)
        else:
            joining = Joining.JOINED
            count("Joins")
            moved, task = self._move_up(task, lane, rate, rate_log)
            if moved is Promotion.RATE_LIMITED:
                joining = Joining.JOINED_IN_PLACE
        return LookupOutcome(numero, task=self.shown(self._placed(task)), joining=joining)

    def _placed(self, task: TaskRecord) -> TaskOutcome:
        """``task`` with its place in the schedule, if it waits: the claims made before it
        (its own lane's tasks ahead, the other lanes' under the turns) and the seconds
        until its result (they drain ``concurrency`` at a time, then it runs)."""
        if TaskStatus(task.status) is not TaskStatus.PENDING or task.queue_order is None:
            return TaskOutcome.of(task, position=0, estimated_time=self._eta(0))
        lane = Lane(task.queue or Lane.STANDARD)
        ahead = self.queue_index.ahead(task)
        claims = claims_before(lane, ahead, self.lane_counts(), self.shares)
        return TaskOutcome.of(task, position=claims, estimated_time=self._eta(claims))

    def _eta(self, claims: int) -> int:
        return result_seconds(claims, self.mean_duration(), self.concurrency)

    def _move_up(
        self,
        task: TaskRecord,
        lane: Lane,
        rate: RatePolicy | None,
        rate_log: RateState | None,
    ) -> tuple[Promotion, TaskRecord]:
        """A waiting task joined from an earlier lane (a VIP, or anyone joining a batch's
        task) moves to that lane in the queue index, with a wake-up of its own (a held
        batch task had none); a message left over finds nothing and is done.

        Moving it is a new interactive scrape for the caller: it counts against their rate
        limit, and a caller out of room joins without moving it (``TaskStore.promote``).
        Returns what happened and the task as it now waits.
        """
        moved = self.tasks.promote(task, lane, rate=rate, rate_log=rate_log)
        if moved.result is Promotion.RATE_LIMITED:
            count("PromotionsRateLimited")
        if moved.result is not Promotion.PROMOTED:
            return moved.result, moved.task
        count("Promotions")
        self.lane_counts.moved(lane, Lane(task.queue) if task.queue else None)
        try:
            self.queue.send(task.pk, task.numero_os, lane=lane)
        except QueueError:
            # Without that message a held batch task would have none at all: put it back.
            logger.warning("moving a task to an earlier lane failed", extra={"task_id": task.pk})
            return Promotion.MISSED, self.tasks.unpromote(moved.task, task)
        return moved.result, moved.task

    def _cached(self, entry: CacheEntry) -> LookupOutcome:
        count("CacheHits")
        return LookupOutcome(entry.numero_os, cached=entry)

    def status(self, task_id: str, user: str | None = None) -> TaskOutcome:
        """The task's state (a waiting one with its place in the queue); TaskNotFoundError
        for ids that do not exist or are not ``user``'s."""
        task = self.tasks.get_task(task_id)
        if task is None or not self.tasks.can_see(task, user):
            raise TaskNotFoundError(task_id)
        if TaskStatus(task.status) is not TaskStatus.PENDING:
            return self.shown(TaskOutcome.of(task))
        return self.shown(self._placed(task))

    def record(self, raw_numero: str) -> CacheEntry | None:
        """The stored OS (``ok`` entries only, fresh or not), or None."""
        numero = self.profile.validate_number(raw_numero)
        entry = self.cache.any_record(numero)
        if entry is None or entry.outcome != "ok":
            return None
        return entry

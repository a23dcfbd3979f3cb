"""The API's use cases: look an OS up, read a task's status, read a stored OS.

They answer with domain values (``LookupOutcome``, ``TaskOutcome``, ``CacheEntry``);
``chalicelib.http.views`` renders them as the API's bodies."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from chalicelib.domain.estimate import estimate_seconds
from chalicelib.domain.identity import Identity
from chalicelib.domain.lanes import Lane
from chalicelib.domain.outcome import Joining, LookupOutcome, TaskOutcome
from chalicelib.domain.ratelimit import RatePolicy
from chalicelib.domain.records import CacheEntry, Promotion, RateState, TaskRecord
from chalicelib.domain.tasks import TaskStatus
from chalicelib.errors import QueueError, RateLimitedError, TaskNotFoundError
from chalicelib.observability import correlate, count
from chalicelib.services.ports import MessageQueue, OsNumbers
from chalicelib.services.stores import LookupCache, QueuePositions, TaskAbandoner, TaskRequests

__all__ = ["Limits", "LookupService", "MeanDuration"]

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
        queues: Mapping[Lane, MessageQueue],
        profile: OsNumbers,
        *,
        cache: LookupCache,
        tasks: TaskRequests,
        runs: TaskAbandoner,
        queue_index: QueuePositions,
        concurrency: int,
        mean_duration: Callable[[], float],
        limits: Limits | None = None,
    ) -> None:
        self.cache = cache
        self.tasks = tasks
        #: Only to abandon a task whose message could not be sent.
        self.runs = runs
        self.queue_index = queue_index
        self.queues = queues
        self.profile = profile
        self.concurrency = concurrency
        self.mean_duration = mean_duration
        self.limits = limits

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
                self.queues[lane].send(task.pk, numero)
            except QueueError:
                self.runs.abandon(task, "the scrape queue could not be reached; try again")
                raise
            joining = Joining.CREATED
            count("Enqueued")
        else:
            joining = Joining.JOINED
            count("Joins")
            moved, task = self._move_up(task, lane, rate, rate_log)
            if moved is Promotion.RATE_LIMITED:
                joining = Joining.JOINED_IN_PLACE
        position = self.queue_index.position(task)
        queued = TaskOutcome.of(task, position=position, estimated_time=self._estimate(position))
        return LookupOutcome(numero, task=queued, joining=joining)

    def _estimate(self, position: int) -> int:
        return estimate_seconds(position, self.mean_duration(), self.concurrency)

    def _move_up(
        self,
        task: TaskRecord,
        lane: Lane,
        rate: RatePolicy | None,
        rate_log: RateState | None,
    ) -> tuple[Promotion, TaskRecord]:
        """A waiting task joined from an earlier lane (a VIP, or anyone joining a batch's
        task) gets a message there too; the first delivery runs it, the other is dropped.

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
        try:
            self.queues[lane].send(task.pk, task.numero_os)
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
            return TaskOutcome.of(task)
        position = self.queue_index.position(task)
        return TaskOutcome.of(task, position=position, estimated_time=self._estimate(position))

    def record(self, raw_numero: str) -> CacheEntry | None:
        """The stored OS (``ok`` entries only, fresh or not), or None."""
        numero = self.profile.validate_number(raw_numero)
        entry = self.cache.any_record(numero)
        if entry is None or entry.outcome != "ok":
            return None
        return entry

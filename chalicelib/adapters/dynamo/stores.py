"""The package's composition: every store built once from settings, sharing one set of
models and one clock, for the app's wiring (and the ops CLI) to hand to the services."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from chalicelib.adapters.dynamo.batches import BatchStore
from chalicelib.adapters.dynamo.batchtasks import BatchTasks
from chalicelib.adapters.dynamo.breaker import PortalBreaker
from chalicelib.adapters.dynamo.cache import OsCache
from chalicelib.adapters.dynamo.claims import TaskClaims
from chalicelib.adapters.dynamo.connections import Registry
from chalicelib.adapters.dynamo.lane import BatchLane
from chalicelib.adapters.dynamo.locks import Locks
from chalicelib.adapters.dynamo.models import Models, build_models
from chalicelib.adapters.dynamo.queueindex import QueueIndex
from chalicelib.adapters.dynamo.ratelog import RateLogStore
from chalicelib.adapters.dynamo.reopen import Reopener
from chalicelib.adapters.dynamo.runs import TaskRuns
from chalicelib.adapters.dynamo.stats import ScrapeStats
from chalicelib.adapters.dynamo.tasks import TaskStore
from chalicelib.adapters.dynamo.waits import BatchWaits
from chalicelib.domain.breaker import BreakerPolicy

__all__ = ["OUTCOME_RETENTION_SECONDS", "DynamoStores"]

#: How long a batch's counted outcomes (and waits) are kept: a batch may run for weeks.
OUTCOME_RETENTION_SECONDS = 30 * 86_400


@dataclass(frozen=True)
class DynamoStores:
    """One store per concern, over the same tables."""

    settings: Any
    models: Models
    cache: OsCache
    locks: Locks
    ratelog: RateLogStore
    queue_index: QueueIndex
    stats: ScrapeStats
    tasks: TaskStore
    runs: TaskRuns
    claims: TaskClaims
    breaker: PortalBreaker
    reopener: Reopener
    batches: BatchStore
    batch_tasks: BatchTasks
    waits: BatchWaits
    connections: Registry

    @classmethod
    def build(
        cls,
        settings: Any,
        models: Models | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> DynamoStores:
        """Every store, as ``settings`` say (``models``: built from them if not given)."""
        s = settings
        if models is None:
            models = build_models(s.os_table, s.tasks_table, s.region, s.connections_table)
        retention = s.task_retention_seconds
        cache = OsCache(
            models,
            cache_ttl_seconds=s.cache_ttl_seconds,
            not_found_ttl_seconds=s.not_found_ttl_seconds,
            clock=clock,
        )
        locks = Locks(models, lock_ttl_seconds=s.lock_ttl_seconds, clock=clock)
        ratelog = RateLogStore(models)
        stats = ScrapeStats(models, clock=clock)
        tasks = TaskStore(
            models,
            cache,
            locks,
            ratelog,
            task_retention_seconds=retention,
            max_requesters=s.max_requesters_per_task,
            clock=clock,
        )
        queue_index = QueueIndex(models)
        runs = TaskRuns(
            models,
            tasks,
            cache,
            locks,
            stats,
            task_retention_seconds=retention,
            stale_after_seconds=s.scrape_timeout_seconds,
            clock=clock,
        )
        return cls(
            settings=s,
            models=models,
            cache=cache,
            locks=locks,
            ratelog=ratelog,
            queue_index=queue_index,
            stats=stats,
            tasks=tasks,
            runs=runs,
            claims=TaskClaims(
                models, queue_index, runs, retention_seconds=s.lock_ttl_seconds, clock=clock
            ),
            breaker=PortalBreaker(
                models,
                BreakerPolicy(
                    s.breaker_failures, s.breaker_probe_seconds, s.breaker_probe_max_seconds
                ),
                clock=clock,
            ),
            reopener=Reopener(
                models, tasks, cache, locks, task_retention_seconds=retention, clock=clock
            ),
            batches=BatchStore(
                models,
                task_retention_seconds=retention,
                outcome_retention_seconds=OUTCOME_RETENTION_SECONDS,
                clock=clock,
            ),
            batch_tasks=BatchTasks(
                models, tasks, locks, task_retention_seconds=retention, clock=clock
            ),
            waits=BatchWaits(
                models,
                tasks,
                mark_retention_seconds=OUTCOME_RETENTION_SECONDS,
                batch_retention_seconds=retention,
                clock=clock,
            ),
            connections=Registry(
                models,
                connection_ttl_seconds=s.connection_ttl_seconds,
                max_connections_per_user=s.max_connections_per_user,
                max_subscribers=s.max_subscribers_per_task,
                clock=clock,
            ),
        )

    def batch_lane(self, queue: Any) -> BatchLane:
        """The batch lane's fair order, releasing held tasks with wake-ups on ``queue``
        (the scrape queue)."""
        return BatchLane(
            self.models,
            self.queue_index,
            queue,
            window=self.settings.batch_release_window,
            task_retention_seconds=self.settings.task_retention_seconds,
        )

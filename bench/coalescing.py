"""Coalescing: 1,000 concurrent lookups over 100 OS must make exactly 100 scrapes."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from bench.harness import Harness, run_threads
from bench.pages import numbers_with_pages
from bench.peers.celery_redis.run import plan
from chalicelib.domain.identity import Identity
from chalicelib.errors import RateLimitedError
from chalicelib.http.views import lookup_answer

__all__ = ["RaspaCoalescing", "measure_coalescing"]


@dataclass
class RaspaCoalescing:
    requests: int
    distinct: int
    scrapes: int
    tasks: int
    answers: Counter[str] = field(default_factory=Counter)

    @property
    def amplification(self) -> float:
        return self.scrapes / self.distinct


def measure_coalescing(
    harness: Harness,
    *,
    latency_ms: float,
    start: int,
    requests: int = 1000,
    distinct: int = 100,
    threads: int = 32,
) -> RaspaCoalescing:
    """The requests race from ``threads`` threads while the worker drains (each OS asked
    ten times, each user asking for ten OS: within the rate limit); afterwards the
    portal's count of detail pages is the number of scrapes."""
    sc = harness.scenario()
    numbers = numbers_with_pages(2, distinct, start=start)
    order = plan(requests, distinct)
    lookup = sc.services.lookup
    harness.portal_reset(latency_ms=latency_ms)
    task_ids: set[str] = set()

    def one(i: int) -> str:
        user, os_index = order[i]
        try:
            outcome = lookup.lookup(numbers[os_index], identity=Identity(f"user{user:03d}"))
            body = lookup_answer(outcome).body
        except RateLimitedError:
            return "rate_limited"
        if body.get("task_id"):
            task_ids.add(body["task_id"])
        new = "adicionada" in body.get("message", "")
        return body["status"] + (":new" if new else "")

    with sc.worker():
        answers = Counter(run_threads(one, requests, threads))
        harness.faults(latency_ms=0)  # the rest drains quickly; every scrape still counts
        sc.wait_terminal(sorted(task_ids), timeout=300)
        time.sleep(0.5)
    scrapes = harness.portal_stats()["by_kind"]["detail"]
    return RaspaCoalescing(requests, distinct, scrapes, len(task_ids), answers)

"""Drain efficiency and portal protection: a backlog of distinct OS against the portal's
3 slots, measured against the time one scrape takes alone."""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

from bench.harness import Harness, Scenario, run_threads, users
from bench.pages import numbers_with_pages
from chalicelib.domain.tasks import TaskStatus

__all__ = ["DrainFigures", "measure_drain", "single_scrape"]


@dataclass(frozen=True)
class DrainFigures:
    label: str
    count: int
    #: seconds from the worker's start to the last scrape's end
    drain_seconds: float
    #: median seconds of one scrape (one worker invocation) with the portal otherwise idle
    single_seconds: float
    slots: int
    peak_portal: int
    failures: int
    #: mean seconds of one scrape (started → finished) during the drain
    mean_scrape_seconds: float
    #: the portal's share of a scrape: pages × latency
    portal_seconds: float

    @property
    def ideal_seconds(self) -> float:
        return self.count * self.single_seconds / 3

    @property
    def physical_ratio(self) -> float:
        """Measured drain ÷ (n × pages × latency ÷ 3): against the portal alone."""
        return self.drain_seconds / (self.count * self.portal_seconds / 3)

    @property
    def efficiency(self) -> float:
        """Measured drain ÷ (n × single-scrape time ÷ 3): 1.0 is the portal's limit."""
        return self.drain_seconds / self.ideal_seconds


def single_scrape(sc: Scenario, numbers: list[str]) -> list[float]:
    """Each number scraped alone: one lookup, one worker invocation timed (warm)."""
    lookup = sc.services.lookup
    who = users(1)[0]
    times = []
    for numero in numbers:
        lookup.lookup(numero, identity=who)
        seconds = sc.deliver()
        assert seconds is not None
        times.append(seconds)
    return times


def measure_drain(
    harness: Harness,
    *,
    label: str,
    count: int,
    pages: int,
    latency_ms: float,
    single_seconds: float,
    start: int,
    vip_share: int = 0,
    **changes: Any,
) -> DrainFigures:
    """Enqueue ``count`` distinct ``pages``-page OS through the lookup path (every
    ``vip_share``-th one by a VIP), then start the worker and time the drain; ``changes``
    replace the scenario's settings."""
    from chalicelib.domain.identity import Identity

    sc = harness.scenario(**changes)
    numbers = numbers_with_pages(pages, count, start=start)
    lookup = sc.services.lookup
    people = users(count // 10 + 1)  # ten new scrapes each: the default rate limit
    vips = [Identity(f"vip{i:03d}", vip=True) for i in range(count // 30 + 1)]

    def enqueue(i: int) -> str:
        who = vips[i // 30] if vip_share and i % vip_share == 0 else people[i // 10]
        return lookup.lookup(numbers[i], identity=who).task.task_id

    task_ids = run_threads(enqueue, count, 4)
    harness.portal_reset(latency_ms=latency_ms)
    finished: list[float] = []
    all_done = threading.Event()
    lock = threading.Lock()

    def on_done(event: dict) -> None:
        with lock:
            finished.append(time.perf_counter())
            if len(finished) >= count:
                all_done.set()

    runtime = sc.worker(on_done=on_done)
    started = time.perf_counter()
    with runtime:
        if not all_done.wait(timeout=count * pages * latency_ms / 1000 + 120):
            raise TimeoutError(f"drain {label}: {len(finished)} of {count} done")
    drain = max(finished) - started
    peak = harness.portal_stats()["peak_concurrent"]
    tasks = sc.wait_terminal(task_ids, timeout=30)
    failures = sum(1 for t in tasks if t.status != TaskStatus.SUCCESS)
    mean = statistics.mean(float(t.finished_at) - float(t.started_at) for t in tasks)
    return DrainFigures(
        label,
        count,
        drain,
        single_seconds,
        runtime.slots.peak,
        peak,
        failures,
        mean,
        pages * latency_ms / 1000,
    )


def measure_single(harness: Harness, *, pages: int, latency_ms: float, repeats: int) -> float:
    """The median time of one scrape alone (warm worker: after one scrape of warm-up)."""
    sc = harness.scenario()
    harness.portal_reset(latency_ms=latency_ms)
    numbers = numbers_with_pages(pages, repeats + 1, start=200_000)
    times = single_scrape(sc, numbers)[1:]
    return statistics.median(times)

"""Estimate error: the ``estimated_time`` (seconds until the result) and ``position`` a
lookup answers with, against when its task really started and finished, for lookups
arriving while a mixed backlog drains."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field

from bench.backlog import (
    Submitted,
    identity,
    interleave,
    lookup_one,
    lookups,
    mean_scrape,
    nearest_rank,
    read_tasks,
    upload_batch,
    wait_done,
)
from bench.drain import single_scrape
from bench.harness import Harness, Scenario
from bench.pages import numbers_with_pages
from chalicelib.domain.lanes import Lane

__all__ = ["EstimateFigures", "measure_estimates"]

#: Scrapes made alone first: the mean scrape time the lookups' estimates start from.
WARM = 6
#: The lanes of the arriving lookups, in turn.
ARRIVALS = (Lane.STANDARD, Lane.STANDARD, Lane.VIP)


@dataclass(frozen=True)
class EstimateFigures:
    backlog: dict[str, int]
    arrivals: int
    #: Arrivals per second.
    rate: float
    #: estimated ÷ actual seconds until the result, per arrival.
    result_ratios: list[float]
    #: (estimated − mean scrape) ÷ actual seconds until the start, per arrival that was
    #: not estimated to start at once.
    start_ratios: list[float]
    #: Arrivals estimated to start at once, and of them, the most seconds one waited.
    at_once: int
    at_once_worst: float
    #: The mean the lookups used, and the mean scrape measured during the run.
    mean_used: float
    mean_scrape_seconds: float
    #: The answer's ``position`` (claims before it) ÷ the tasks that started between the
    #: call and its start, per arrival with any.
    position_ratios: list[float] = field(default_factory=list)

    @staticmethod
    def error(ratios: list[float], p: float = 90) -> float:
        """The ``p``-th percentile of the error factor max(r, 1/r): 1.0 is exact."""
        return nearest_rank([max(r, 1 / r) for r in ratios if r > 0] or [math.inf], p)

    @staticmethod
    def spread(ratios: list[float]) -> tuple[float, float, float]:
        """(p10, median, p90) of the ratios."""
        if not ratios:
            return (math.nan, math.nan, math.nan)
        return nearest_rank(ratios, 10), statistics.median(ratios), nearest_rank(ratios, 90)


def measure_estimates(
    harness: Harness,
    *,
    vip: int,
    standard: int,
    batch: int,
    arrivals: int,
    rate: float,
    pages: int,
    latency_ms: float,
    start: int,
) -> EstimateFigures:
    """``WARM`` scrapes first (the mean scrape time measured, as in a deployment that has
    worked before, read by a new container); then a backlog of ``batch`` lines and ``vip``
    + ``standard`` lookups; the worker starts and ``arrivals`` lookups arrive ``rate`` a
    second (standard, standard, VIP, ...), each with its answer's estimate recorded."""
    total = WARM + batch + vip + standard + arrivals
    numbers = numbers_with_pages(pages, total, start=start)
    warm = harness.scenario()
    harness.portal_reset(latency_ms=latency_ms)
    single_scrape(warm, numbers[:WARM])
    sc = Scenario(harness.deploy(warm.settings, create=False))  # a new container's services
    rest = numbers[WARM:]
    _, backlog = upload_batch(sc, "lote", rest[:batch])
    plan = zip(interleave(vip, standard), rest[batch : batch + vip + standard], strict=True)
    backlog += [a.task_id for a in lookups(sc, list(plan))]
    arriving = rest[batch + vip + standard :]
    asked: list[Submitted] = []
    means: list[float] = []
    began = time.time()
    with sc.worker():
        time.sleep(1.0)  # every slot busy
        for i, numero in enumerate(arriving):
            time.sleep(max(0.0, began + 1.0 + i / rate - time.time()))
            lane = ARRIVALS[i % len(ARRIVALS)]
            asked.append(lookup_one(sc, numero, identity(lane, i, "e"), lane))
            means.append(sc.services.lookup.mean_duration())
        tasks = wait_done(sc, [a.task_id for a in asked], timeout=300, interval=0.5)
        ended = time.time()
    result_ratios, start_ratios, at_once = [], [], []
    for answer, mean in zip(asked, means, strict=True):
        task = tasks[answer.task_id]
        estimated = float(answer.estimated_time or 0)
        result_ratios.append(estimated / (float(task.finished_at) - answer.at))
        estimated_start = estimated - math.ceil(mean)
        waited = float(task.started_at) - answer.at
        if estimated_start <= 0:
            at_once.append(waited)
        else:
            start_ratios.append(estimated_start / waited)
    everything = read_tasks(sc, [*backlog, *tasks]).values()
    during = [
        t for t in everything if t.finished_at is not None and began <= float(t.started_at) <= ended
    ]
    starts = [float(t.started_at) for t in everything if t.started_at is not None]
    position_ratios = []
    for answer in asked:
        begun = float(tasks[answer.task_id].started_at)
        before = sum(1 for at in starts if answer.at < at < begun)
        if before and answer.position is not None:
            position_ratios.append(answer.position / before)
    return EstimateFigures(
        {"vip": vip, "standard": standard, "batch": batch},
        len(asked),
        rate,
        result_ratios,
        start_ratios,
        len(at_once),
        max(at_once, default=0.0),
        statistics.mean(means),
        mean_scrape(during),
        position_ratios,
    )

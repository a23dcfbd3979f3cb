"""The mixed drain: VIP, standard and batch work waiting together, drained on the portal's
3 slots by the task-pull scheduler; its time against the portal's limit, the order the
lanes were served in, and the lanes' shares of the claims while several had work."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass

from bench.backlog import interleave, lookups, mean_scrape, started_order, upload_batch, wait_done
from bench.drain import DrainFigures
from bench.harness import Harness
from bench.pages import numbers_with_pages
from chalicelib.domain.lanes import Lane
from chalicelib.domain.schedule import Shares, preference
from chalicelib.domain.tasks import TaskStatus

__all__ = ["MixedFigures", "designed_order", "lane_counts", "measure_mixed"]


@dataclass(frozen=True)
class MixedFigures:
    drain: DrainFigures
    #: Tasks of each lane (lane value → count).
    counts: dict[str, int]
    #: Mean start rank (1 = first to start) of each lane: measured, and as designed.
    mean_rank: dict[str, float]
    designed_rank: dict[str, float]
    #: Starts by lane while every lane had work (up to the last VIP start), measured and
    #: designed; and while interactive work waited (up to the last interactive start).
    all_three: dict[str, int]
    designed_all_three: dict[str, int]
    interactive: dict[str, int]
    designed_interactive: dict[str, int]
    shares: Shares


def designed_order(counts: dict[Lane, int], shares: Shares) -> list[Lane]:
    """The lanes claims serve in when ``counts`` wait and nothing else arrives: the
    scheduler's turns (``schedule.preference``), the turn counter advancing only while
    several lanes have work (``services.scheduler``)."""
    left = {lane: counts.get(lane, 0) for lane in Lane}
    order: list[Lane] = []
    n = 0
    while any(left.values()):
        waiting = [lane for lane in Lane if left[lane]]
        if len(waiting) > 1:
            lane = next(lane for lane in preference(n, shares) if left[lane])
            n += 1
        else:
            lane = waiting[0]
        left[lane] -= 1
        order.append(lane)
    return order


def lane_counts(order: list[Lane]) -> tuple[dict[str, float], dict[str, int], dict[str, int]]:
    """(mean start rank per lane, starts per lane up to the last VIP start, starts per lane
    up to the last interactive start) of an order of starts."""
    ranks: dict[str, list[int]] = {}
    for rank, lane in enumerate(order, start=1):
        ranks.setdefault(lane.value, []).append(rank)
    mean_rank = {lane: statistics.mean(r) for lane, r in ranks.items()}

    def upto(lanes: set[Lane]) -> dict[str, int]:
        last = max((i for i, lane in enumerate(order) if lane in lanes), default=-1)
        counted = Counter(lane.value for lane in order[: last + 1])
        return {lane.value: counted.get(lane.value, 0) for lane in Lane}

    return mean_rank, upto({Lane.VIP}), upto({Lane.VIP, Lane.STANDARD})


def measure_mixed(
    harness: Harness,
    *,
    vip: int,
    standard: int,
    batch: int,
    pages: int,
    latency_ms: float,
    single_seconds: float,
    start: int,
) -> MixedFigures:
    """One batch of ``batch`` lines is ingested, then ``vip`` VIP and ``standard`` standard
    lookups are made (interleaved); then the worker starts as deployed and the drain is
    timed to the last scrape's end (``finished_at``), all numbers distinct."""
    sc = harness.scenario()
    total = vip + standard + batch
    numbers = numbers_with_pages(pages, total, start=start)
    _, batch_ids = upload_batch(sc, "lote", numbers[:batch])
    interactive = numbers[batch:]
    plan = list(zip(interleave(vip, standard), interactive, strict=True))
    asked = lookups(sc, plan)
    lane_of = {task_id: Lane.BATCH for task_id in batch_ids}
    lane_of.update({a.task_id: a.lane for a in asked})
    harness.portal_reset(latency_ms=latency_ms)
    runtime = sc.worker()
    began = time.time()
    with runtime:
        tasks = wait_done(sc, list(lane_of), timeout=total * pages * latency_ms / 1000 + 180)
    drain = max(float(t.finished_at) for t in tasks.values()) - began
    order = [lane_of[t.pk] for t in started_order(tasks.values())]
    failures = sum(1 for t in tasks.values() if t.status != TaskStatus.SUCCESS)
    figures = DrainFigures(
        "VIP + standard + batch",
        total,
        drain,
        single_seconds,
        runtime.slots.peak,
        harness.portal_stats()["peak_concurrent"],
        failures,
        mean_scrape(tasks.values()),
        pages * latency_ms / 1000,
    )
    counts = {Lane.VIP: vip, Lane.STANDARD: standard, Lane.BATCH: batch}
    shares = sc.services.shares
    mean_rank, all_three, inter = lane_counts(order)
    d_rank, d_all_three, d_inter = lane_counts(designed_order(counts, shares))
    return MixedFigures(
        figures,
        {lane.value: n for lane, n in counts.items()},
        mean_rank,
        d_rank,
        all_three,
        d_all_three,
        inter,
        d_inter,
        shares,
    )

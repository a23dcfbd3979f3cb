"""VIP start delay: VIP lookups arriving one at a time behind a standing backlog of
standard and batch work, from the lookup's call to the task's ``started_at``."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.backlog import (
    identity,
    lookup_one,
    lookups,
    mean_scrape,
    nearest_rank,
    read_tasks,
    upload_batch,
)
from bench.harness import Harness
from bench.pages import numbers_with_pages
from chalicelib.domain.lanes import Lane

__all__ = ["VipDelayFigures", "measure_vip_delay"]

#: Backlog scrapes finished before the first trial (two per slot).
WARM = 6


@dataclass(frozen=True)
class VipDelayFigures:
    standard: int
    batch: int
    #: Seconds from each VIP lookup's call to its task's start.
    delays: list[float]
    #: Mean scrape (started → finished) of every task that finished during the trials.
    mean_scrape_seconds: float
    #: Tasks that started between each VIP's lookup and its start, by lane.
    overtaken: Counter[str] = field(default_factory=Counter)
    #: Most tasks that started between one VIP's lookup and its start.
    most_overtaken: int = 0
    #: The same from the VIP task's ``created_at`` (the claims that could have seen it).
    overtaken_visible: Counter[str] = field(default_factory=Counter)
    most_visible: int = 0

    @property
    def p50(self) -> float:
        return statistics.median(self.delays)

    @property
    def p95(self) -> float:
        return nearest_rank(self.delays, 95)

    @property
    def ratio(self) -> float:
        """p95 ÷ mean scrape time."""
        return self.p95 / self.mean_scrape_seconds


def measure_vip_delay(
    harness: Harness,
    *,
    standard: int,
    batch: int,
    trials: int,
    pages: int,
    latency_ms: float,
    start: int,
    spacing: float,
) -> VipDelayFigures:
    """``batch`` lines in one upload and ``standard`` lookups wait; the worker starts; after
    its first ``WARM`` scrapes, ``trials`` VIP lookups are made one at a time, each
    ``spacing`` s after the previous VIP started. The worker is stopped after the last
    trial (the backlog is left)."""
    sc = harness.scenario()
    numbers = numbers_with_pages(pages, batch + standard + trials, start=start)
    _, batch_ids = upload_batch(sc, "lote", numbers[:batch])
    asked = lookups(sc, [(Lane.STANDARD, n) for n in numbers[batch : batch + standard]])
    vip_numbers = numbers[batch + standard :]
    Task = sc.services.models.Task
    harness.portal_reset(latency_ms=latency_ms)
    submitted: list[tuple[str, float]] = []
    began = time.time()
    with sc.worker():
        # Warm: every slot busy with the backlog and the first scrapes (portal sessions
        # opened) done.
        standard_ids = [a.task_id for a in asked]
        while sum(1 for t in read_tasks(sc, standard_ids).values() if t.finished_at) < WARM:
            time.sleep(0.2)
        for i, numero in enumerate(vip_numbers):
            vip = lookup_one(sc, numero, identity(Lane.VIP, i, "d"), Lane.VIP)
            while (started := Task.get(vip.task_id).started_at) is None:
                time.sleep(0.02)
            submitted.append((vip.task_id, vip.at))
            time.sleep(max(0.0, float(started) + spacing - time.time()))
        ended = time.time()
    lane_of = {t: Lane.BATCH.value for t in batch_ids}
    lane_of.update({a.task_id: Lane.STANDARD.value for a in asked})
    lane_of.update({task_id: Lane.VIP.value for task_id, _ in submitted})
    tasks = read_tasks(sc, lane_of)
    during = [
        t for t in tasks.values() if t.finished_at is not None and began <= t.started_at <= ended
    ]
    delays, overtaken, visible, most, most_visible = [], Counter[str](), Counter[str](), 0, 0
    for task_id, at in submitted:
        begun, created = float(tasks[task_id].started_at), float(tasks[task_id].created_at)
        delays.append(begun - at)
        ahead = [
            t for t in tasks.values() if t.started_at is not None and at < t.started_at < begun
        ]
        overtaken.update(lane_of[t.pk] for t in ahead)
        most = max(most, len(ahead))
        seen = [t for t in ahead if t.started_at > created]
        visible.update(lane_of[t.pk] for t in seen)
        most_visible = max(most_visible, len(seen))
    return VipDelayFigures(
        standard, batch, delays, mean_scrape(during), overtaken, most, visible, most_visible
    )

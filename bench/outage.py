"""A portal outage, compressed in time: the portal answers every request 503 while lookups
keep arriving, then comes back. What the breaker spends on the dead portal (requests that
reach it while it is down, per compressed minute), what users are told (WAITING_PORTAL),
and whether every task is still answered, none dead-lettered, once it is back."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from bench.backlog import identity, lookup_one, wait_done
from bench.harness import Harness
from bench.pages import numbers_with_pages
from chalicelib.domain.lanes import Lane
from chalicelib.domain.tasks import TERMINAL, TaskStatus

__all__ = ["OUTAGE_SETTINGS", "OutageFigures", "measure_outage"]

#: The breaker's and retries' times divided by the compression (60: 30 s → 0.5 s, 120 s →
#: 2 s; SQS delays are whole seconds, so the retry base stays 1 s), and short timeouts.
OUTAGE_SETTINGS = {
    "retry_base_delay_seconds": 1,
    "breaker_probe_seconds": 0.5,
    "breaker_probe_max_seconds": 2,
    "connect_timeout_seconds": 1,
    "read_timeout_seconds": 2,
    "portal_request_timeout_seconds": 5,
}


@dataclass(frozen=True)
class OutageFigures:
    #: Real seconds the portal was down, and the compression (real s per compressed min).
    outage_seconds: float
    compression: int
    total: int
    succeeded: int
    failed: int
    dlq: int
    #: Portal requests answered 503 during the outage; of them, while the breaker was open.
    requests_down: int
    requests_open: int
    #: Seconds from the outage's start to the breaker's opening.
    open_after: float
    #: Portal back → breaker closed, and → the last task finished.
    closed_after: float
    drained_seconds: float
    #: Tasks whose lookup answer or status said WAITING_PORTAL during the outage, of those
    #: that were waiting when asked.
    waiting_portal: int
    asked_waiting: int
    #: Most attempts any task spent.
    max_attempts: int

    @property
    def minutes(self) -> float:
        """The outage in compressed minutes."""
        return self.outage_seconds * self.compression / 60

    @property
    def per_minute(self) -> float:
        """Portal requests during the outage per compressed minute."""
        return self.requests_down / self.minutes

    @property
    def open_per_minute(self) -> float:
        """Portal requests (probes) per compressed minute while the breaker was open."""
        open_minutes = (self.outage_seconds - self.open_after) * self.compression / 60
        return self.requests_open / open_minutes if open_minutes > 0 else float("nan")


class _Sampler(threading.Thread):
    """(time, 503 answers so far, breaker open) every ``every`` s."""

    def __init__(self, harness: Harness, breaker: object, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.harness, self.breaker, self.every = harness, breaker, every
        self.samples: list[tuple[float, int, bool]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            at = time.time()
            try:
                down = self.harness.portal_stats()["by_status"].get("503", 0)
                is_open = self.breaker.read(fresh=True).is_open  # type: ignore[attr-defined]
                self.samples.append((at, down, is_open))
            except Exception:  # noqa: BLE001 - a missed sample; the run goes on
                pass
            self.stop.wait(self.every)

    def first(self, after: float, is_open: bool) -> tuple[float, int]:
        """The first sample at or after ``after`` whose breaker is ``is_open``."""
        found = ((t, n) for t, n, o in self.samples if t >= after and o is is_open)
        return next(found, (float("nan"), self.at(after)))

    def at(self, when: float) -> int:
        """503 answers counted by the last sample at or before ``when``."""
        return max((n for t, n, _ in self.samples if t <= when), default=0)


def measure_outage(
    harness: Harness,
    *,
    outage_seconds: float,
    rate: float,
    lead_seconds: float,
    latency_ms: float,
    start: int,
    compression: int = 60,
) -> OutageFigures:
    """Lookups arrive ``rate`` a second (distinct OS, distinct users) from ``lead_seconds``
    before the outage to its end; the portal answers 503 for ``outage_seconds``, then
    normally; measured until every task is terminal."""
    sc = harness.scenario(**OUTAGE_SETTINGS)
    count = int((lead_seconds + outage_seconds) * rate)
    numbers = numbers_with_pages(2, count, start=start)
    harness.portal_reset(latency_ms=latency_ms)
    sampler = _Sampler(harness, sc.services.store.breaker)
    asked, waiting_portal, asked_waiting = [], set(), set()
    users: dict[str, str] = {}
    lookup = sc.services.lookup
    with sc.worker():
        sampler.start()
        began = time.time()
        down_at = began + lead_seconds
        up_at = down_at + outage_seconds
        sweeps = [down_at + outage_seconds * f for f in (0.35, 0.7, 0.95)]
        is_down = False
        for i, numero in enumerate(numbers):
            time.sleep(max(0.0, began + i / rate - time.time()))
            if not is_down and time.time() >= down_at:
                harness.faults(latency_ms=latency_ms, unavailable_rate=1.0)
                down_at, is_down = time.time(), True
            who = identity(Lane.STANDARD, i, "o")
            answer = lookup_one(sc, numero, who, Lane.STANDARD)
            asked.append(answer.task_id)
            users[answer.task_id] = who.user
            if is_down and answer.status not in {s.value for s in TERMINAL}:
                asked_waiting.add(answer.task_id)
                if answer.status == TaskStatus.WAITING_PORTAL.value:
                    waiting_portal.add(answer.task_id)
            if is_down and sweeps and time.time() >= sweeps[0]:
                sweeps.pop(0)
                for task_id in asked:
                    status = lookup.status(task_id, users[task_id]).status
                    if status not in TERMINAL:
                        asked_waiting.add(task_id)
                    if status is TaskStatus.WAITING_PORTAL:
                        waiting_portal.add(task_id)
        time.sleep(max(0.0, up_at - time.time()))
        harness.faults(latency_ms=latency_ms)
        up_at = time.time()
        tasks = wait_done(sc, asked, timeout=180, interval=0.5)
    sampler.stop.set()
    sampler.join()
    opened_at, opened_count = sampler.first(down_at, True)
    closed_at, _ = sampler.first(up_at, False)
    requests_down = sampler.at(up_at) - sampler.at(down_at)
    return OutageFigures(
        up_at - down_at,
        compression,
        len(asked),
        sum(1 for t in tasks.values() if t.status == TaskStatus.SUCCESS),
        sum(1 for t in tasks.values() if t.status == TaskStatus.FAILURE),
        sc.depth(sc.deployment.queue_urls["dlq"]),
        requests_down,
        sampler.at(up_at) - opened_count,
        opened_at - down_at,
        closed_at - up_at,
        max(float(t.finished_at) for t in tasks.values()) - up_at,
        len(waiting_portal),
        len(asked_waiting),
        max(int(t.attempts) for t in tasks.values()),
    )

"""Fairness between two batch owners: owner A's big batch is being scraped when owner B
uploads a small one; how soon B's tasks start, and how the two alternate while both wait
(the batch lane's start-time fair queueing, ``chalicelib.domain.fairshare``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.backlog import read_tasks, started_order, upload_batch, wait_done
from bench.harness import Harness
from bench.pages import numbers_with_pages

__all__ = ["FairnessFigures", "measure_fairness"]


@dataclass(frozen=True)
class FairnessFigures:
    big: int
    small: int
    #: A's scrapes that started before B's upload.
    lead: int
    #: Batch scrapes that started after B's upload and before B's first (last) task started.
    first_after: int
    last_after: int
    #: The owners of the batch starts from B's first to B's last, in order ("BABA...").
    alternation: str
    #: Seconds the ingest of B's file took (its tasks waited from then on).
    ingest_seconds: float

    @property
    def a_to_b(self) -> str:
        return f"{self.alternation.count('A')}:{self.alternation.count('B')}"


def measure_fairness(
    harness: Harness,
    *,
    big: int,
    small: int,
    lead: int,
    pages: int,
    latency_ms: float,
    start: int,
) -> FairnessFigures:
    """Owner A uploads ``big`` lines and the worker starts; once ``lead`` of A's tasks have
    started, owner B uploads ``small`` lines; measured until B's last task is done."""
    sc = harness.scenario()
    numbers = numbers_with_pages(pages, big + small, start=start)
    a_batch, a_ids = upload_batch(sc, "dona", numbers[:big])
    harness.portal_reset(latency_ms=latency_ms)
    with sc.worker():
        watched = a_ids[: lead * 3]
        while sum(1 for t in read_tasks(sc, watched).values() if t.started_at) < lead:
            time.sleep(0.1)
        uploaded = time.time()
        b_batch, b_ids = upload_batch(sc, "bruno", numbers[big:])
        ingest_seconds = time.time() - uploaded
        wait_done(sc, b_ids, timeout=120, interval=0.2)
    owners = {a_batch: "A", b_batch: "B"}
    starts = started_order(read_tasks(sc, [*a_ids, *b_ids]).values())
    letters = [owners[t.batch_id] for t in starts]
    times = [float(t.started_at) for t in starts]
    before = sum(1 for at in times if at < uploaded)
    b_positions = [i for i, letter in enumerate(letters) if letter == "B"]
    first, last = b_positions[0], b_positions[-1]
    return FairnessFigures(
        big,
        small,
        before,
        first - before,
        last - before,
        "".join(letters[first : last + 1]),
        ingest_seconds,
    )

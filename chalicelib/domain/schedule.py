"""Which lane each claim of the task-pull scheduler serves, and how long a task waits.

Every SQS message wakes a worker, which claims the best waiting task itself. Claims are
numbered by a shared counter ``n = 0, 1, 2, ...``, and claim ``n`` belongs to one lane's
*turn*: turns cycle by weighted shares (VIP 6, standard 3, batch 1 by default), spread
out by smooth weighted round-robin (nginx's), so VIP goes first but standard work is
never starved by VIP work, nor batch work by interactive work. A turn whose lane has
nothing waiting goes to the highest-ranked lane that has. Pure logic, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Mapping

from chalicelib.domain.lanes import Lane

__all__ = [
    "Shares",
    "claims_before",
    "preference",
    "result_seconds",
    "start_delay_seconds",
    "turn",
]


@dataclass(frozen=True)
class Shares:
    """Turns per cycle of each lane while several lanes have work (defaults: VIP 6,
    standard 3, batch 1)."""

    vip: int = 6
    standard: int = 3
    batch: int = 1

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"the {field.name} lane's share must be a whole number >= 1")

    def of(self, lane: Lane) -> int:
        """``lane``'s turns per cycle."""
        return int(getattr(self, Lane(lane).value))

    @property
    def cycle(self) -> int:
        """Claims per cycle: the sum of the shares."""
        return self.vip + self.standard + self.batch

    def turns(self) -> tuple[Lane, ...]:
        """One cycle of turns, by smooth weighted round-robin (computed once per shares)."""
        return _smooth_turns(tuple(self.of(lane) for lane in Lane))


@lru_cache(maxsize=32)
def _smooth_turns(weights: tuple[int, ...]) -> tuple[Lane, ...]:
    """nginx's smooth weighted round-robin: each step every lane's current value grows by
    its weight, the highest (ties: the lower rank) takes the turn and gives back the total."""
    lanes = tuple(Lane)
    total = sum(weights)
    current = [0] * len(lanes)
    order: list[Lane] = []
    for _ in range(total):
        current = [c + w for c, w in zip(current, weights, strict=True)]
        best = max(range(len(lanes)), key=lambda i: (current[i], -i))
        current[best] -= total
        order.append(lanes[best])
    return tuple(order)


def turn(n: int, shares: Shares) -> Lane:
    """The lane whose turn claim ``n`` is."""
    if n < 0:
        raise ValueError("claims are numbered from 0")
    turns = shares.turns()
    return turns[n % len(turns)]


def preference(n: int, shares: Shares) -> tuple[Lane, ...]:
    """The lanes claim ``n`` tries, in order: the turn's lane, then the others by rank.

    The claim takes the first lane with a waiting task, so a turn its lane does not use
    goes to the highest-ranked lane with work."""
    first = turn(n, shares)
    return (first, *(lane for lane in Lane if lane is not first))


def _take(n: int, shares: Shares, left: dict[Lane, int]) -> Lane:
    """The lane claim ``n`` serves when ``left[lane]`` tasks wait in each lane (one must)."""
    return next(lane for lane in preference(n, shares) if left[lane] > 0)


def _whole_cycles(lane: Lane, left: dict[Lane, int], shares: Shares) -> tuple[int, dict[Lane, int]]:
    """How many whole cycles can be skipped, and what each lane loses per cycle.

    While no lane runs out, a cycle (from any claim on) gives every lane with work its
    share, plus the turns of the empty lanes to the highest-ranked lane with work. The
    task's own lane must keep ``left[lane]`` (the tasks ahead of it) for each cycle."""
    busy = [other for other in Lane if other is lane or left[other] > 0]
    loss = {other: shares.of(other) for other in busy}
    loss[busy[0]] += sum(shares.of(other) for other in Lane if other not in loss)
    return min(left[other] // loss[other] for other in busy), loss


def claims_before(
    lane: Lane,
    ahead: int,
    waiting: Mapping[Lane, int],
    shares: Shares,
    *,
    start: int = 0,
) -> int:
    """How many claims are made before a task of ``lane`` with ``ahead`` tasks of its own
    lane before it, while ``waiting[other]`` tasks wait in each other lane.

    ``waiting[lane]`` is ignored (``ahead`` counts for the task's own lane) and a missing
    lane has none. Claims are numbered from ``start`` and nothing new arrives. Exact: the
    claim-by-claim answer, with whole cycles in which no lane runs out skipped at once.
    """
    lane = Lane(lane)
    if ahead < 0 or start < 0:
        raise ValueError("ahead and start must be >= 0")
    left = {other: int(waiting.get(other, 0)) for other in Lane}
    if any(count < 0 for count in left.values()):
        raise ValueError("waiting counts must be >= 0")
    left[lane] = ahead  # the tasks before this one; the task itself is not counted
    n, cycle = start, shares.cycle
    while True:
        cycles, loss = _whole_cycles(lane, left, shares)
        if cycles:
            n += cycles * cycle
            for other, lost in loss.items():
                left[other] -= cycles * lost
        # Within one cycle of claims some lane runs out, or this task is claimed.
        for _ in range(cycle):
            served = _take(n, shares, {**left, lane: left[lane] + 1})
            if served is lane and left[lane] == 0:
                return n - start
            left[served] -= 1
            n += 1


def start_delay_seconds(claims_before: int, mean_scrape_seconds: float, slots: int) -> int:
    """Seconds until a task starts: the claims ahead of it drain ``slots`` at a time, so a
    task with fewer than ``slots`` claims ahead starts at once.

    ``ceil(floor(claims_before / slots) * mean)``; ValueError for negative inputs or
    ``slots < 1``."""
    if claims_before < 0 or mean_scrape_seconds < 0 or slots < 1:
        raise ValueError("claims_before and mean_scrape_seconds must be >= 0, slots >= 1")
    return math.ceil((claims_before // slots) * mean_scrape_seconds)


def result_seconds(claims_before: int, mean_scrape_seconds: float, slots: int) -> int:
    """Seconds until a task's result (``estimated_time``): its start, then one scrape."""
    start = start_delay_seconds(claims_before, mean_scrape_seconds, slots)
    return start + math.ceil(mean_scrape_seconds)

"""Per-user rolling-window limit on new scrapes, as slots: pure logic, no I/O.

A user with a limit of N per window owns N slots; starting a scrape takes a slot whose
last use is older than the window. The store writes the slot with a condition (free
when written) in the same transaction that creates the task, so the limit is exact
under any concurrency: N slots can only be taken N times per window, and joins or cache
hits, which create no task, take none.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Mapping

__all__ = ["RatePolicy", "SlotChoice", "choose_slot"]


@dataclass(frozen=True)
class RatePolicy:
    user: str
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class SlotChoice:
    """A free slot to take, or none and how long until one frees."""

    slot: int | None
    retry_after: int = 0


def choose_slot(
    used_at: Mapping[int, float], policy: RatePolicy, now: float, rng: random.Random | None = None
) -> SlotChoice:
    """Pick a free slot at random (fewer collisions under concurrency), or say when one frees."""
    free = [
        i
        for i in range(policy.limit)
        if used_at.get(i, float("-inf")) <= now - policy.window_seconds
    ]
    if free:
        return SlotChoice((rng or random).choice(free))
    oldest = min(used_at.get(i, now) for i in range(policy.limit))
    return SlotChoice(None, max(1, math.ceil(oldest + policy.window_seconds - now)))

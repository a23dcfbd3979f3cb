"""Per-user rolling-window limit on new scrapes: pure logic, no I/O.

A user's recent scrape starts are one list; a new scrape is admitted while fewer than
the limit fall inside the window. The store adds the start in the same transaction that
creates the task, on a condition that holds only while the window has room (see
``RateLogStore.add_start`` in ``chalicelib/adapters/dynamo/ratelog.py``), so the limit
is exact under any concurrency; joins and cache hits, which create no task, add nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Admission", "RatePolicy", "admit"]


@dataclass(frozen=True)
class RatePolicy:
    user: str
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class Admission:
    """If admitted, the window's starts with the new one (``starts``) and how many read
    starts had left the window (``expired``); else None and how long until one frees."""

    starts: tuple[float, ...] | None
    retry_after: int = 0
    expired: int = 0


def admit(starts: Sequence[float], policy: RatePolicy, now: float) -> Admission:
    """Admit one more start at ``now``: the window's starts plus it, or when to retry."""
    recent = sorted(t for t in starts if t > now - policy.window_seconds)
    if len(recent) < policy.limit:
        return Admission((*recent, now), expired=len(starts) - len(recent))
    frees_at = recent[len(recent) - policy.limit] + policy.window_seconds
    return Admission(None, max(1, math.ceil(frees_at - now)))

"""Queue position and waiting-time estimates: pure arithmetic, no I/O."""

from __future__ import annotations

import math

__all__ = ["estimate_seconds"]


def estimate_seconds(position: int, mean_scrape_seconds: float, concurrency: int) -> int:
    """Seconds until a task ``position`` places back in the queue has its result.

    The ``position`` tasks ahead drain ``concurrency`` at a time, then this one runs:
    ``(floor(position / concurrency) + 1) * mean``, rounded up.
    """
    if position < 0 or concurrency < 1:
        raise ValueError("position must be >= 0 and concurrency >= 1")
    rounds = position // concurrency + 1
    return math.ceil(rounds * max(mean_scrape_seconds, 0.0))

"""Retrying under contention: how many rounds a write gets, and the pause between them."""

from __future__ import annotations

import random
import time

__all__ = ["MAX_ROUNDS", "pause"]

#: Rounds of "read, try the conditional write" before giving up under contention.
MAX_ROUNDS = 50


def pause(round_: int) -> None:
    """Sleep a jittered, exponentially growing moment (at most half a second)."""
    time.sleep(min(0.5, 0.01 * 2**round_) * random.random())  # noqa: S311 - jitter

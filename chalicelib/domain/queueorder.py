"""Where a waiting task stands in the queue index: pure logic, no I/O.

Waiting tasks of the interactive lanes share one index partition, and batch tasks have
their own. The sort key is the lane's rank, then the enqueue time, so every VIP task
sorts before every standard one: counting the keys below a task's gives its position
in one query (a batch task also waits behind every interactive one).

Batch tasks wait in two partitions: *held* ones in the lane's fair order (their key is
the owner's virtual time, ``chalicelib.domain.fairshare``), and the few *released* to the batch
queue (``batch_release_window`` of them), which start in the order they were released.
"""

from __future__ import annotations

from chalicelib.domain.lanes import Lane

__all__ = [
    "GROUP_BATCH",
    "GROUP_HELD",
    "GROUP_INTERACTIVE",
    "GROUP_RETRY",
    "LANE_SPAN",
    "band",
    "group_of",
    "place",
]

GROUP_INTERACTIVE = "interactive"
GROUP_BATCH = "batch"
#: Batch tasks not released to the batch queue yet, in fair order.
GROUP_HELD = "batch-held"
#: Tasks between attempts (RETRY), by when their message comes back: never counted in a
#: position, listed so that ops can find the tasks of a lane they purge.
GROUP_RETRY = "retry"
#: Each lane's band of sort keys, in seconds: wider than any epoch time (about 317 years).
LANE_SPAN = 10_000_000_000


def group_of(lane: Lane | str) -> str:
    """The index partition of ``lane``'s waiting tasks (any lane but batch: interactive)."""
    return GROUP_BATCH if lane == Lane.BATCH else GROUP_INTERACTIVE


def place(lane: Lane | str, queued_at: float) -> tuple[str, float]:
    """The (partition, sort key) of a task waiting in ``lane`` since ``queued_at``.

    Raises ValueError for a value that is no lane."""
    return group_of(lane), Lane(lane).rank * LANE_SPAN + queued_at


def band(lane: Lane | str) -> tuple[float, float]:
    """The sort keys of ``lane``'s tasks: [low, high)."""
    low = Lane(lane).rank * LANE_SPAN
    return low, low + LANE_SPAN

"""Queue index keys (chalicelib/queueorder.py): one count gives a position."""

from __future__ import annotations

import time

from chalicelib.domain.lanes import Lane
from chalicelib.domain.queueorder import band, place


def test_every_vip_task_sorts_before_every_standard_one_in_one_partition() -> None:
    now = time.time()
    late_vip = place(Lane.VIP, now + 86_400 * 365 * 100)
    early_standard = place(Lane.STANDARD, 0.0)
    assert late_vip[0] == early_standard[0]
    assert late_vip[1] < early_standard[1]


def test_within_a_lane_tasks_sort_by_enqueue_time() -> None:
    assert place(Lane.STANDARD, 1000.0)[1] < place(Lane.STANDARD, 1000.5)[1]


def test_batch_tasks_have_a_partition_of_their_own() -> None:
    assert place(Lane.BATCH, 1.0)[0] != place(Lane.STANDARD, 1.0)[0]


def test_each_lane_band_holds_its_tasks_and_no_other_lane_s() -> None:
    now = time.time()
    for lane in (Lane.VIP, Lane.STANDARD, Lane.BATCH):
        low, high = band(lane)
        assert low <= place(lane, now)[1] < high
    assert band(Lane.VIP)[1] <= band(Lane.STANDARD)[0]

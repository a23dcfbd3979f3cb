"""The batch lane's fair order between owners (start-time fair queueing), as pure logic."""

from __future__ import annotations

import heapq

import pytest

from chalicelib.domain.fairshare import reserve


def release_order(uploads: list[tuple[str, int, int]], releases: int) -> list[str]:
    """Owners in the order their tasks are released: ``uploads`` are (owner, tasks, released
    before it arrives), keys taken as the lane does (owner's last, the clock)."""
    held: list[tuple[float, str]] = []
    last: dict[str, float] = {}
    clock, order, pending = 0.0, [], sorted(uploads, key=lambda u: u[2])
    while len(order) < releases:
        while pending and pending[0][2] <= len(order):
            owner, count, _ = pending.pop(0)
            keys = reserve(owner, last.get(owner, 0), clock, count)
            last[owner] = keys.last_unit
            for i in range(count):
                heapq.heappush(held, (keys.key(i), owner))
        if not held:
            break
        key, owner = heapq.heappop(held)
        clock = max(clock, int(key))
        order.append(owner)
    return order


def test_given_two_owners_with_work_waiting_then_they_take_turns() -> None:
    order = release_order([("ana", 50, 0), ("bruno", 50, 0)], 40)
    for k in range(2, 41, 2):
        assert abs(order[:k].count("ana") - order[:k].count("bruno")) <= 1


def test_given_a_huge_backlog_when_another_owner_uploads_one_line_then_it_is_released_next() -> (
    None
):
    # Given ana's 100,000 tasks, 5,000 of them released already
    order = release_order([("ana", 100_000, 0), ("bruno", 1, 5_000)], 5_003)
    # Then bruno's one task is released within one of ana's, not after her 95,000 others
    assert "bruno" in order[5_000:5_002]


def test_given_an_owner_who_uploads_again_later_then_their_new_work_waits_behind_their_old() -> (
    None
):
    keys = reserve("ana", 10, 3, 5)
    assert (keys.first_unit, keys.last_unit) == (11, 15)
    later = reserve("ana", keys.last_unit, 20, 2)
    assert later.first_unit == 21  # the clock moved past her: she starts at it, not before


def test_keys_of_one_owner_keep_their_order_and_ties_between_owners_are_stable() -> None:
    a, b = reserve("ana", 0, 0, 3), reserve("bruno", 0, 0, 3)
    assert [a.key(i) for i in range(3)] == sorted(a.key(i) for i in range(3))
    assert all(int(a.key(i)) == int(b.key(i)) for i in range(3))
    assert a.key(0) != b.key(0) and reserve("ana", 0, 0, 1).key(0) == a.key(0)
    with pytest.raises(IndexError):
        a.key(3)
    with pytest.raises(ValueError):
        reserve("ana", 0, 0, -1)

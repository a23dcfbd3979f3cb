"""The rolling-window rate limit (chalicelib/ratelimit.py): pure logic."""

from __future__ import annotations

from chalicelib.domain.ratelimit import RatePolicy, admit

POLICY = RatePolicy("ana", limit=3, window_seconds=3600)


def test_given_room_in_the_window_then_the_start_is_added_and_old_ones_dropped() -> None:
    admission = admit([100.0, 5000.0], POLICY, now=5100.0)
    assert admission.starts == (5000.0, 5100.0)  # 100 fell out of the window
    assert admission.retry_after == 0


def test_given_a_full_window_then_it_is_refused_until_the_oldest_start_leaves() -> None:
    admission = admit([1000.0, 2000.0, 3000.0], POLICY, now=3500.0)
    assert admission.starts is None
    assert admission.retry_after == 1000 + 3600 - 3500


def test_given_a_start_exactly_one_window_old_then_it_no_longer_counts() -> None:
    assert admit([0.0, 10.0, 20.0], POLICY, now=3600.0).starts == (10.0, 20.0, 3600.0)


def test_given_more_starts_than_the_limit_then_the_wait_frees_enough_of_them() -> None:
    # A lowered limit: five recent starts, three allowed; the third oldest must leave.
    admission = admit([10.0, 20.0, 30.0, 40.0, 50.0], POLICY, now=60.0)
    assert admission.starts is None
    assert admission.retry_after == 30 + 3600 - 60


def test_the_wait_is_never_less_than_a_second() -> None:
    assert admit([0.0, 1.0, 2.0], POLICY, now=3599.9).retry_after == 1


def test_an_admission_says_how_many_read_starts_left_the_window() -> None:
    # The store appends while fewer than limit + expired starts are in the list.
    admission = admit([100.0, 200.0, 5000.0], POLICY, now=5100.0)
    assert admission.expired == 2
    assert admit([5000.0], POLICY, now=5100.0).expired == 0

"""The scheduler's turns (chalicelib/domain/schedule.py): weighted shares, never starving."""

from __future__ import annotations

import random
from typing import Mapping

import pytest

from chalicelib.domain.lanes import Lane
from chalicelib.domain.schedule import (
    Shares,
    claims_before,
    preference,
    start_delay_seconds,
    turn,
)

VIP, STANDARD, BATCH = Lane.VIP, Lane.STANDARD, Lane.BATCH


def naive_claims_before(
    lane: Lane, ahead: int, waiting: Mapping[Lane, int], shares: Shares, start: int = 0
) -> int:
    """The reference: claim by claim, the turn's lane if it has work, else the first by rank."""
    left = {other: waiting.get(other, 0) for other in Lane}
    left[lane] = ahead + 1  # the task itself waits last in its lane
    turns = shares.turns()
    n = start
    while True:
        first = turns[n % len(turns)]
        served = first if left[first] else next(other for other in Lane if left[other])
        if served is lane and left[lane] == 1:
            return n - start
        left[served] -= 1
        n += 1


def longest_run_without(lane: Lane, turns: tuple[Lane, ...]) -> int:
    """The most consecutive turns of other lanes, the cycle repeating."""
    longest = run = 0
    for other in turns * 2:
        run = 0 if other is lane else run + 1
        longest = max(longest, run)
    return longest


def test_given_the_default_shares_then_a_cycle_is_ten_turns_spread_out_smoothly():
    names = "".join(lane.value[0].upper() for lane in Shares().turns())
    assert names == "VSVVSVBVSV"
    assert Shares().cycle == 10


@pytest.mark.parametrize("shares", [Shares(), Shares(1, 1, 1), Shares(5, 2, 3), Shares(1, 7, 2)])
def test_given_any_shares_then_one_cycle_gives_each_lane_exactly_its_share(shares):
    turns = shares.turns()
    assert len(turns) == shares.cycle
    assert {lane: turns.count(lane) for lane in Lane} == {lane: shares.of(lane) for lane in Lane}


def test_given_the_default_shares_then_vip_never_waits_more_than_two_other_turns():
    assert longest_run_without(VIP, Shares().turns()) <= 2


def test_given_a_claim_number_then_its_turn_repeats_every_cycle():
    shares = Shares()
    assert [turn(n, shares) for n in range(25)] == [shares.turns()[n % 10] for n in range(25)]
    with pytest.raises(ValueError):
        turn(-1, shares)


def test_given_a_turn_then_the_claim_tries_its_lane_first_and_falls_through_by_rank():
    shares = Shares()
    assert preference(0, shares) == (VIP, STANDARD, BATCH)
    assert preference(1, shares) == (STANDARD, VIP, BATCH)
    assert preference(6, shares) == (BATCH, VIP, STANDARD)
    assert preference(16, shares) == (BATCH, VIP, STANDARD)


@pytest.mark.parametrize("lane", list(Lane))
def test_given_a_share_below_one_then_it_is_refused_naming_the_lane(lane):
    for bad in (0, -2):
        with pytest.raises(ValueError, match=lane.value):
            Shares(**{lane.value: bad})


@pytest.mark.parametrize("start", range(20))
def test_given_a_vip_task_first_in_its_lane_then_it_waits_at_most_two_claims(start):
    waiting = {STANDARD: 100, BATCH: 1000}
    assert claims_before(VIP, 0, waiting, Shares(), start=start) <= 2


@pytest.mark.parametrize("ahead", [0, 1, 10, 300])
def test_given_an_endless_vip_backlog_then_standard_work_still_gets_its_turns(ahead):
    shares = Shares()
    claims = claims_before(STANDARD, ahead, {VIP: 10**9}, shares)
    # About cycle / share = 10/3 claims per standard task, within one cycle
    assert abs(claims - (ahead + 1) * shares.cycle / shares.standard) <= shares.cycle


@pytest.mark.parametrize("ahead", [0, 1, 10, 300])
def test_given_endless_interactive_work_then_batch_work_gets_one_turn_in_ten(ahead):
    shares = Shares()
    claims = claims_before(BATCH, ahead, {VIP: 10**9, STANDARD: 10**9}, shares)
    assert abs(claims - (ahead + 1) * shares.cycle) <= shares.cycle


@pytest.mark.parametrize("lane", list(Lane))
@pytest.mark.parametrize("ahead", [0, 1, 7, 12_345])
def test_given_a_lane_without_competitors_then_only_its_own_tasks_come_first(lane, ahead):
    assert claims_before(lane, ahead, {}, Shares(), start=3) == ahead
    # Its own count in waiting is ignored: ahead is what counts
    assert claims_before(lane, ahead, {lane: 999}, Shares()) == ahead


@pytest.mark.parametrize("seed", range(40))
def test_given_random_queues_then_claims_before_equals_the_claim_by_claim_answer(seed):
    rng = random.Random(seed)
    big = seed % 4 == 0  # some cases long enough to skip many whole cycles
    for _ in range(25):
        shares = Shares(rng.randint(1, 6), rng.randint(1, 6), rng.randint(1, 6))
        lane = rng.choice(list(Lane))
        top = 3000 if big else 40
        ahead = rng.choice([0, rng.randint(0, top)])
        waiting = {
            other: rng.choice([0, rng.randint(0, top)]) for other in Lane if rng.random() < 0.8
        }
        start = rng.randint(0, 50)
        expected = naive_claims_before(lane, ahead, waiting, shares, start)
        assert claims_before(lane, ahead, waiting, shares, start=start) == expected


def test_given_a_huge_batch_backlog_then_the_answer_is_arithmetic_not_a_long_simulation():
    # Every interactive task is claimed long before the 100,000 batch tasks ahead are
    assert claims_before(BATCH, 100_000, {VIP: 50, STANDARD: 5_000}, Shares()) == 105_050
    assert claims_before(STANDARD, 10**6, {VIP: 10**9}, Shares()) == pytest.approx(
        (10**6 + 1) * 10 / 3, abs=10
    )


def test_given_bad_counts_then_claims_before_refuses_them():
    for ahead, waiting, start in [(-1, {}, 0), (0, {VIP: -1}, 0), (0, {}, -1)]:
        with pytest.raises(ValueError):
            claims_before(STANDARD, ahead, waiting, Shares(), start=start)


@pytest.mark.parametrize(
    "claims,mean,slots,seconds",
    [(0, 30.0, 3, 0), (2, 30.0, 3, 0), (3, 30.0, 3, 30), (8, 12.5, 3, 25), (4, 10.2, 3, 11)],
)
def test_given_claims_ahead_then_the_start_delay_drains_them_slots_at_a_time(
    claims, mean, slots, seconds
):
    assert start_delay_seconds(claims, mean, slots) == seconds


@pytest.mark.parametrize("claims,mean,slots", [(-1, 1.0, 3), (0, -1.0, 3), (0, 1.0, 0)])
def test_given_negative_inputs_or_no_slots_then_start_delay_refuses_them(claims, mean, slots):
    with pytest.raises(ValueError):
        start_delay_seconds(claims, mean, slots)

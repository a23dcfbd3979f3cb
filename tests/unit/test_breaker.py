"""The portal-outage circuit breaker's state machine, as pure logic."""

from __future__ import annotations

import pytest

from chalicelib.domain.breaker import Breaker, BreakerPolicy, BreakerState

POLICY = BreakerPolicy(failures_to_open=3, probe_delay_seconds=30, probe_max_delay_seconds=120)


def failures(n: int, now: float = 1000.0, start: Breaker | None = None) -> Breaker:
    state = start or Breaker()
    for _ in range(n):
        state = state.after_failure(POLICY, now)
    return state


def test_given_fewer_failures_than_the_threshold_then_it_stays_closed_and_counts_them() -> None:
    state = failures(2)
    assert state == Breaker(failures=2)
    assert not state.is_open


def test_given_the_threshold_of_failures_then_it_opens_with_the_first_probe_a_delay_away() -> None:
    state = failures(3, now=1000.0)
    assert state.is_open and state.state is BreakerState.OPEN
    assert (state.opened_at, state.next_probe_at, state.probes) == (1000.0, 1030.0, 0)


def test_given_failures_when_the_portal_answers_then_the_count_starts_again() -> None:
    state = failures(2).after_success()
    assert state == Breaker()
    assert not failures(2, start=state).is_open


def test_given_an_open_breaker_when_it_succeeds_then_it_closes_and_keeps_what_is_parked() -> None:
    opened = Breaker(BreakerState.OPEN, 3, 1000.0, 1030.0, probes=2, parked=7, version=4)
    closed = opened.after_success()
    assert closed == Breaker(parked=7, version=4)


def test_given_an_open_breaker_then_each_failed_probe_doubles_the_wait_up_to_the_cap() -> None:
    state = failures(3, now=0.0)
    waits = []
    for now in (100.0, 200.0, 300.0, 400.0):
        state = state.after_failure(POLICY, now)
        waits.append(state.next_probe_at - now)
    assert waits == [60.0, 120.0, 120.0, 120.0]
    assert state.probes == 4 and state.opened_at == 0.0


def test_the_policy_delay_doubles_from_the_base_and_is_capped() -> None:
    assert [POLICY.delay(n) for n in range(4)] == [30.0, 60.0, 120.0, 120.0]
    assert POLICY.delay(10_000) == 120.0


def test_a_probe_may_start_only_once_the_breaker_is_open_and_its_time_has_come() -> None:
    state = failures(3, now=1000.0)
    assert not state.may_probe(1029.9)
    assert state.may_probe(1030.0) and state.may_probe(5000.0)
    assert not Breaker().may_probe(5000.0)


def test_given_a_probe_started_then_no_other_may_start_until_its_lease_runs_out() -> None:
    state = failures(3, now=1000.0).leased(1030.0, 15)
    assert state.next_probe_at == 1045.0
    assert not state.may_probe(1044.0) and state.may_probe(1045.0)


def test_the_state_functions_leave_the_version_to_the_adapter() -> None:
    start = Breaker(version=9)
    assert failures(3, start=start).version == 9
    assert failures(3, start=start).leased(0, 1).after_success().version == 9


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"failures_to_open": 0}, "failures_to_open"),
        ({"probe_delay_seconds": 0}, "probe_delay_seconds"),
        ({"probe_delay_seconds": -1}, "probe_delay_seconds"),
        ({"probe_delay_seconds": 60, "probe_max_delay_seconds": 30}, "probe_max_delay_seconds"),
    ],
)
def test_an_invalid_policy_is_refused_naming_the_field(changes, field) -> None:
    with pytest.raises(ValueError, match=field):
        BreakerPolicy(**changes)

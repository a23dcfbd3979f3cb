"""The portal breaker's item (``breaker.py``): conditional writes, exact under races."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest
from moto.dynamodb.responses import DynamoHandler

from chalicelib.adapters.dynamo.breaker import PortalBreaker
from chalicelib.adapters.dynamo.models import breaker_key
from chalicelib.domain.breaker import Breaker, BreakerPolicy

POLICY = BreakerPolicy(failures_to_open=3, probe_delay_seconds=30, probe_max_delay_seconds=120)


@pytest.fixture
def breaker(stores, clock) -> PortalBreaker:
    return PortalBreaker(stores.models, POLICY, clock=clock)


@pytest.fixture
def atomic(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto in memory handles requests one at a time, as DynamoDB applies each conditional
    write atomically (without this, two threads can both pass one condition)."""
    lock = threading.Lock()
    call_action = DynamoHandler.call_action

    def serialized(self: Any) -> Any:
        with lock:
            return call_action(self)

    monkeypatch.setattr(DynamoHandler, "call_action", serialized)


def at_once(n: int, call: Callable[[], Any]) -> list[Any]:
    """``call`` from ``n`` threads released together."""
    start = threading.Barrier(n)

    def run() -> Any:
        start.wait()
        return call()

    with ThreadPoolExecutor(n) as pool:
        return [f.result() for f in [pool.submit(run) for _ in range(n)]]


def stored(stores) -> Any:
    try:
        return stores.models.Breaker.get(breaker_key(), consistent_read=True)
    except stores.models.Breaker.DoesNotExist:
        return None


def open_it(breaker: PortalBreaker) -> Breaker:
    for _ in range(POLICY.failures_to_open):
        state, _ = breaker.record_failure()
    return state


def test_given_no_item_then_the_breaker_reads_closed(breaker):
    assert breaker.read() == Breaker()
    assert breaker.read(fresh=True) == Breaker()


def test_the_last_failure_of_the_threshold_opens_it_and_says_so(breaker, clock):
    seen = [breaker.record_failure() for _ in range(POLICY.failures_to_open - 1)]
    assert [opened for _, opened in seen] == [False, False]
    assert not breaker.read(fresh=True).is_open
    state, opened = breaker.record_failure()
    assert opened and state.is_open
    assert (state.opened_at, state.next_probe_at) == (clock(), clock() + 30)
    assert breaker.read(fresh=True) == state and state.version == 3
    # While open, a scrape that was already running changes nothing; a failed probe
    # pushes the next probe back
    assert breaker.record_failure() == (state, False)
    state, opened = breaker.record_failure(probe=True)
    assert not opened and state.probes == 1 and state.next_probe_at == clock() + 60


def test_given_concurrent_failures_at_the_threshold_then_exactly_one_caller_opened_it(
    stores, breaker, atomic
):
    for _ in range(POLICY.failures_to_open - 1):
        breaker.record_failure()
    workers = [PortalBreaker(stores.models, POLICY) for _ in range(6)]
    calls = iter(workers)
    lock = threading.Lock()

    def fail() -> tuple[Breaker, bool]:
        with lock:
            worker = next(calls)
        return worker.record_failure()

    results = at_once(len(workers), fail)
    assert [opened for _, opened in results].count(True) == 1
    # The others failed while it was open: not probes, nothing written
    final = breaker.read(fresh=True)
    assert final.is_open and final.probes == 0
    assert final.version == POLICY.failures_to_open


def test_given_a_closed_breaker_with_no_failures_then_a_success_writes_nothing(stores, breaker):
    assert breaker.record_success() == (Breaker(), 0)
    assert stored(stores) is None


def test_a_success_resets_the_failures_counted_so_far(breaker):
    breaker.record_failure()
    state, taken = breaker.record_success()
    assert (state.failures, state.is_open, taken) == (0, False, 0)
    assert breaker.read(fresh=True).failures == 0


def test_given_parked_wakeups_when_it_closes_then_the_success_takes_them_once(breaker):
    open_it(breaker)
    breaker.park()
    breaker.park(2)
    state, taken = breaker.record_success()
    assert taken == 3 and not state.is_open and state.parked == 0
    assert breaker.read(fresh=True) == state
    assert breaker.record_success() == (state, 0)


def test_given_a_park_after_the_state_was_read_then_the_success_takes_it_too(stores, breaker):
    open_it(breaker)
    breaker.read()  # cached: nothing parked
    PortalBreaker(stores.models, POLICY).park(4)  # another worker parks meanwhile
    _, taken = breaker.record_success()
    assert taken == 4 and breaker.read(fresh=True).parked == 0


def test_a_probe_cannot_start_before_its_time_nor_while_closed(breaker, clock):
    assert not breaker.take_probe(10)
    open_it(breaker)
    clock.advance(29)
    assert not breaker.take_probe(10)
    clock.advance(1)
    assert breaker.take_probe(10)
    assert breaker.read(fresh=True).next_probe_at == clock() + 10
    assert not breaker.take_probe(10)  # leased: one probe at a time


def test_given_its_time_has_come_then_exactly_one_of_several_workers_takes_the_probe(
    stores, breaker, clock, atomic
):
    open_it(breaker)
    clock.advance(30)
    workers = [PortalBreaker(stores.models, POLICY, clock=clock) for _ in range(6)]
    calls = iter(workers)
    lock = threading.Lock()

    def probe() -> bool:
        with lock:
            worker = next(calls)
        return worker.take_probe(10)

    assert sorted(at_once(len(workers), probe)) == [False] * 5 + [True]
    assert breaker.read(fresh=True).next_probe_at == clock() + 10


def test_reads_are_cached_until_the_cache_runs_out_and_writes_refresh_it(stores, clock):
    ticks = [0.0]
    mine = PortalBreaker(stores.models, POLICY, clock=clock, monotonic=lambda: ticks[0])
    other = PortalBreaker(stores.models, POLICY, clock=clock)
    assert mine.read() == Breaker()
    other.record_failure()
    assert mine.read() == Breaker()  # cached
    assert mine.read(fresh=True).failures == 1
    other.record_failure()
    ticks[0] += 2.0
    assert mine.read().failures == 2
    state, _ = mine.record_failure()
    assert mine.read() == state and state.is_open

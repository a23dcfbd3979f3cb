"""The rate log (``ratelog.py``): starts added inside transactions, exact under races."""

from __future__ import annotations

import pytest

from chalicelib.adapters.dynamo.records import RateState
from chalicelib.adapters.dynamo.transaction import Cancelled, transaction
from chalicelib.domain.ratelimit import RatePolicy, admit

POLICY = RatePolicy("ana", limit=3, window_seconds=100)


def add_start(stores, read: RateState) -> None:
    now = stores.tasks.clock()
    with transaction(stores.models) as tx:
        stores.ratelog.add_start(tx, POLICY, read, admit(read.starts, POLICY, now), now)


def test_given_no_log_then_the_first_start_writes_version_1_and_later_ones_append(stores, clock):
    assert stores.ratelog.state("ana") == RateState()
    add_start(stores, stores.ratelog.state("ana"))
    clock.advance(1)
    add_start(stores, stores.ratelog.state("ana"))
    state = stores.ratelog.state("ana")
    assert state == RateState((clock() - 1, clock()), 1)


def test_given_a_log_changed_since_it_was_read_then_the_write_is_cancelled_with_the_log_as_it_is(
    stores, clock
):
    # Given two lookups of the same user that read an empty log
    stale = stores.ratelog.state("ana")
    add_start(stores, stale)  # the first one wrote it
    # When the second writes from its stale read
    with pytest.raises(Cancelled) as cancelled:
        add_start(stores, stale)
    # Then it is refused, and the cancellation carries the log as it is now
    assert cancelled.value.failed_names() == ["rate"]
    assert stores.ratelog.from_raw(cancelled.value.old_item("rate")) == stores.ratelog.state("ana")


def test_an_append_is_refused_once_the_window_is_full(stores, clock):
    for _ in range(3):
        read = stores.ratelog.state("ana")
        add_start(stores, read)
        clock.advance(1)
    # A start admitted from a read with two starts, written after the third landed
    with pytest.raises(Cancelled):
        add_start(stores, RateState(stores.ratelog.state("ana").starts[:2], 1))
    assert len(stores.ratelog.state("ana").starts) == 3

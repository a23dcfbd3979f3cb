"""The rate log's two writes (chalicelib/adapters/dynamo/ratelog.py ``add_start``): appends while
the window has room, a whole rewrite once as many old starts as the limit have piled up."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import app as raspa_app
from chalicelib.domain.ratelimit import RatePolicy
from chalicelib.errors import RateLimitedError

POLICY = RatePolicy("ana", limit=3, window_seconds=100)


@pytest.fixture
def store(client):
    stores = raspa_app.services().store
    now = [1_000_000.0]
    stores.tasks.clock = lambda: now[0]
    return SimpleNamespace(tasks=stores.tasks, ratelog=stores.ratelog, now=now)


def start(store, numero: str) -> None:
    store.tasks.create_or_join(numero, requested_by="ana", rate=POLICY)


def test_starts_are_appended_and_the_window_is_exact_with_old_ones_in_the_list(store):
    # Given one start that has left the window
    start(store, "900001")
    store.now[0] += 101
    # When three more start, appended beside it
    for n in range(3):
        start(store, f"90001{n}")
    # Then a fourth is refused, and the list kept the old start (appends never prune)
    with pytest.raises(RateLimitedError):
        start(store, "900020")
    log = store.ratelog.state("ana")
    assert len(log.starts) == 4 and log.version == 1


def test_a_log_with_as_many_old_starts_as_the_limit_is_rewritten_with_the_window_only(store):
    # Given a full window that has then expired
    for n in range(3):
        start(store, f"90100{n}")
    with pytest.raises(RateLimitedError):
        start(store, "901009")
    store.now[0] += 101
    # When the next start comes
    start(store, "901010")
    # Then the log was rewritten: only the new start, a new version
    log = store.ratelog.state("ana")
    assert log.starts == (store.now[0],) and log.version == 2
    # And the window still counts exactly
    start(store, "901011")
    start(store, "901012")
    with pytest.raises(RateLimitedError):
        start(store, "901013")


def test_a_log_changed_since_it_was_read_is_read_again_from_the_cancellation(store):
    # Given a log read when it was empty, then filled by other lookups of the same user
    stale = store.ratelog.state("ana")
    for n in range(3):
        start(store, f"90200{n}")
    # When a lookup tries to start with the stale read
    with pytest.raises(RateLimitedError):
        store.tasks.create_or_join("902009", requested_by="ana", rate=POLICY, rate_log=stale)
    # Then it was refused, not admitted over the limit
    assert len(store.ratelog.state("ana").starts) == 3

"""The OS cache (``cache.py``): entries written in a transaction, served while fresh."""

from __future__ import annotations

import pytest

from chalicelib.adapters.dynamo.records import CacheEntry, RateState
from chalicelib.adapters.dynamo.transaction import Cancelled, transaction
from chalicelib.domain.ratelimit import RatePolicy, admit
from tests.support.calls import dynamodb_calls

RECORD = {"cliente": "Ana", "historico": [{"evento": "Aberta"}]}


def scraped(stores, numero: str, record: dict = RECORD) -> None:
    with transaction(stores.models) as tx:
        stores.cache.put_scraped(tx, numero, record, "t" * 32, stores.cache.clock())


def test_given_no_entry_then_nothing_is_served_and_a_lookup_read_finds_an_empty_rate_log(stores):
    assert stores.cache.fresh_record("100001") is None
    assert stores.cache.any_record("100001") is None
    assert stores.cache.read_for_lookup("100001", None) == (None, None)
    assert stores.cache.read_for_lookup("100001", "ana") == (None, RateState())


def test_given_a_scraped_record_then_it_is_served_as_a_plain_entry_until_its_ttl_passes(
    stores, clock, settings
):
    # Given a record stored by a finishing transaction
    scraped(stores, "100002")
    # Then it is served as a plain entry
    entry = stores.cache.fresh_record("100002")
    assert isinstance(entry, CacheEntry)
    assert entry.outcome == "ok" and entry.data == RECORD and type(entry.data) is dict
    assert entry.expires_at.timestamp() == pytest.approx(clock() + settings.cache_ttl_seconds)
    # When its TTL passes, it is stale: not served to lookups, still there for GET /os
    clock.advance(settings.cache_ttl_seconds + 1)
    assert stores.cache.fresh_record("100002") is None
    assert stores.cache.any_record("100002").data == RECORD
    assert stores.cache.read_for_lookup("100002", "ana")[0] is None


def test_given_a_not_found_answer_then_it_is_cached_for_the_shorter_ttl(stores, clock, settings):
    with transaction(stores.models) as tx:
        stores.cache.put_not_found(tx, "100003", "t" * 32, clock())
    assert stores.cache.fresh_record("100003").outcome == "not_found"
    clock.advance(settings.not_found_ttl_seconds + 1)
    assert stores.cache.fresh_record("100003") is None


def test_a_lookup_reads_the_entry_and_the_users_rate_log_in_one_batch_get(stores, clock):
    # Given a cached OS and a user with one start in their rate log
    scraped(stores, "100004")
    policy = RatePolicy("ana", limit=3, window_seconds=3600)
    with transaction(stores.models) as tx:
        stores.ratelog.add_start(tx, policy, RateState(), admit((), policy, clock()), clock())
    calls = dynamodb_calls(stores.models)
    # When a lookup reads both
    entry, log = stores.cache.read_for_lookup("100004", "ana")
    # Then one call answered both
    assert calls == {"BatchGetItem": 1}
    assert entry.data == RECORD and log == RateState((clock(),), 1)


def test_given_a_fresh_entry_then_a_transaction_checking_the_cache_is_cold_is_cancelled(
    stores, clock, settings
):
    scraped(stores, "100005")
    with pytest.raises(Cancelled) as cancelled, transaction(stores.models) as tx:
        stores.cache.check_cold(tx, "100005", clock())
        stores.locks.take(tx, "lock", "100005", "a" * 32, clock())
    assert cancelled.value.failed_names() == ["cache"]
    # Once stale, the check passes
    clock.advance(settings.cache_ttl_seconds + 1)
    with transaction(stores.models) as tx:
        stores.cache.check_cold(tx, "100005", clock())
        stores.locks.take(tx, "lock", "100005", "a" * 32, clock())
    assert stores.locks.holder("100005") == "a" * 32


def test_entries_are_read_by_number_for_those_that_exist(stores):
    scraped(stores, "100006")
    scraped(stores, "100007", {"cliente": "Bruno"})
    entries = stores.cache.entries(["100006", "100007", "100008"])
    assert set(entries) == {"100006", "100007"}
    assert entries["100007"].data == {"cliente": "Bruno"}

"""The batch item (``batches.py``): quota, lease, chunk commits, outcomes counted once."""

from __future__ import annotations

import pytest

from chalicelib.adapters.dynamo.batches import QuotaExceeded
from chalicelib.adapters.dynamo.records import BatchRecord, OutcomeMark
from chalicelib.domain.batches import BatchOutcome

COUNTS = {"lines": 6, "valid": 5, "invalid": 1, "duplicates": 0}


def created(stores, batch_id: str, owner: str = "ana") -> BatchRecord:
    return stores.batches.create(batch_id, owner, f"batches/{owner}/{batch_id}.csv", "b.csv", 99)


def begin(stores, batch_id: str, owner: str = "ana") -> bool:
    key = f"batches/{owner}/{batch_id}.csv"
    return stores.batches.begin(batch_id, owner, key, COUNTS, daily_limit=10)


def test_a_batch_is_created_awaiting_its_upload_and_read_back_as_a_record(stores):
    batch = created(stores, "b1")
    assert isinstance(batch, BatchRecord) and batch.status == "awaiting_upload"
    assert stores.batches.get("b1") == batch
    assert stores.batches.get("nope") is None


def test_beginning_takes_the_owners_daily_lines_once_and_refuses_past_the_quota(stores):
    created(stores, "b1")
    assert begin(stores, "b1")
    assert not begin(stores, "b1")  # a repeated notification
    assert stores.batches.get("b1").status == "ingesting"
    created(stores, "b2")
    with pytest.raises(QuotaExceeded) as refused:
        begin(stores, "b2")
    assert (refused.value.used, refused.value.limit) == (6, 10)
    # ... and a rejected batch reads why
    assert stores.batches.reject("b2", "ana", "batches/ana/b2.csv", "too many lines")
    assert stores.batches.get("b2").error == "too many lines"


def test_only_the_lease_holder_commits_chunks_and_a_dead_holders_successor_is_careful(
    stores, clock
):
    created(stores, "b1")
    begin(stores, "b1")
    assert stores.batches.acquire("b1", "L1", 60) == (True, False)
    assert stores.batches.acquire("b1", "L2", 60) == (False, False)
    clock.advance(61)  # L1's invocation died
    assert stores.batches.acquire("b1", "L2", 60) == (True, True)
    counts = {"queued": 3, "cached": 2}
    assert not stores.batches.commit_chunk("b1", "L1", 0, 5, counts, last=True, lease_seconds=60)
    assert stores.batches.commit_chunk("b1", "L2", 0, 5, counts, last=True, lease_seconds=60)
    # The same chunk committed again (a redelivery) adds nothing
    assert not stores.batches.commit_chunk("b1", "L2", 0, 5, counts, last=True, lease_seconds=60)
    batch = stores.batches.get("b1")
    assert (batch.status, batch.offset, batch.queued, batch.cached) == ("running", 5, 3, 2)
    assert batch.lease_id is None
    assert stores.batches.complete("b1", "r.csv", "r.json")
    assert not stores.batches.complete("b1", "r.csv", "r.json")


def test_cached_outcomes_are_marked_once_and_a_careful_chunk_skips_those_a_task_counted(stores):
    created(stores, "b1")
    outcomes = {"1": (BatchOutcome.OK, ""), "2": (BatchOutcome.NOT_FOUND, "não existe")}
    assert stores.batches.mark_cached("b1", outcomes, careful=False) == outcomes
    marks = stores.batches.marks("b1", ["1", "2", "3"])
    assert set(marks) == {"1", "2"} and all(isinstance(m, OutcomeMark) for m in marks.values())
    assert marks["2"].message == "não existe" and marks["2"].source == "ingest"
    # A task counted number 3 meanwhile: a careful redo of the chunk leaves it alone
    stores.waits.count("b1", "3", BatchOutcome.FAILED, "falhou")
    again = stores.batches.mark_cached("b1", {"3": (BatchOutcome.OK, "")}, careful=True)
    assert again == {} and stores.batches.marks("b1", ["3"])["3"].source == "task"
    # Markers of numbers no longer cached are forgotten; those of tasks stay
    stores.batches.forget_uncounted("b1", ["1", "3"])
    assert set(stores.batches.marks("b1", ["1", "2", "3"])) == {"2", "3"}


def test_a_batch_is_cancelled_once_by_its_owner_or_anyone_with_no_owner_given(stores):
    created(stores, "b1")
    assert stores.batches.cancel("b1", "bruno") is None
    before = stores.batches.cancel("b1", "ana")
    assert before.status == "awaiting_upload"
    assert stores.batches.get("b1").status == "cancelled"
    assert stores.batches.cancel("b1", None) is None

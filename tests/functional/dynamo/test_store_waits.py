"""Batch waiters (``waits.py``): who waits for a task, and its outcome counted once each."""

from __future__ import annotations

from chalicelib.adapters.dynamo.waits import outcome_of
from chalicelib.domain.batches import BatchOutcome
from chalicelib.domain.fairshare import reserve


def batch(stores, batch_id: str) -> None:
    stores.batches.create(batch_id, "ana", f"batches/ana/{batch_id}.csv", "b.csv", 10)


def test_batches_join_an_active_task_one_waiter_item_each(stores):
    task = stores.tasks.create_or_join("600001", requested_by="bruno").task
    assert stores.waits.join(task.pk, "b1").waiters == 1
    assert stores.waits.join(task.pk, "b2").waiters == 2
    assert stores.tasks.get_task(task.pk).waiters == 2
    # A finished task takes no more waiters
    stores.runs.fail_waiting(stores.tasks.get_task(task.pk), message="x", reason="purged")
    assert stores.waits.join(task.pk, "b3") is None


def test_the_batch_that_created_a_task_does_not_wait_for_it_twice(stores):
    created = stores.batch_tasks.create_tasks(
        "b" * 32, "ana", ["600002"], careful=False, reserve=lambda n: reserve("ana", 0, 0, n)
    )
    task_id = created.tasks[0][0]
    assert stores.waits.join(task_id, "b" * 32).waiters == 0
    assert stores.waits.waiting_batches(stores.tasks.get_task(task_id)) == ["b" * 32]


def test_given_a_finished_task_then_each_waiting_batch_counts_its_outcome_exactly_once(
    stores, watch
):
    # Given a scrape two batches wait for, finished
    for batch_id in ("b1", "b2"):
        batch(stores, batch_id)
    task = stores.runs.start(stores.tasks.create_or_join("600003", requested_by="bruno").task.pk)
    for batch_id in ("b1", "b2"):
        stores.waits.join(task.pk, batch_id)
    finished = stores.runs.finish_success(stores.tasks.get_task(task.pk), {"c": 1}, 1.0)
    reads = watch("BatchGetItem")
    # When the outcome is counted, then counted again (a redelivery)
    assert outcome_of(finished) == (BatchOutcome.OK, "")
    assert sorted(stores.waits.count_outcomes(finished)) == ["b1", "b2"]
    assert sorted(stores.waits.count_outcomes(finished)) == ["b1", "b2"]
    # Then each batch counted it once; the waiters were read strongly consistent
    assert {stores.batches.get(b).succeeded for b in ("b1", "b2")} == {1}
    assert not stores.waits.count("b1", "600003", BatchOutcome.OK, "")
    assert len(reads.calls) == 2 and all(
        call["RequestItems"][t].get("ConsistentRead")
        for call in reads.calls
        for t in call["RequestItems"]
    )


def test_an_outcome_for_a_batch_that_expired_is_not_counted(stores):
    assert not stores.waits.count("gone", "600004", BatchOutcome.FAILED, "falhou")

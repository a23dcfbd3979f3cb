"""A task's run (``runs.py``): attempts, progress, and every way a task ends, each once."""

from __future__ import annotations

from chalicelib.adapters.dynamo.records import TaskRecord
from chalicelib.domain.tasks import TaskStatus

RECORD = {"cliente": "Ana", "historico": []}
CONFLICT = [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * 3


def started(stores, numero: str, user: str = "ana", lane: str = "standard") -> TaskRecord:
    task = stores.tasks.create_or_join(numero, requested_by=user, lane=lane).task
    return stores.runs.start(task.pk)


def test_given_a_running_task_then_a_second_start_waits_until_it_has_been_silent_too_long(
    stores, clock, settings
):
    task = started(stores, "500001")
    assert task.status == "STARTED" and task.attempts == 1 and task.queue is None
    assert stores.runs.start(task.pk) is None
    clock.advance(settings.scrape_timeout_seconds + 1)
    again = stores.runs.start(task.pk)
    assert again.attempts == 2


def test_progress_returns_the_task_as_written_with_its_subscribers(stores):
    task = started(stores, "500002")
    stores.connections.subscribe(task.pk, "c1")
    written = stores.runs.record_progress(task.pk, "detail", 40)
    assert (written.status, written.step, written.progress) == ("PROGRESS", "detail", 40)
    assert written.subscribers == {"c1"}


def test_given_a_started_task_when_it_succeeds_then_one_four_item_transaction_does_it_all(
    stores, watch
):
    task = started(stores, "500003")
    sizes = watch("TransactWriteItems")
    finished = stores.runs.finish_success(task, RECORD, 12.0)
    # The task, the lock's release, the cached record and the statistics: four items
    assert [len(call["TransactItems"]) for call in sizes.calls] == [4]
    assert finished.status == TaskStatus.SUCCESS.value and finished.result == RECORD
    assert finished.queue_group is None and finished.error is None
    assert stores.tasks.get_task(task.pk).result == RECORD
    assert stores.cache.fresh_record("500003").data == RECORD
    assert stores.locks.holder("500003") is None
    assert stores.stats.mean_scrape_seconds() == 12.0
    # A duplicate delivery finishes nothing
    assert stores.runs.finish_success(task, RECORD, 12.0) is None
    assert stores.runs.record_progress(task.pk, "late", 50) is None


def test_given_batches_that_joined_while_it_ran_then_the_finish_reads_them_back_and_stays_small(
    stores, watch
):
    # Given a running task, and two batches that joined it after the worker read it
    task = started(stores, "500004")
    stores.waits.join(task.pk, "b1")
    stores.waits.join(task.pk, "b2")
    sizes = watch("TransactWriteItems")
    # When the worker finishes it with its stale copy
    finished = stores.runs.finish_failure(
        task, message="falhou", detail="portal 500", reason="portal_error", negative=False
    )
    # Then the finish was tried again with the batches read back, never with more items
    assert finished.status == "FAILURE" and finished.waiters == 2
    assert max(len(call["TransactItems"]) for call in sizes.calls) <= 4
    assert sorted(stores.waits.waiting_batches(finished)) == ["b1", "b2"]


def test_given_a_transaction_conflict_when_finishing_then_it_is_tried_again_once_through(
    stores, watch, fail_next
):
    task = started(stores, "500005")
    calls = watch("TransactWriteItems")
    fail_next("TransactWriteItems", "TransactionCanceledException", CancellationReasons=CONFLICT)
    finished = stores.runs.finish_success(task, RECORD, 3.0)
    assert finished is not None and stores.tasks.get_task(task.pk).status == "SUCCESS"
    assert len(calls.calls) == 2
    assert stores.stats.mean_scrape_seconds() == 3.0  # counted once


def test_given_a_lock_a_newer_task_took_when_the_old_one_finishes_then_the_lock_is_kept(
    stores, clock, settings
):
    old = started(stores, "500006")
    clock.advance(settings.lock_ttl_seconds + 1)  # its lock ran out; the OS is asked again
    newer = stores.tasks.create_or_join("500006", requested_by="bruno").task
    assert stores.runs.finish_success(old, RECORD, 1.0) is not None
    assert stores.locks.holder("500006") == newer.pk


def test_a_not_found_failure_caches_the_answer_and_frees_the_os(stores):
    task = started(stores, "500007")
    failed = stores.runs.finish_failure(
        task, message="não existe", detail="404", reason="not_found", negative=True
    )
    assert (failed.error, failed.error_detail, failed.error_reason) == (
        "não existe",
        "404",
        "not_found",
    )
    assert stores.cache.fresh_record("500007").outcome == "not_found"
    assert stores.locks.holder("500007") is None


def test_a_retry_waits_in_the_retry_partition_and_keeps_why(stores, clock):
    task = started(stores, "500008")
    retrying = stores.runs.mark_retry(
        task, message="de novo", detail="portal 500", reason="portal_error", delay_seconds=60
    )
    assert retrying.status == "RETRY" and retrying.queue_group == "retry"
    assert retrying.queue_order == clock() + 60 and retrying.error_detail == "portal 500"


def test_given_a_waiting_batch_task_its_owner_cancels_it_unless_someone_else_asked_for_it(stores):
    alone = stores.tasks.create_or_join("500011", requested_by="ana", lane="batch").task
    shared = stores.tasks.create_or_join("500012", requested_by="ana", lane="batch").task
    stores.tasks.create_or_join("500012", requested_by="bruno")
    args = {"owner": "ana", "message": "cancelado", "reason": "cancelled"}
    assert stores.runs.cancel_waiting(alone, **args)
    assert not stores.runs.cancel_waiting(shared, **args)
    assert stores.tasks.get_task(alone.pk).error_reason == "cancelled"
    assert stores.locks.holder("500011") is None
    assert stores.tasks.get_task(shared.pk).status == "PENDING"
    assert stores.locks.holder("500012") == shared.pk


def test_ops_fail_a_waiting_or_retrying_task_but_leave_a_running_one(stores):
    waiting = stores.tasks.create_or_join("500021", requested_by="ana").task
    running = started(stores, "500022")
    args = {"message": "descartada", "reason": "purged"}
    failed = stores.runs.fail_waiting(waiting, **args)
    assert failed.status == "FAILURE" and failed.error_reason == "purged"
    assert stores.locks.holder("500021") is None
    assert stores.runs.fail_waiting(running, **args) is None
    assert stores.tasks.get_task(running.pk).status == "STARTED"


def test_an_abandoned_task_fails_and_frees_its_os(stores):
    task = stores.tasks.create_or_join("500031", requested_by="ana").task
    abandoned = stores.runs.abandon(task, "fila indisponível")
    assert abandoned.error_reason == "enqueue_failed"
    assert stores.locks.holder("500031") is None

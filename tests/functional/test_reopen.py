"""``Reopener.reopen``: a failed task made runnable again for ops' redrive, never a second
scrape."""

from __future__ import annotations

import json

import pytest

import app as raspa_app
from chalicelib.adapters.dynamo.models import lock_key
from chalicelib.adapters.dynamo.reopen import Reopen
from chalicelib.adapters.queue import ScrapeQueue
from chalicelib.domain.lanes import Lane
from chalicelib.domain.tasks import TaskStatus
from chalicelib.errors import LayoutChangedError

RECORD = {"situacao": "Aberta", "cliente": "Ana", "historico": []}


def enqueue(client, numero: str = "123456") -> str:
    response = client.http.post(f"/buscar-os-async/{numero}")
    assert response.status_code == 202, response.body
    return json.loads(response.body)["task_id"]


def drain(driver, limit: int = 20) -> list[str]:
    return driver.drain(limit)


@pytest.fixture
def failed_task(client, aws, driver, scripted) -> str:
    """A task that failed at once (layout changed) and whose message is in the DLQ."""
    scripted(LayoutChangedError("http://portal/os/123456", "cliente"))
    task_id = enqueue(client)
    drain(driver)
    assert raspa_app.services().store.tasks.get_task(task_id).status == "FAILURE"
    assert aws.queue_depth(aws.dlq_url) == 1
    return task_id


def lock_holder(numero: str = "123456") -> str | None:
    Lock = raspa_app.services().models.Lock
    try:
        return Lock.get(lock_key(numero), consistent_read=True).task_id
    except Lock.DoesNotExist:
        return None


def test_given_a_failed_task_when_reopened_then_it_waits_again_with_no_attempts_and_its_os_locked(
    failed_task,
):
    store = raspa_app.services().store
    outcome = store.reopener.reopen(failed_task, "vip")
    assert outcome.result is Reopen.REOPENED
    task = store.tasks.get_task(failed_task)
    assert task.status == "PENDING" and task.attempts == 0 and task.step == "queued"
    assert task.error is None and task.error_reason is None and task.finished_at is None
    assert task.queue == "vip" and task.queued_at is not None
    assert lock_holder() == failed_task
    assert store.queue_index.ahead(task) == 0
    # Reopening again (a second letter of the same task) leaves it as it is.
    assert store.reopener.reopen(failed_task, "batch").result is Reopen.ACTIVE
    assert store.tasks.get_task(failed_task).queue == "vip"
    with pytest.raises(ValueError, match="lane"):
        store.reopener.reopen(failed_task, "express")


def test_given_a_failed_task_when_its_message_comes_back_then_it_runs_only_if_reopened(
    failed_task, aws, driver, scripted
):
    scraper = scripted(RECORD)
    queue = ScrapeQueue(aws.sqs, aws.queue_url)
    # Without reopening, a wake-up naming the FAILURE task finds nothing to run.
    queue.send(failed_task, "123456", lane=Lane.STANDARD)
    assert driver.deliver_once() == "ok"
    assert scraper.calls == []
    assert raspa_app.services().store.tasks.get_task(failed_task).status == "FAILURE"
    # Reopened, it waits in the queue again: a wake-up scrapes it once and it succeeds.
    reopener = raspa_app.services().store.reopener
    assert reopener.reopen(failed_task, "standard").result is Reopen.REOPENED
    queue.send(failed_task, "123456", lane=Lane.STANDARD)
    assert "ok" in drain(driver)
    task = raspa_app.services().store.tasks.get_task(failed_task)
    assert task.status == "SUCCESS" and task.attempts == 1
    assert scraper.calls == ["123456"]
    assert lock_holder() is None


def test_given_a_newer_active_task_for_the_os_when_reopened_then_the_old_one_stays_failed(
    failed_task, client
):
    newer = enqueue(client)  # asked again: a new task holds the OS
    outcome = raspa_app.services().store.reopener.reopen(failed_task, "standard")
    assert outcome.result is Reopen.SUPERSEDED and outcome.holder == newer
    assert raspa_app.services().store.tasks.get_task(failed_task).status == "FAILURE"
    assert lock_holder() == newer


def test_given_the_os_was_scraped_since_when_reopened_then_the_task_stays_failed(
    failed_task, client, driver, scripted
):
    scripted(RECORD)
    newer = enqueue(client)
    drain(driver)
    assert raspa_app.services().store.tasks.get_task(newer).status == "SUCCESS"
    outcome = raspa_app.services().store.reopener.reopen(failed_task, "standard")
    assert outcome.result is Reopen.CACHED
    assert raspa_app.services().store.tasks.get_task(failed_task).status == "FAILURE"
    assert lock_holder() is None


def test_given_a_successful_a_waiting_or_no_task_when_reopened_then_nothing_changes(
    client, driver, scripted
):
    store = raspa_app.services().store
    scripted(RECORD)
    done = enqueue(client, "111111")
    drain(driver)
    waiting = enqueue(client, "222222")
    assert store.reopener.reopen(done, "standard").result is Reopen.DONE
    assert store.reopener.reopen(waiting, "standard").result is Reopen.ACTIVE
    assert store.tasks.get_task(waiting).status == TaskStatus.PENDING.value
    assert store.reopener.reopen("0" * 32, "standard").result is Reopen.MISSING

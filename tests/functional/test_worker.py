"""The SQS worker through the Chalice handler, against moto's SQS and DynamoDB."""

from __future__ import annotations

import json
import time

import pytest

import app as raspa_app
from chalicelib.domain.lanes import Lane
from chalicelib.domain.tasks import TaskStatus
from chalicelib.errors import (
    LayoutChangedError,
    LoginFailedError,
    OsNotFoundError,
    TransientScrapeError,
)

RECORD = {"situacao": "Aberta", "cliente": "Ana", "historico": [{"evento": "Aberta"}]}


def enqueue(client, numero: str = "123456") -> str:
    response = client.http.post(f"/buscar-os-async/{numero}")
    assert response.status_code == 202
    return json.loads(response.body)["task_id"]


def status(client, task_id: str) -> dict:
    return json.loads(client.http.get(f"/scraping-status/{task_id}").body)


def drain(driver, limit: int = 20) -> list[str]:
    return driver.drain(limit)


def test_successful_scrape_stores_record_with_ttl_and_finishes_task(client, aws, driver, scripted):
    scraper = scripted(RECORD)
    task_id = enqueue(client)
    assert drain(driver) == ["ok"]
    body = status(client, task_id)
    assert body["status"] == "SUCCESS" and body["progress"] == 100
    assert body["result"]["cliente"] == "Ana" and body["attempts"] == 1
    item = raspa_app.services().store.cache.fresh_record("123456")
    ttl = item.expires_at.timestamp() - float(item.scraped_at)
    assert abs(ttl - aws.settings.cache_ttl_seconds) < 2
    assert scraper.calls == ["123456"]
    found = json.loads(client.http.post("/buscar-os-async/123456").body)
    assert found["status"] == "found" and found["data"]["historico"] == [{"evento": "Aberta"}]


def test_progress_is_recorded_while_scraping(client, aws, driver, scripted, monkeypatch):
    seen = []
    runs = raspa_app.services().store.runs
    original = runs.record_progress
    monkeypatch.setattr(
        runs,
        "record_progress",
        lambda task_id, step, pct: (seen.append((step, pct)), original(task_id, step, pct))[1],
    )
    scripted(RECORD)
    enqueue(client)
    drain(driver)
    assert seen == [("detail", 40), ("history", 80), ("save", 95)]


def test_transient_error_marks_retry_and_delays_redelivery_by_backoff(
    client, aws, driver, scripted
):
    scripted(TransientScrapeError("portal answered 500"))
    task_id = enqueue(client)
    assert driver.deliver_once() == "error"
    body = status(client, task_id)
    assert body["status"] == "RETRY" and body["attempts"] == 1
    assert body["error"]["reason"] == "transient" and "nova tentativa" in body["result"]
    assert "500" in raspa_app.services().store.tasks.get_task(task_id).error_detail  # for ops only
    assert driver.receive() == []  # invisible for the 60 s back-off
    assert aws.queue_depth() == 1


def test_retry_after_longer_than_backoff_is_honoured(client, aws, driver, scripted, monkeypatch):
    delays = []
    queue = raspa_app.services().queue
    monkeypatch.setattr(queue, "delay_redelivery", lambda handle, seconds: delays.append(seconds))
    scripted(TransientScrapeError("503", retry_after=600))
    enqueue(client)
    driver.deliver_once()
    assert delays == [600]


def test_four_failed_attempts_fail_the_task_and_send_the_message_to_the_dlq(
    client, aws, driver, scripted, monkeypatch
):
    scraper = scripted(TransientScrapeError("connection refused"))
    aws.reconfigure(retry_base_delay_seconds=0)
    task_id = enqueue(client)
    drain(driver)
    body = status(client, task_id)
    assert body["status"] == "FAILURE" and body["attempts"] == 4
    assert body["result"] == "o portal ficou indisponível em 4 tentativas; tente mais tarde"
    assert "after 4 attempts" in raspa_app.services().store.tasks.get_task(task_id).error_detail
    assert len(scraper.calls) == 4
    assert aws.queue_depth() == 0
    assert aws.queue_depth(aws.dlq_url) == 1
    # The OS is free again: a new lookup creates a new task.
    assert enqueue(client) != task_id


@pytest.mark.parametrize(
    "error",
    [LayoutChangedError("http://portal/os/1", "cliente"), LoginFailedError("login refused")],
)
def test_permanent_error_fails_at_once_and_goes_to_the_dlq(client, aws, driver, scripted, error):
    scraper = scripted(error)
    task_id = enqueue(client)
    drain(driver)
    body = status(client, task_id)
    assert body["status"] == "FAILURE" and body["attempts"] == 1
    assert body["error"]["reason"] == error.reason
    assert len(scraper.calls) == 1
    assert aws.queue_depth(aws.dlq_url) == 1


def test_not_found_fails_without_retry_and_is_cached_negatively(client, aws, driver, scripted):
    scraper = scripted(OsNotFoundError("123456"))
    task_id = enqueue(client)
    assert drain(driver) == ["ok"]
    body = status(client, task_id)
    assert body["status"] == "FAILURE" and body["error"]["reason"] == "not_found"
    assert aws.queue_depth(aws.dlq_url) == 0
    response = client.http.post("/buscar-os-async/123456")
    assert response.status_code == 404
    assert json.loads(response.body)["status"] == "not_found"
    assert len(scraper.calls) == 1


def test_redelivered_message_of_a_finished_task_changes_nothing(client, aws, driver, scripted):
    scraper = scripted(RECORD)
    enqueue(client)
    message = driver.receive()[0]
    from tests.support.sqs import lambda_event

    event = lambda_event([message], driver.arn)
    client.lambda_.invoke("scrape_worker", event)
    before = raspa_app.services().store.cache.any_record("123456").scraped_at
    client.lambda_.invoke("scrape_worker", event)  # at-least-once: the same message again
    assert raspa_app.services().store.cache.any_record("123456").scraped_at == before
    assert len(scraper.calls) == 1


def test_a_task_whose_last_attempt_died_is_failed_on_the_next_delivery(
    client, aws, driver, scripted
):
    from tests.support.sqs import lambda_event

    # Given a task whose fourth attempt's worker died mid-scrape (its message stays in
    # flight, claimed for that task)
    scraper = scripted(RuntimeError("the container was killed"))
    task_id = enqueue(client)
    message = driver.receive()[0]
    with pytest.raises(RuntimeError):
        client.lambda_.invoke("scrape_worker", lambda_event([message], driver.arn))
    models = raspa_app.services().models
    silent_since = time.time() - aws.settings.scrape_timeout_seconds - 1
    models.Task(task_id).update(
        actions=[models.Task.attempts.set(4), models.Task.updated_at.set(silent_since)]
    )
    # When the message comes back after its visibility timeout
    aws.sqs.change_message_visibility(
        QueueUrl=aws.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    assert driver.deliver_once() == "ok"
    # Then the task fails as worker_died, without a fifth scrape, and its letter is in the DLQ
    body = status(client, task_id)
    assert body["status"] == "FAILURE" and body["error"]["reason"] == "worker_died"
    assert scraper.calls == ["123456"]
    assert aws.queue_depth(aws.dlq_url) == 1


def test_a_second_message_for_a_task_being_scraped_starts_no_second_scrape(
    client, aws, driver, scripted
):
    # Given a task whose scrape is running (it reported progress a moment ago)
    scraper = scripted(RECORD)
    task_id = enqueue(client)
    models = raspa_app.services().models
    models.Task.get(task_id).update(
        actions=[models.Task.status.set("PROGRESS"), models.Task.attempts.set(1)]
    )
    # When its message is delivered (a duplicate: the task moved to an earlier lane)
    outcome = driver.deliver_once()
    # Then nothing is scraped and the running attempt keeps the task
    assert outcome == "ok" and scraper.calls == []
    assert status(client, task_id)["status"] == "PROGRESS"


def test_malformed_message_is_sent_towards_the_dlq(client, aws, driver, scripted):
    scripted(RECORD)
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody="not json")
    assert drain(driver) == ["error"] * aws.settings.max_receive_count
    assert aws.queue_depth(aws.dlq_url) == 1


def test_status_reports_every_state_the_task_goes_through(client, aws, driver, scripted):
    states = []
    store = raspa_app.services().store

    class Watching:
        def scrape(self, numero, on_progress=None, deadline=None):
            states.append(status(client, task_id)["status"])
            on_progress("detail", 40)
            states.append(status(client, task_id)["status"])
            return {"numero": numero}

    scripted(RECORD)
    aws.reconfigure(scraper=Watching())
    task_id = enqueue(client)
    states.append(status(client, task_id)["status"])
    drain(driver)
    states.append(status(client, task_id)["status"])
    assert states == ["PENDING", "STARTED", "PROGRESS", "SUCCESS"]
    assert store.tasks.get_task(task_id).status == TaskStatus.SUCCESS.value


def test_an_unreadable_portal_secret_is_retried_not_crashed(client, aws, driver):
    aws.reconfigure(portal_secret_name="no-such-secret")
    task_id = enqueue(client)
    assert driver.deliver_once() == "error"
    body = status(client, task_id)
    assert body["status"] == "RETRY"
    assert "no-such-secret" not in body["result"] and "password" not in body["result"]
    detail = raspa_app.services().store.tasks.get_task(task_id).error_detail
    assert "no-such-secret" in detail and "password" not in detail


def test_a_wakeup_that_finds_nothing_looks_once_more_then_is_dropped(client, aws, driver, scripted):
    from chalicelib.adapters.queue import ScrapeQueue
    from chalicelib.services.worker import RESCAN_SECONDS

    scraper = scripted(RECORD)
    queue = ScrapeQueue(aws.sqs, aws.queue_url)

    def delayed() -> int:
        attrs = aws.sqs.get_queue_attributes(
            QueueUrl=aws.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessagesDelayed"])

    # Given a wake-up naming a task that already ran (another wake-up took it)
    task_id = enqueue(client)
    assert drain(driver) == ["ok"]
    queue.send(task_id, "123456", lane=Lane.STANDARD)
    # When it finds nothing to run, it sends one plain wake-up a moment later (the queue
    # index lags its table: a task sent meanwhile may not show yet)
    assert driver.deliver_once() == "ok" and delayed() == 1
    time.sleep(RESCAN_SECONDS + 0.2)
    # Then that plain wake-up finds nothing either, and nothing more is sent
    assert drain(driver) == ["ok"] and delayed() == 0 and aws.queue_depth() == 0
    assert scraper.calls == ["123456"]

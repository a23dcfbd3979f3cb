"""The HTTP API through chalice.test.Client against moto: the user's contract, kept."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

import app as raspa_app
from chalicelib.domain.tasks import TaskStatus


def post(client, numero: str, query: str = ""):
    response = client.http.post(f"/buscar-os-async/{numero}{query}")
    return response.status_code, json.loads(response.body)


def get(client, path: str):
    response = client.http.get(path)
    return response.status_code, json.loads(response.body)


def test_health_answers_ok_without_touching_aws(client):
    status, body = get(client, "/health")
    assert status == 200 and body["status"] == "ok"


@pytest.mark.parametrize("numero", ["abc", "12a45", "1234567890123", "-1", "12 34"])
def test_invalid_number_is_400_naming_the_rule(client, aws, numero):
    status, body = post(client, numero)
    assert status == 400
    assert body["error"] == "invalid_os_number"
    assert body["rule"] and body["message"]
    assert aws.queue_depth() == 0


def test_unknown_os_is_queued_once_with_position_and_estimate(client, aws):
    status, body = post(client, "123456")
    assert status == 202
    assert body["status"] == "queued"
    assert body["task_id"] and body["position"] == 0
    assert body["estimated_time"] == aws.settings.default_scrape_seconds
    assert "fila" in body["message"]
    assert aws.queue_depth() == 1


def test_second_request_for_an_active_os_joins_without_enqueuing(client, aws):
    _, first = post(client, "123456")
    status, second = post(client, "123456")
    assert status == 202
    assert second["task_id"] == first["task_id"]
    assert second["message"] == "OS já está sendo processada"
    assert aws.queue_depth() == 1


def test_positions_count_tasks_ahead_and_estimates_use_concurrency_three(client):
    bodies = [post(client, str(n))[1] for n in range(200001, 200006)]
    assert [b["position"] for b in bodies] == [0, 1, 2, 3, 4]
    mean = raspa_app.services().settings.default_scrape_seconds
    assert [b["estimated_time"] for b in bodies] == [mean, mean, mean, 2 * mean, 2 * mean]
    _, joined = post(client, "200005")
    assert joined["position"] == 4


def test_estimate_comes_from_measured_scrape_durations(client, aws):
    Stats = raspa_app.services().models.Stats
    stats = Stats(f"stats#{time.strftime('%Y%m%d%H', time.gmtime())}")
    stats.update(
        actions=[
            Stats.scrapes.add(4),
            Stats.seconds.add(26.0),
            Stats.kind.set("stats"),
        ]
    )
    _, body = post(client, "300001")
    assert body["estimated_time"] == 7  # ceil(26 / 4)


def test_status_of_unknown_task_is_404_not_pending(client):
    status, body = get(client, "/scraping-status/does-not-exist")
    assert status == 404 and body["error"] == "task_not_found"
    status, _ = get(client, "/scraping-status/os%23123456")
    assert status == 404


def test_status_of_a_queued_task_is_pending_with_position(client):
    _, queued = post(client, "123456")
    status, body = get(client, f"/scraping-status/{queued['task_id']}")
    assert status == 200
    assert body["status"] == "PENDING" and body["progress"] == 0
    assert body["position"] == 0 and body["result"] is None


def _store_record(numero: str, *, expires_in: float, outcome: str = "ok") -> None:
    models = raspa_app.services().models
    now = time.time()
    models.OsRecord(
        numero,
        outcome=outcome,
        data={"numero": numero, "cliente": "Ana"},
        scraped_at=now - 10,
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
    ).save()


def test_fresh_cached_os_is_found_at_once_without_queueing(client, aws):
    _store_record("123456", expires_in=3600)
    status, body = post(client, "123456")
    assert status == 200
    assert body["status"] == "found"
    assert body["data"]["cliente"] == "Ana"
    assert aws.queue_depth() == 0


def test_expired_cache_entry_is_treated_as_absent(client, aws):
    _store_record("123456", expires_in=-5)
    status, body = post(client, "123456")
    assert status == 202 and body["status"] == "queued"
    assert aws.queue_depth() == 1


def test_refresh_true_skips_a_fresh_cache_entry(client, aws):
    _store_record("123456", expires_in=3600)
    status, body = post(client, "123456", "?refresh=true")
    assert status == 202 and body["status"] == "queued"
    assert aws.queue_depth() == 1


def test_refresh_with_a_bad_value_is_400(client):
    status, body = post(client, "123456", "?refresh=maybe")
    assert status == 400 and body["error"] == "invalid_parameter"


def test_negative_cache_answers_not_found_without_scraping(client, aws):
    _store_record("999999", expires_in=600, outcome="not_found")
    status, body = post(client, "999999")
    assert status == 404
    assert body["status"] == "not_found" and "não encontrada" in body["message"]
    assert aws.queue_depth() == 0


def test_get_os_returns_record_with_scraped_at_or_404(client):
    status, body = get(client, "/os/123456")
    assert status == 404 and body["error"] == "os_not_stored"
    _store_record("123456", expires_in=3600)
    status, body = get(client, "/os/123456")
    assert status == 200
    assert body["data"]["cliente"] == "Ana" and body["scraped_at"].endswith("Z")
    status, body = get(client, "/os/abc")
    assert status == 400


def test_queue_failure_answers_503_and_frees_the_os(client, aws, monkeypatch):
    queue = raspa_app.services().queue

    def broken(**kwargs):
        raise ClientError(
            {"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessage"
        )

    monkeypatch.setattr(queue.client, "send_message", broken)
    status, body = post(client, "123456")
    assert status == 503 and body["error"] == "backend_unavailable"
    Task = raspa_app.services().models.Task
    task = Task.scan(Task.kind == "task").next()
    assert task.status == TaskStatus.FAILURE.value
    monkeypatch.undo()
    status, body = post(client, "123456")
    assert status == 202 and body["task_id"] != task.pk

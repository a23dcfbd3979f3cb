"""The whole pipeline against the real demo portal on loopback, SQS and DynamoDB in moto.

API (chalice.test.Client) → DynamoDB transaction → SQS → worker (driven like Lambda's
event source, 3 at a time) → portal → DynamoDB → status.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Iterator

import pytest
from chalice.test import Client

from chalicelib.domain.identity import Identity

pytestmark = pytest.mark.integration
ANA = Identity("ana")


@pytest.fixture
def api(stack) -> Iterator[Client]:
    from tests.functional.conftest import AuthedHTTP

    with Client(stack.app.app) as client:
        client._http_client = AuthedHTTP(client.http, stack.headers("ana"))
        yield client


def lookup(api: Client, numero: str) -> tuple[int, dict[str, Any]]:
    response = api.http.post(f"/buscar-os-async/{numero}")
    return response.status_code, json.loads(response.body)


def wait_terminal(api: Client, task_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = json.loads(api.http.get(f"/scraping-status/{task_id}").body)
        if body["status"] in ("SUCCESS", "FAILURE"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish: {body}")


def test_full_scrape_stores_every_field_and_every_history_page(stack, api):
    from local.portal import data as portal_data

    status, queued = lookup(api, "123456")
    assert status == 202
    with stack.worker():
        done = wait_terminal(api, queued["task_id"])
    assert done["status"] == "SUCCESS", done
    result = done["result"]
    expected = portal_data.record_for(123456)
    assert result["numero"] == "123456"
    for field in (
        "situacao",
        "tipo_servico",
        "cliente",
        "endereco",
        "data_abertura",
        "prazo",
        "tecnico",
        "descricao",
    ):
        assert result[field], field
    assert result["cliente"] == expected["cliente"]
    assert len(result["historico"]) == len(expected["historico"])
    status, found = lookup(api, "123456")
    assert status == 200 and found["data"] == result


def test_session_is_reused_across_scrapes(stack, api):
    tasks = [lookup(api, str(n))[1]["task_id"] for n in range(300001, 300007)]
    with stack.worker(concurrency=1):
        results = [wait_terminal(api, t) for t in tasks]
    assert {r["status"] for r in results} == {"SUCCESS"}
    assert stack.portal_stats()["logins"] == 1


def test_expired_session_logs_in_again(stack, api):
    stack.faults(session_ttl_requests=3)
    tasks = [lookup(api, str(n))[1]["task_id"] for n in range(400001, 400005)]
    with stack.worker(concurrency=1):
        results = [wait_terminal(api, t) for t in tasks]
    assert {r["status"] for r in results} == {"SUCCESS"}
    assert stack.portal_stats()["logins"] >= 2


def test_portal_errors_are_retried_three_times_then_the_message_is_dead_lettered(stack, api):
    stack.faults(error_rate=1.0)
    _, queued = lookup(api, "500001")
    with stack.worker():
        done = wait_terminal(api, queued["task_id"])
        deadline = time.monotonic() + 10
        while stack.depth(stack.dlq_url) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert done["status"] == "FAILURE" and done["attempts"] == 4
    assert "4 tentativas" in done["result"] and done["error"]["reason"] == "transient"
    assert stack.depth(stack.dlq_url) == 1 and stack.depth(stack.queue_url) == 0
    by_kind = stack.portal_stats()["by_kind"]
    assert by_kind["detail"] + by_kind["login"] >= 4


def test_number_outside_the_portal_is_not_found_and_cached_negatively(stack, api):
    _, queued = lookup(api, "950000")
    with stack.worker():
        done = wait_terminal(api, queued["task_id"])
    assert done["status"] == "FAILURE" and done["error"]["reason"] == "not_found"
    status, body = lookup(api, "950000")
    assert status == 404 and body["status"] == "not_found"
    assert stack.depth(stack.dlq_url) == 0


def test_layout_drift_fails_at_once_without_retries(stack, api):
    stack.faults(layout="drifted")
    _, queued = lookup(api, "600001")
    with stack.worker():
        done = wait_terminal(api, queued["task_id"])
    assert done["status"] == "FAILURE" and done["attempts"] == 1
    assert done["error"]["reason"] == "layout_changed"
    assert stack.portal_stats()["by_kind"]["detail"] == 1


def test_fifty_concurrent_requests_for_one_os_make_one_task_one_message_one_scrape(stack, api):
    lookup_service = stack.services.lookup
    # Warm the clients first (a full lookup of another OS), as a warm container has them.
    lookup_service.lookup("700000", identity=ANA)
    barrier = threading.Barrier(50)
    answers: list[Any] = []

    def ask() -> None:
        barrier.wait()
        answers.append(lookup_service.lookup("700001", identity=ANA))

    threads = [threading.Thread(target=ask) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 50
    task_ids = {a.task.task_id for a in answers}
    assert len(task_ids) == 1
    assert stack.depth(stack.queue_url) == 2  # the warm-up's message and this OS's one
    models = stack.services.models
    tasks = list(models.Task.scan(models.Task.numero_os == "700001"))
    assert len(tasks) == 1
    with stack.worker():
        done = wait_terminal(api, task_ids.pop())
    assert done["status"] == "SUCCESS"
    assert stack.portal_stats()["by_kind"]["detail"] == 2  # one per OS: 700000 and 700001

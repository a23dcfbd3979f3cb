"""Each channel's rendering of a task, from its domain value: the HTTP bodies
(chalicelib/http/views.py), the WebSocket messages (chalicelib/services/wsviews.py) and
the operators' view (chalicelib/services/opsviews.py). The JSON is the clients' contract:
field names, values and their order."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chalicelib.domain.outcome import Joining, LookupOutcome, TaskOutcome
from chalicelib.domain.records import CacheEntry, TaskRecord
from chalicelib.domain.tasks import TaskStatus
from chalicelib.http.views import JOINING_MESSAGES, lookup_answer, record_body, status_body
from chalicelib.services import opsviews, wsviews

TASK = "0123456789abcdef" * 2
RECORD = {"cliente": "Ana"}
HEAD = '{"task_id":"' + TASK + '","numero_os":"123456",'
SCRAPED_AT = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def task(status: TaskStatus, **fields: object) -> TaskRecord:
    base: dict[str, object] = {"step": "detail", "progress": 40, "attempts": 1}
    return TaskRecord(pk=TASK, numero_os="123456", status=status.value, **{**base, **fields})


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def failed() -> TaskOutcome:
    return TaskOutcome.of(
        task(TaskStatus.FAILURE, error="OS 123456 não encontrada no portal", error_reason="x")
    )


# ------------------------------------------------------------------ HTTP
def test_given_a_waiting_task_when_its_status_is_rendered_then_it_has_position_and_estimate():
    outcome = TaskOutcome.of(
        task(TaskStatus.PENDING, step="queued", progress=0, attempts=0),
        position=3,
        estimated_time=20,
    )
    assert dumps(status_body(outcome)) == (
        HEAD + '"status":"PENDING","progress":0,"step":"queued","attempts":0,"result":null,'
        '"position":3,"estimated_time":20}'
    )


def test_given_a_succeeded_task_when_its_status_is_rendered_then_the_result_is_the_record():
    outcome = TaskOutcome.of(task(TaskStatus.SUCCESS, progress=100, step="save", result=RECORD))
    assert dumps(status_body(outcome)) == (
        HEAD + '"status":"SUCCESS","progress":100,"step":"save","attempts":1,'
        '"result":{"cliente":"Ana"}}'
    )


@pytest.mark.parametrize("status", [TaskStatus.FAILURE, TaskStatus.RETRY])
def test_given_a_failing_task_when_its_status_is_rendered_then_result_and_error_carry_the_message(
    status,
):
    outcome = TaskOutcome.of(task(status, error="tente de novo", error_reason="transient"))
    body = status_body(outcome)
    assert body["status"] == status.value and body["result"] == "tente de novo"
    assert body["error"] == {"reason": "transient", "message": "tente de novo"}
    assert "position" not in body


def test_given_a_running_task_when_its_status_is_rendered_then_it_has_no_result_nor_place():
    body = status_body(TaskOutcome.of(task(TaskStatus.PROGRESS)))
    assert body["result"] is None and body["progress"] == 40
    assert not {"error", "position", "estimated_time"} & set(body)


@pytest.mark.parametrize("joining", list(Joining))
def test_given_a_queued_lookup_when_answered_then_it_is_202_with_the_task_to_follow(joining):
    queued = TaskOutcome.of(task(TaskStatus.STARTED), position=0, estimated_time=10)
    answer = lookup_answer(LookupOutcome("123456", task=queued, joining=joining))
    assert answer.http_status == 202
    assert dumps(answer.body) == (
        '{"status":"queued","numero_os":"123456","task_id":"' + TASK + '",'
        '"task_status":"STARTED","position":0,"estimated_time":10,'
        '"message":' + dumps(JOINING_MESSAGES[joining]) + "}"
    )


def test_given_the_ways_of_getting_a_task_then_each_has_its_portuguese_message():
    assert JOINING_MESSAGES[Joining.CREATED] == "OS adicionada à fila de processamento"
    assert JOINING_MESSAGES[Joining.JOINED] == "OS já está sendo processada"
    assert JOINING_MESSAGES[Joining.JOINED_IN_PLACE].startswith("OS já está na fila; seu limite")


def test_given_a_cached_record_when_a_lookup_is_answered_then_it_is_200_found():
    entry = CacheEntry("123456", "ok", RECORD, SCRAPED_AT, TASK)
    answer = lookup_answer(LookupOutcome("123456", cached=entry))
    assert answer.http_status == 200
    assert dumps(answer.body) == (
        '{"status":"found","numero_os":"123456","data":{"cliente":"Ana"},'
        '"scraped_at":"2023-11-14T22:13:20Z"}'
    )


def test_given_a_cached_not_found_answer_when_a_lookup_is_answered_then_it_is_404():
    entry = CacheEntry("999999", "not_found", None, SCRAPED_AT, TASK)
    answer = lookup_answer(LookupOutcome("999999", cached=entry))
    assert answer.http_status == 404
    assert dumps(answer.body) == (
        '{"status":"not_found","error":"os_not_found",'
        '"message":"OS 999999 não encontrada no portal","numero_os":"999999",'
        '"checked_at":"2023-11-14T22:13:20Z"}'
    )


def test_given_a_lookup_with_neither_entry_nor_task_when_answered_then_it_is_refused():
    with pytest.raises(ValueError):
        lookup_answer(LookupOutcome("123456"))


def test_given_a_stored_os_when_rendered_then_its_times_are_iso_utc():
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = record_body(CacheEntry("123456", "ok", RECORD, SCRAPED_AT, TASK, expires))
    assert body == {
        "numero_os": "123456",
        "outcome": "ok",
        "data": RECORD,
        "scraped_at": "2023-11-14T22:13:20Z",
        "expires_at": "2030-01-02T03:04:05Z",
    }
    assert record_body(CacheEntry("1"))["scraped_at"] is None


# ------------------------------------------------------------------ WebSocket
def test_given_a_waiting_task_when_subscribed_then_the_snapshot_has_its_place_and_state():
    outcome = TaskOutcome.of(
        task(TaskStatus.PENDING, step="queued", progress=0), position=2, estimated_time=10
    )
    assert dumps(wsviews.snapshot(outcome)) == (
        HEAD + '"status":"progress","step":"queued","progress":0,"position":2,'
        '"estimated_time":10,"task_status":"PENDING"}'
    )


@pytest.mark.parametrize("status", [TaskStatus.STARTED, TaskStatus.PROGRESS, TaskStatus.RETRY])
def test_given_an_active_task_when_subscribed_then_the_snapshot_is_progress_with_its_status(
    status,
):
    outcome = TaskOutcome.of(task(status, error="espere", error_reason="transient"))
    assert dumps(wsviews.snapshot(outcome)) == (
        HEAD + '"status":"progress","step":"detail","progress":40,'
        '"task_status":"' + status.value + '"}'
    )


def test_given_an_ended_task_when_subscribed_or_told_then_both_messages_are_the_same():
    succeeded = TaskOutcome.of(task(TaskStatus.SUCCESS, result=RECORD))
    for render in (wsviews.snapshot, wsviews.event):
        assert dumps(render(succeeded)) == (
            HEAD + '"status":"success","progress":100,"result":{"cliente":"Ana"}}'
        )
        assert dumps(render(failed())) == (
            HEAD + '"status":"error","message":"OS 123456 não encontrada no portal","reason":"x"}'
        )


def test_given_a_step_of_the_worker_when_told_then_the_event_has_no_task_status():
    event = TaskOutcome.of(task(TaskStatus.STARTED)).progressed("login", 15)
    assert dumps(wsviews.event(event)) == (
        HEAD + '"status":"progress","step":"login","progress":15}'
    )


def test_given_a_retry_when_told_then_the_event_has_the_message_and_the_delay():
    event = TaskOutcome.of(task(TaskStatus.PROGRESS)).retrying("nova tentativa", "transient", 60)
    assert dumps(wsviews.event(event)) == (
        HEAD + '"status":"progress","step":"retry","progress":0,'
        '"message":"nova tentativa","retry_in":60}'
    )


def test_given_the_workers_events_when_told_then_success_and_failure_end_the_task():
    base = TaskOutcome.of(task(TaskStatus.PROGRESS))
    assert wsviews.event(base.succeeded(RECORD))["status"] == "success"
    told = wsviews.event(base.failed("desistimos", "layout_changed"))
    assert (told["status"], told["message"], told["reason"]) == (
        "error",
        "desistimos",
        "layout_changed",
    )


# ------------------------------------------------------------------ ops
def test_given_a_task_when_shown_to_operators_then_every_field_is_a_plain_value():
    record = task(
        TaskStatus.FAILURE,
        error="falhou",
        error_reason="layout_changed",
        error_detail="no #detail table",
        requested_by="bruno",
        requesters=frozenset({"bruno", "ana"}),
        lane="batch",
        batch_id="b" * 32,
        waiters=2,
        created_at=10,
        finished_at=20.5,
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    view = opsviews.task_view(TaskOutcome.of(record))
    assert list(view) == [
        "task_id",
        "numero_os",
        "status",
        "attempts",
        "progress",
        "step",
        "lane",
        "error",
        "error_reason",
        "error_detail",
        "requested_by",
        "requesters",
        "batch_id",
        "waiting_batches",
        "created_at",
        "queued_at",
        "started_at",
        "finished_at",
        "updated_at",
        "expires_at",
        "result",
    ]
    assert (view["status"], view["lane"], view["requesters"]) == (
        "FAILURE",
        "batch",
        ["ana", "bruno"],
    )
    assert (view["error_detail"], view["waiting_batches"]) == ("no #detail table", 2)
    assert (view["created_at"], view["finished_at"], view["started_at"]) == (10.0, 20.5, None)
    assert view["expires_at"] == datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    json.dumps(view)  # plain JSON values only


def test_given_a_waiting_task_when_shown_to_operators_then_its_lane_is_the_one_it_waits_in():
    record = task(TaskStatus.PENDING, queue="vip", lane="standard")
    assert opsviews.task_view(TaskOutcome.of(record))["lane"] == "vip"

"""A task as its followers see it, and what a lookup found (chalicelib/domain/outcome.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from chalicelib.domain.outcome import Joining, LookupOutcome, TaskOutcome
from chalicelib.domain.records import CacheEntry, TaskRecord
from chalicelib.domain.tasks import TaskStatus

TASK = "0123456789abcdef" * 2
RECORD = {"cliente": "Ana", "itens": [1, 2]}


def task(status: TaskStatus, **fields: object) -> TaskRecord:
    base: dict[str, object] = {"step": "detail", "progress": 40, "attempts": 2}
    return TaskRecord(pk=TASK, numero_os="123456", status=status.value, **{**base, **fields})


# ------------------------------------------------------------------ state
def test_given_a_waiting_task_when_read_with_its_place_then_the_outcome_has_position_and_time():
    record = task(TaskStatus.PENDING, step="queued", progress=0, attempts=0)
    outcome = TaskOutcome.of(record, position=4, estimated_time=30)
    assert (outcome.task_id, outcome.numero_os, outcome.status) == (TASK, "123456", "PENDING")
    assert (outcome.position, outcome.estimated_time) == (4, 30)
    assert outcome.waiting and not outcome.terminal
    assert (outcome.result, outcome.message, outcome.reason, outcome.retry_in) == (None,) * 4


def test_given_a_succeeded_task_when_read_then_the_outcome_has_its_record_and_no_error():
    record = task(TaskStatus.SUCCESS, progress=100, result=RECORD, error="old", error_reason="x")
    outcome = TaskOutcome.of(record)
    assert outcome.status is TaskStatus.SUCCESS and outcome.terminal and not outcome.waiting
    assert (outcome.result, outcome.message, outcome.reason) == (RECORD, None, None)
    assert (outcome.progress, outcome.step, outcome.attempts) == (100, "detail", 2)


@pytest.mark.parametrize("status", [TaskStatus.FAILURE, TaskStatus.RETRY])
def test_given_a_failing_task_when_read_then_the_outcome_has_the_users_message_and_reason(status):
    outcome = TaskOutcome.of(task(status, error="o portal recusou", error_reason="permanent"))
    assert (outcome.message, outcome.reason, outcome.result) == (
        "o portal recusou",
        "permanent",
        None,
    )
    assert outcome.terminal is (status is TaskStatus.FAILURE)


@pytest.mark.parametrize("status", [TaskStatus.STARTED, TaskStatus.PROGRESS])
def test_given_a_running_task_when_read_then_the_outcome_keeps_no_error_of_an_earlier_attempt(
    status,
):
    outcome = TaskOutcome.of(task(status, error="transient", error_reason="transient"))
    assert (outcome.message, outcome.reason) == (None, None)
    assert not outcome.terminal and not outcome.waiting


def test_given_absent_counters_when_read_then_they_are_zero():
    outcome = TaskOutcome.of(dataclasses.replace(task(TaskStatus.STARTED), progress=None))
    assert outcome.progress == 0
    assert (
        TaskOutcome.of(dataclasses.replace(task(TaskStatus.STARTED), attempts=None)).attempts == 0
    )


def test_given_a_status_raspa_does_not_know_when_read_then_it_is_refused():
    with pytest.raises(ValueError):
        TaskOutcome.of(dataclasses.replace(task(TaskStatus.PENDING), status="LOST"))


def test_given_an_outcome_then_it_keeps_the_task_it_was_read_from():
    record = task(TaskStatus.PENDING, batch_id="b" * 32, requesters=frozenset({"ana"}))
    assert TaskOutcome.of(record).task is record


# ------------------------------------------------------------------ events
def test_given_a_running_task_when_it_progresses_then_the_event_has_the_step_and_percent():
    base = TaskOutcome.of(task(TaskStatus.PENDING), position=2, estimated_time=10)
    event = base.progressed("login", 15)
    assert (event.status, event.step, event.progress) == (TaskStatus.PROGRESS, "login", 15)
    assert (event.position, event.estimated_time) == (None, None)


def test_given_a_failed_attempt_when_it_is_retried_then_the_event_starts_over_with_a_delay():
    event = TaskOutcome.of(task(TaskStatus.PROGRESS)).retrying("nova tentativa", "transient", 60)
    assert (event.status, event.step, event.progress) == (TaskStatus.RETRY, "retry", 0)
    assert (event.message, event.reason, event.retry_in) == ("nova tentativa", "transient", 60)
    assert not event.terminal


def test_given_a_scrape_when_it_succeeds_then_the_event_has_the_record_and_100_percent():
    event = TaskOutcome.of(task(TaskStatus.PROGRESS)).succeeded(RECORD)
    assert (event.status, event.progress, event.result) == (TaskStatus.SUCCESS, 100, RECORD)
    assert event.terminal and (event.message, event.reason) == (None, None)


def test_given_a_retrying_task_when_it_fails_then_the_event_has_the_new_message_only():
    retrying = TaskOutcome.of(task(TaskStatus.PROGRESS)).retrying("espere", "transient", 30)
    event = retrying.failed("desistimos", "layout_changed")
    assert (event.status, event.message, event.reason) == (
        TaskStatus.FAILURE,
        "desistimos",
        "layout_changed",
    )
    assert event.retry_in is None and event.terminal


# ------------------------------------------------------------------ lookups
def test_given_a_cached_record_when_looked_up_then_the_outcome_is_found():
    entry = CacheEntry("123456", "ok", RECORD, 1.0, TASK, datetime(2030, 1, 1, tzinfo=UTC))
    outcome = LookupOutcome("123456", cached=entry)
    assert outcome.found and not outcome.not_found and outcome.task is None


def test_given_a_cached_not_found_answer_when_looked_up_then_the_outcome_is_not_found():
    outcome = LookupOutcome("123456", cached=CacheEntry("123456", "not_found"))
    assert outcome.not_found and not outcome.found


def test_given_a_task_when_looked_up_then_the_outcome_says_how_the_caller_got_it():
    queued = TaskOutcome.of(task(TaskStatus.PENDING), position=0, estimated_time=10)
    outcome = LookupOutcome("123456", task=queued, joining=Joining.JOINED_IN_PLACE)
    assert not outcome.found and not outcome.not_found
    assert outcome.task is queued and outcome.joining is Joining.JOINED_IN_PLACE

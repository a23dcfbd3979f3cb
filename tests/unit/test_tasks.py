"""Task transitions and the retry policy (pure logic)."""

from __future__ import annotations

import pytest

from chalicelib.domain.tasks import (
    ACTIVE,
    TERMINAL,
    TaskStatus,
    backoff_delay,
    can_transition,
    decide_after_error,
    progress_for,
    sources_of,
)
from chalicelib.errors import (
    LayoutChangedError,
    LoginFailedError,
    OsNotFoundError,
    TransientScrapeError,
)


@pytest.mark.parametrize("attempt,expected", [(1, 60), (2, 120), (3, 240), (4, 480)])
def test_backoff_starts_at_base_and_doubles(attempt, expected):
    assert backoff_delay(attempt, 60) == expected


def test_backoff_is_capped_at_sqs_maximum_visibility():
    assert backoff_delay(30, 60) == 43_200


def test_backoff_rejects_attempt_zero():
    with pytest.raises(ValueError):
        backoff_delay(0, 60)


def test_terminal_states_allow_no_transition():
    for terminal in TERMINAL:
        assert not any(can_transition(terminal, target) for target in TaskStatus)


@pytest.mark.parametrize(
    "current,target",
    [
        (TaskStatus.PENDING, TaskStatus.STARTED),
        (TaskStatus.STARTED, TaskStatus.PROGRESS),
        (TaskStatus.PROGRESS, TaskStatus.SUCCESS),
        (TaskStatus.PROGRESS, TaskStatus.RETRY),
        (TaskStatus.RETRY, TaskStatus.STARTED),
        (TaskStatus.STARTED, TaskStatus.STARTED),
    ],
)
def test_allowed_transitions(current, target):
    assert can_transition(current, target)


@pytest.mark.parametrize(
    "current,target",
    [
        (TaskStatus.PENDING, TaskStatus.SUCCESS),
        (TaskStatus.RETRY, TaskStatus.SUCCESS),
        (TaskStatus.PENDING, TaskStatus.PROGRESS),
    ],
)
def test_forbidden_transitions(current, target):
    assert not can_transition(current, target)


def test_sources_of_success_are_the_running_states():
    assert sources_of(TaskStatus.SUCCESS) == ["PROGRESS", "STARTED"]
    assert set(sources_of(TaskStatus.STARTED)) <= {s.value for s in ACTIVE}


def test_transient_error_before_last_attempt_is_retried_with_backoff():
    decision = decide_after_error(TransientScrapeError("500"), 2, 4, 60)
    assert decision.status is TaskStatus.RETRY and decision.delay_seconds == 120
    assert not decision.dead_letter


def test_retry_after_longer_than_backoff_wins():
    decision = decide_after_error(TransientScrapeError("503", retry_after=300), 1, 4, 60)
    assert decision.delay_seconds == 300


def test_retry_after_shorter_than_backoff_does_not_shorten_it():
    decision = decide_after_error(TransientScrapeError("429", retry_after=5), 1, 4, 60)
    assert decision.delay_seconds == 60


def test_transient_error_on_last_attempt_fails_to_the_dlq_with_a_clear_message():
    decision = decide_after_error(TransientScrapeError("timeout"), 4, 4, 60)
    assert decision.status is TaskStatus.FAILURE and decision.dead_letter
    assert decision.message == "o portal ficou indisponível em 4 tentativas; tente mais tarde"
    assert decision.detail == "portal unavailable after 4 attempts: timeout"


@pytest.mark.parametrize(
    "error",
    [
        TransientScrapeError("portal answered 500 at https://portal.example/os/1?s=abc"),
        LayoutChangedError("https://portal.example/os/1", "cliente"),
        LoginFailedError("the portal refused the login of user 'svc-raspa' at https://p/login"),
    ],
)
@pytest.mark.parametrize("attempt", [1, 4])
def test_what_users_are_told_names_no_portal_url_and_no_account(error, attempt):
    # Given a failure whose technical text carries a portal URL or the service account
    # When the worker decides what to do with it
    decision = decide_after_error(error, attempt, 4, 60)
    # Then users get a message without them, and operators get the whole story
    assert "http" not in decision.message and "svc-raspa" not in decision.message
    assert decision.message and str(error) in decision.detail


@pytest.mark.parametrize(
    "error", [LayoutChangedError("http://x/os/1", "cliente"), LoginFailedError("refused")]
)
def test_permanent_errors_fail_at_once_to_the_dlq(error):
    decision = decide_after_error(error, 1, 4, 60)
    assert decision.status is TaskStatus.FAILURE and decision.dead_letter


def test_not_found_fails_at_once_without_dead_lettering():
    decision = decide_after_error(OsNotFoundError("123"), 1, 4, 60)
    assert decision.status is TaskStatus.FAILURE and not decision.dead_letter
    assert "não encontrada" in decision.message


def test_progress_for_known_steps_and_scraper_percentages():
    assert progress_for("detail") == 40
    assert progress_for("history", 70) == 70
    assert progress_for("history", 150) == 99


def test_given_new_and_batch_task_ids_then_both_have_the_task_id_shape():
    from chalicelib.domain.batches import task_id_for
    from chalicelib.domain.tasks import is_task_id, new_task_id

    assert is_task_id(new_task_id()) and new_task_id() != new_task_id()
    assert is_task_id(task_id_for("b1", "123456"))
    assert not is_task_id("A" * 32) and not is_task_id("a" * 31) and not is_task_id(None)

"""The reliability scenarios in short versions (``make soak`` runs them at full size and
writes docs/reliability.md): the same code, fewer OS, the same criteria."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from reliability.harness import Harness
from reliability.report import Row
from reliability.scenarios import SCENARIOS, run_scenario

pytestmark = pytest.mark.integration


def short(name: str, **values: Any) -> Any:
    return replace(SCENARIOS[name].params(), **values)


def holds(row: Row) -> None:
    """Every criterion held."""
    if not row.ok:
        pytest.fail(row.explain(), pytrace=False)


def test_given_a_portal_failing_a_third_of_its_requests_when_40_os_are_looked_up_then_every_task_ends_retried_or_dead_lettered_and_nothing_is_lost_or_doubled(  # noqa: E501
    harness: Harness,
) -> None:
    row = run_scenario(harness, "fault_mix", short("fault_mix", os=40, requesters=4, vip=1))
    holds(row)


def test_given_the_worker_process_killed_mid_scrape_when_its_messages_come_back_after_the_visibility_timeout_then_every_task_completes_once(  # noqa: E501
    harness: Harness,
) -> None:
    params = short("worker_death", os=4, requesters=2, scrape_timeout=2)
    holds(run_scenario(harness, "worker_death", params))


def test_given_the_drifted_portal_layout_when_os_are_looked_up_then_each_fails_at_once_and_the_layout_drift_alarm_fires(  # noqa: E501
    harness: Harness,
) -> None:
    params = short("layout_drift", os=6, requesters=2, vip=1)
    holds(run_scenario(harness, "layout_drift", params))


def test_given_the_portal_down_for_everyone_when_it_comes_back_then_the_breaker_drains_every_task_scraped_once_with_nothing_dead_lettered(  # noqa: E501
    harness: Harness,
) -> None:
    params = short("recovery", os=6, requesters=3, vip=1, timeout=60)
    holds(run_scenario(harness, "recovery", params))


def test_given_150_concurrent_lookups_of_15_os_from_6_users_then_each_os_is_scraped_once_and_every_request_is_answered(  # noqa: E501
    harness: Harness,
) -> None:
    params = short("stampede", lookups=150, os=15, users=6, vip=2, threads=30)
    holds(run_scenario(harness, "stampede", params))


def test_given_a_tenth_of_the_apps_dynamodb_and_sqs_calls_throttled_then_retries_absorb_them_and_nothing_is_lost_or_doubled(  # noqa: E501
    harness: Harness,
) -> None:
    params = short("throttling", os=30, requesters=4, vip=1)
    holds(run_scenario(harness, "throttling", params))


def test_given_the_hostile_input_corpus_then_each_input_is_refused_clearly_no_formula_survives_and_lookups_still_work(  # noqa: E501
    harness: Harness,
) -> None:
    holds(run_scenario(harness, "bad_input", short("bad_input")))


def test_given_a_portal_pointing_off_site_dripping_its_pages_or_serving_a_page_over_the_cap_then_nothing_leaves_no_attempt_outlives_its_budget_and_each_task_fails_for_its_reason(  # noqa: E501
    harness: Harness,
) -> None:
    # 2 OS per mode; the drip retried once; a 2.7 MB page over the 2 MB cap
    params = short("hostile_portal", os=2, requesters=2, vip=1, max_attempts=2, history_rows=20_000)
    holds(run_scenario(harness, "hostile_portal", params))


def test_given_many_one_line_batches_waiting_on_one_os_then_it_is_scraped_once_finishes_in_a_small_transaction_and_every_batch_counts_it(  # noqa: E501
    harness: Harness,
) -> None:
    # 60 batches (more than a 100-item transaction could count two items each for)
    params = short("many_batches", batches=60, owners=3, threads=8, timeout=180)
    holds(run_scenario(harness, "many_batches", params))

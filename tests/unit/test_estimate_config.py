"""Queue estimates, settings and message parsing (pure logic)."""

from __future__ import annotations

import json

import pytest

from chalicelib.config import Settings
from chalicelib.domain.codec import ScrapeMessage
from chalicelib.domain.schedule import result_seconds
from chalicelib.errors import ConfigurationError, MalformedMessageError
from chalicelib.services.lookup import MeanDuration
from chalicelib.services.worker import Delivery

TASK = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("position,expected", [(0, 10), (2, 10), (3, 20), (5, 20), (6, 30)])
def test_estimate_drains_three_at_a_time(position, expected):
    assert result_seconds(position, 10.0, 3) == expected


def test_estimate_rounds_up():
    assert result_seconds(0, 7.2, 3) == 8


def test_estimate_rejects_negative_position():
    with pytest.raises(ValueError):
        result_seconds(-1, 10, 3)


def test_mean_duration_is_read_once_per_max_age_and_defaults_when_unmeasured():
    reads = []
    now = [0.0]
    values = iter([None, 12.5])
    mean = MeanDuration(
        lambda: reads.append(1) or next(values), default=20.0, max_age=30, clock=lambda: now[0]
    )
    assert mean() == 20.0 and mean() == 20.0 and len(reads) == 1
    now[0] = 31
    assert mean() == 12.5 and len(reads) == 2


def test_settings_defaults_match_the_users_limits():
    s = Settings.from_env({})
    assert (s.concurrency, s.scrape_timeout_seconds, s.max_attempts) == (3, 300, 4)
    assert (s.retry_base_delay_seconds, s.cache_ttl_seconds) == (60, 86_400)
    assert s.max_receive_count == 10  # 4 attempts + room for throttled receives
    assert (s.rate_limit, s.vip_rate_limit, s.rate_window_seconds) == (10, 30, 3600)
    assert (s.vip_share, s.standard_share, s.batch_share) == (6, 3, 1)
    assert (s.breaker_failures, s.breaker_probe_seconds, s.breaker_probe_max_seconds) == (
        8,
        30.0,
        120.0,
    )
    assert s.timezone == "America/Sao_Paulo"


def test_settings_read_raspa_variables_and_region():
    s = Settings.from_env(
        {
            "RASPA_CACHE_TTL_SECONDS": "60",
            "AWS_REGION": "sa-east-1",
            "RASPA_READ_TIMEOUT_SECONDS": "2.5",
            "RASPA_OS_TABLE": "t",
        }
    )
    assert (s.cache_ttl_seconds, s.region, s.read_timeout_seconds, s.os_table) == (
        60,
        "sa-east-1",
        2.5,
        "t",
    )


@pytest.mark.parametrize(
    "env",
    [
        {"RASPA_MAX_ATTEMPTS": "zero"},
        {"RASPA_MAX_ATTEMPTS": "0"},
        {"RASPA_CACHE_TTL_SECONDS": "-1"},
        {"RASPA_CONCURRENCY": "1"},
        {"RASPA_VIP_SHARE": "0"},
        {"RASPA_BREAKER_PROBE_SECONDS": "soon"},
    ],
)
def test_bad_settings_are_configuration_errors_naming_the_variable(env):
    with pytest.raises(ConfigurationError, match="RASPA_"):
        Settings.from_env(env)


def test_message_round_trip_carries_receive_count():
    body = ScrapeMessage(TASK, "123").encode()
    msg = Delivery.of(body, "rh", {"ApproximateReceiveCount": "3"})
    assert (msg.task_id, msg.numero_os, msg.receive_count) == (TASK, "123", 3)


@pytest.mark.parametrize(
    ("body", "attributes"),
    [
        ("not json", {}),
        ("[]", {}),
        (json.dumps({"task_id": "t"}), {}),
        (json.dumps({"task_id": "t1", "numero_os": "123"}), {}),
        (ScrapeMessage(TASK, "123").encode(), {"ApproximateReceiveCount": "many"}),
    ],
)
def test_foreign_message_bodies_are_rejected(body, attributes):
    with pytest.raises(MalformedMessageError):
        Delivery.of(body, "rh", attributes)


def test_the_token_leeway_defaults_to_five_seconds_and_refuses_more_than_a_minute() -> None:
    assert Settings.from_env({}).auth_leeway_seconds == 5
    assert Settings.from_env({"RASPA_AUTH_LEEWAY_SECONDS": "0"}).auth_leeway_seconds == 0
    with pytest.raises(ConfigurationError, match="LEEWAY"):
        Settings.from_env({"RASPA_AUTH_LEEWAY_SECONDS": "61"})


def test_settings_refuse_bounds_whose_task_item_could_pass_dynamodbs_400_kb() -> None:
    from chalicelib.config import ITEM_LIMIT_BYTES

    # The defaults fit, with room to spare
    assert Settings.from_env({}).task_item_worst_bytes < ITEM_LIMIT_BYTES
    # A record limit, or sets, that could not fit are refused naming the settings
    with pytest.raises(ConfigurationError, match="RASPA_MAX_RECORD_BYTES"):
        Settings.from_env({"RASPA_MAX_RECORD_BYTES": "400000"})
    with pytest.raises(ConfigurationError, match="RASPA_MAX_REQUESTERS_PER_TASK"):
        Settings.from_env({"RASPA_MAX_REQUESTERS_PER_TASK": "3000"})
    with pytest.raises(ConfigurationError, match="at least 1"):
        Settings.from_env({"RASPA_MAX_SUBSCRIBERS_PER_TASK": "0"})


def test_the_batch_release_window_must_keep_the_batch_lane_busy() -> None:
    with pytest.raises(ConfigurationError, match="RELEASE_WINDOW"):
        Settings.from_env({"RASPA_BATCH_RELEASE_WINDOW": "2"})  # below the concurrency, 3
    assert Settings.from_env({"RASPA_BATCH_RELEASE_WINDOW": "3"}).batch_release_window == 3
    wider = {"RASPA_CONCURRENCY": "5", "RASPA_BATCH_RELEASE_WINDOW": "4"}
    with pytest.raises(ConfigurationError, match="at least RASPA_CONCURRENCY"):
        Settings.from_env(wider)


@pytest.mark.parametrize("concurrency", ["1", "0", "-3"])
def test_given_a_concurrency_below_two_then_settings_are_refused(concurrency: str) -> None:
    # AWS's minimum MaximumConcurrency of an SQS event source, which is the concurrency
    with pytest.raises(ConfigurationError, match=r"RASPA_CONCURRENCY.*at least 2"):
        Settings.from_env({"RASPA_CONCURRENCY": concurrency})
    assert Settings.from_env({"RASPA_CONCURRENCY": "2"}).concurrency == 2


@pytest.mark.parametrize(
    "variable", ["RASPA_VIP_SHARE", "RASPA_STANDARD_SHARE", "RASPA_BATCH_SHARE"]
)
def test_given_a_lane_share_below_one_then_settings_are_refused_naming_it(variable: str) -> None:
    for value in ("0", "-1"):
        with pytest.raises(ConfigurationError, match=f"{variable} must be at least 1"):
            Settings.from_env({variable: value})
    assert Settings.from_env({variable: "1"})


def test_given_lane_shares_then_they_are_read_as_whole_turns() -> None:
    s = Settings.from_env(
        {"RASPA_VIP_SHARE": "2", "RASPA_STANDARD_SHARE": "2", "RASPA_BATCH_SHARE": "2"}
    )
    assert (s.vip_share, s.standard_share, s.batch_share) == (2, 2, 2)
    with pytest.raises(ConfigurationError, match=r"RASPA_VIP_SHARE.*not a valid int"):
        Settings.from_env({"RASPA_VIP_SHARE": "1.5"})


def test_given_no_breaker_failures_then_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="RASPA_BREAKER_FAILURES must be at least 1"):
        Settings.from_env({"RASPA_BREAKER_FAILURES": "0"})
    assert Settings.from_env({"RASPA_BREAKER_FAILURES": "1"}).breaker_failures == 1


@pytest.mark.parametrize(
    "env",
    [
        {"RASPA_BREAKER_PROBE_SECONDS": "0"},
        {"RASPA_BREAKER_PROBE_SECONDS": "-5"},
        {"RASPA_BREAKER_PROBE_SECONDS": "121"},  # over the default maximum, 120
        {"RASPA_BREAKER_PROBE_SECONDS": "10", "RASPA_BREAKER_PROBE_MAX_SECONDS": "9.5"},
    ],
)
def test_given_a_breaker_probe_delay_not_positive_or_over_its_maximum_then_settings_are_refused(
    env: dict[str, str],
) -> None:
    with pytest.raises(ConfigurationError, match="RASPA_BREAKER_PROBE_SECONDS"):
        Settings.from_env(env)


def test_given_a_breaker_probe_delay_up_to_its_maximum_then_it_is_accepted() -> None:
    s = Settings.from_env(
        {"RASPA_BREAKER_PROBE_SECONDS": "0.5", "RASPA_BREAKER_PROBE_MAX_SECONDS": "0.5"}
    )
    assert (s.breaker_probe_seconds, s.breaker_probe_max_seconds) == (0.5, 0.5)

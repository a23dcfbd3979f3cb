"""The scrape lanes (chalicelib/domain/lanes.py): one name each, their order, their settings."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.config import Settings
from chalicelib.domain import queueorder
from chalicelib.domain.lanes import SETTINGS, Lane, LaneConfig, lane_configs
from chalicelib.errors import ConfigurationError
from infra.spec import resources
from ops.letters import LANES, queue_named


def test_given_the_lanes_then_their_values_are_the_strings_raspa_already_stores_and_sends():
    assert [lane.value for lane in Lane] == ["vip", "standard", "batch"]
    assert Lane.VIP == "vip" and f"{Lane.BATCH}" == "batch"


def test_given_the_lanes_then_vip_is_served_first_and_batch_last():
    assert [lane.rank for lane in Lane] == [0, 1, 2]
    assert sorted(Lane, key=lambda lane: lane.rank) == list(Lane)


def test_given_the_batch_lane_then_it_alone_is_not_interactive():
    assert [lane for lane in Lane if not lane.interactive] == [Lane.BATCH]


@pytest.mark.parametrize(
    "text,lane",
    [
        ("vip", Lane.VIP),
        (" Priority ", Lane.VIP),
        ("STANDARD", Lane.STANDARD),
        ("batch", Lane.BATCH),
    ],
)
def test_given_a_lane_name_or_its_alias_when_parsed_then_the_lane_is_found(text, lane):
    assert Lane.parse(text) is lane


def test_given_an_unknown_name_when_parsed_then_the_error_lists_the_accepted_ones():
    with pytest.raises(ValueError, match="vip, priority, standard, batch"):
        Lane.parse("express")


def test_given_each_lane_then_its_settings_fields_exist():
    names = {f.name for f in dataclasses.fields(Settings)}
    for fields in SETTINGS.values():
        assert set(fields) <= names


def test_given_default_settings_when_configured_then_each_lane_has_its_queue_and_cap():
    settings = Settings()
    configs = lane_configs(settings)
    assert [c.lane for c in configs] == list(Lane)
    assert [c.queue_name for c in configs] == [
        settings.priority_queue_name,
        settings.queue_name,
        settings.batch_queue_name,
    ]
    assert [c.max_concurrency for c in configs] == [
        settings.priority_max_concurrency,
        settings.standard_max_concurrency,
        settings.batch_max_concurrency,
    ]
    assert [c.rank for c in configs] == [0, 1, 2]


def test_given_the_historical_variables_when_read_then_the_vip_lane_follows_them():
    settings = Settings.from_env(
        {
            "RASPA_PRIORITY_QUEUE_NAME": "q-vip",
            "RASPA_PRIORITY_QUEUE_URL": "http://sqs/q-vip",
            "RASPA_PRIORITY_MAX_CONCURRENCY": "3",
        }
    )
    assert LaneConfig.of(settings, "vip") == LaneConfig(Lane.VIP, "q-vip", "http://sqs/q-vip", 3)


@pytest.mark.parametrize("lane", list(Lane))
def test_given_a_lane_cap_below_two_when_validated_then_settings_are_refused(lane):
    with pytest.raises(ConfigurationError, match="MAX_CONCURRENCY"):
        Settings.from_env({f"RASPA_{SETTINGS[lane].max_concurrency.upper()}": "1"})


def test_given_settings_when_the_spec_is_built_then_the_worker_has_one_source_per_lane():
    settings = Settings(priority_max_concurrency=3, batch_queue_name="b")
    sources = resources(settings).worker_sources
    assert [(s.lane, s.queue, s.max_concurrency, s.rank) for s in sources] == [
        (c.lane, c.queue_name, c.max_concurrency, c.rank) for c in lane_configs(settings)
    ]
    assert sources[2].queue == "b" and sources[0].max_concurrency == 3
    queues = {q.name for q in resources(settings).queues}
    assert {s.queue for s in sources} <= queues


def test_given_the_queue_index_then_it_orders_lanes_by_rank():
    assert [Lane(lane).rank for lane in ("vip", "standard", "batch")] == [0, 1, 2]
    assert queueorder.place("vip", 5.0) == queueorder.place(Lane.VIP, 5.0)
    assert queueorder.band(Lane.BATCH)[0] == Lane.BATCH.rank * queueorder.LANE_SPAN
    with pytest.raises(ValueError):
        queueorder.place("express", 5.0)


def test_given_ops_then_its_lanes_and_aliases_are_the_lanes():
    assert tuple(LANES) == tuple(Lane)
    assert queue_named("priority") is Lane.VIP
    assert queue_named("batch-ingest") == "ingest"

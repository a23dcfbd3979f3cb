"""The scrape lanes (chalicelib/domain/lanes.py): one name each, their order; data on a
task, not queues: one scrape queue and one event source serve them all."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.config import Settings
from chalicelib.domain import queueorder
from chalicelib.domain.lanes import Lane
from infra.spec import resources
from ops.letters import LANES, QUEUES, queue_named


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


def test_given_the_settings_then_no_lane_has_a_queue_or_a_cap_of_its_own():
    names = {f.name for f in dataclasses.fields(Settings)}
    assert not {n for n in names if n.startswith(("priority_", "batch_queue_", "standard_max"))}
    assert {n for n in names if n.endswith("_max_concurrency")} == {"ingest_max_concurrency"}
    assert {"vip_share", "standard_share", "batch_share", "concurrency"} <= names


def test_given_the_former_lane_variables_when_read_then_they_are_ignored():
    settings = Settings.from_env(
        {"RASPA_PRIORITY_QUEUE_NAME": "q-vip", "RASPA_BATCH_MAX_CONCURRENCY": "1"}
    )
    assert settings == Settings.from_env({})


def test_given_settings_when_the_spec_is_built_then_the_worker_has_one_source_the_scrape_queue():
    settings = Settings(queue_name="s", concurrency=4, batch_release_window=4)
    spec = resources(settings)
    [source] = spec.worker_sources
    assert (source.queue, source.max_concurrency) == ("s", 4)
    assert spec.worker_reserved_concurrency == source.max_concurrency
    assert [q.name for q in spec.queues] == [settings.dlq_name, "s", settings.ingest_queue_name]


def test_given_the_queue_index_then_it_orders_lanes_by_rank():
    assert [Lane(lane).rank for lane in ("vip", "standard", "batch")] == [0, 1, 2]
    assert queueorder.place("vip", 5.0) == queueorder.place(Lane.VIP, 5.0)
    assert queueorder.band(Lane.BATCH)[0] == Lane.BATCH.rank * queueorder.LANE_SPAN
    with pytest.raises(ValueError):
        queueorder.place("express", 5.0)


def test_given_ops_then_its_lanes_and_aliases_are_the_lanes_and_its_queues_are_three():
    assert tuple(LANES) == tuple(Lane)
    assert queue_named("priority") is Lane.VIP
    assert queue_named("batch-ingest") == "ingest"
    assert QUEUES == ("scrape", "ingest", "dlq")

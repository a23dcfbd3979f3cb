"""The rate limit has no second path: a join that moves a task into an interactive lane is
a new scrape for the caller, so batches and joins cannot walk around it."""

from __future__ import annotations

import json

import app as raspa_app
from chalicelib.adapters.dynamo.models import rate_key
from chalicelib.domain.batches import task_id_for
from tests.support.batchkit import csv_of, numbers


def lookup(client, numero: str, user: str, aws) -> tuple[int, dict]:
    response = client.http.post(f"/buscar-os-async/{numero}", headers=aws.headers(user))
    return response.status_code, json.loads(response.body)


def starts(user: str) -> int:
    log = raspa_app.services().models.RateLog.get(rate_key(user))
    return len(log.starts or ())


def test_given_a_users_own_batch_when_they_look_up_each_number_then_only_their_limit_moves_to_their_lane(  # noqa: E501
    kit, scraper
):
    # Given ana's batch of 25 numbers, waiting in the batch lane
    wanted = numbers(25, start=780000)
    batch_id = kit.upload(csv_of(*wanted), user="ana")
    kit.ingest()
    # When she looks each of them up
    answers = [lookup(kit.client, n, "ana", kit.aws) for n in wanted]
    # Then every lookup joins its task (202), but only her rate limit's worth (10) moved to
    # the standard lane, each counted as a new scrape; the rest wait their batch turn
    assert {status for status, _ in answers} == {202}
    store = raspa_app.services().store
    lanes = [store.tasks.get_task(task_id_for(batch_id, n)).queue for n in wanted]
    limit = raspa_app.services().settings.rate_limit
    assert lanes.count("standard") == limit and lanes.count("batch") == 25 - limit
    assert starts("ana") == limit
    assert "limite" in answers[-1][1]["message"]
    # And a new OS is refused: the limit holds
    status, body = lookup(kit.client, "789999", "ana", kit.aws)
    assert status == 429 and body["error"] == "rate_limited"
    # And the moved tasks sent one wake-up each, beside the batch lane's released ones
    window = raspa_app.services().settings.batch_release_window
    assert len(kit.lane_messages("standard")) == limit
    assert kit.depth(kit.aws.queue_url) == limit + window


def test_given_a_vip_joining_standard_tasks_then_only_their_limit_moves_to_the_vip_lane(
    client, aws
):
    # Given a VIP limit of 2 and five standard tasks of bruno's, waiting
    aws.reconfigure(vip_rate_limit=2)
    wanted = numbers(5, start=790000)
    for numero in wanted:
        assert lookup(client, numero, "bruno", aws)[0] == 202
    # When carla (VIP) looks each of them up
    answers = [lookup(client, numero, "carla", aws) for numero in wanted]
    # Then she joins all five, two of them moved to the VIP lane (her limit), and her next
    # new OS is refused
    assert {status for status, _ in answers} == {202}
    store = raspa_app.services().store
    lanes = [store.tasks.get_task(body["task_id"]).queue for _, body in answers]
    assert lanes.count("vip") == 2 and lanes.count("standard") == 3
    # (bruno's five wake-ups, and one more for each task moved: a leftover finds nothing)
    assert aws.queue_depth() == 5 + 2
    assert lookup(client, "799990", "carla", aws)[0] == 429

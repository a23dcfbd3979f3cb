"""The ops CLI against AWS (moto in process): names from ``RASPA_*``, credentials from the
environment, no ``.raspa/local.json``."""

from __future__ import annotations

import io
import json

import pytest

import app as raspa_app
import ops
from chalicelib.domain.codec import ScrapeMessage
from chalicelib.domain.lanes import Lane
from chalicelib.errors import LayoutChangedError

pytestmark = pytest.mark.usefixtures("operator_shell")


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = ops.main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def bodies(aws, url: str) -> list[ScrapeMessage]:
    """The scrape messages visible in ``url``, left there."""
    found = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [ScrapeMessage.decode(m["Body"]) for m in found.get("Messages", [])]


def lookup(aws, client, numero: str, user: str = "ana") -> str:
    response = client.http.post(f"/buscar-os-async/{numero}", headers=aws.headers(user))
    assert response.status_code == 202, response.body
    return json.loads(response.body)["task_id"]


def test_given_the_raspa_names_when_status_runs_against_aws_then_each_queue_is_found_by_name(
    aws, monkeypatch
):
    monkeypatch.setenv("RASPA_INGEST_QUEUE_NAME", "not-deployed")
    code, out, err = run("status", "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["where"] == "AWS us-east-1"
    assert {q: c["name"] for q, c in status["queues"].items()} == {
        "scrape": aws.settings.queue_name,
        "dlq": aws.settings.dlq_name,
    }
    assert status["lanes"] == {"vip": 0, "standard": 0, "batch": 0}
    code, out, _ = run("status")
    assert code == 0 and "not found: ingest (not-deployed)" in out
    code, _, err = run("purge", "ingest", "--yes")
    assert code == 2 and err == "ops: no ingest queue named 'not-deployed' on AWS us-east-1\n"


def test_given_tasks_waiting_in_two_lanes_then_status_counts_each_lane_and_the_one_scrape_queue(
    aws, client
):
    for numero in ("610001", "610002"):
        lookup(aws, client, numero)
    lookup(aws, client, "610003", user="carla")
    status = json.loads(run("status", "--json")[1])
    assert status["lanes"] == {"vip": 1, "standard": 2, "batch": 0}
    assert status["queues"]["scrape"]["waiting"] == 3  # one wake-up per task, every lane
    code, out, _ = run("status")
    assert code == 0
    assert any(line.split() == ["standard", "2"] for line in out.splitlines())
    assert any(
        line.split()[:3] == ["scrape", aws.settings.queue_name, "3"] for line in out.splitlines()
    )


def test_given_a_dead_letter_when_redriven_against_aws_then_its_task_waits_in_its_lane_again(
    aws, client, driver, scripted
):
    scripted(LayoutChangedError("http://portal/os/123456", "cliente"))
    task_id = json.loads(client.http.post("/buscar-os-async/123456").body)["task_id"]
    while driver.deliver_once() is not None:
        pass
    assert aws.queue_depth(aws.dlq_url) == 1
    code, out, err = run("redrive", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["sent"] == {"standard": 1}
    [letter] = report["letters"]
    assert (letter["to"], letter["lane"], letter["why"]) == ("scrape", "standard", "reopened")
    task = raspa_app.services().store.tasks.get_task(task_id)
    assert task.status == "PENDING" and task.attempts == 0 and task.queue == "standard"
    assert aws.queue_depth(aws.dlq_url) == 0
    # ... and one wake-up naming it waits on the scrape queue
    assert bodies(aws, aws.queue_url) == [ScrapeMessage(task_id, "123456", Lane.STANDARD)]


def test_given_sqs_move_against_an_sqs_without_move_tasks_then_letters_are_redriven_one_by_one(
    aws, client, driver, scripted
):
    scripted(LayoutChangedError("http://portal/os/123457", "cliente"))
    task_id = json.loads(client.http.post("/buscar-os-async/123457").body)["task_id"]
    while driver.deliver_once() is not None:
        pass
    code, out, err = run("redrive", "--sqs-move", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["sent"] == {"standard": 1} and report["move_task"] is None
    assert report["notes"] == ["this SQS has no StartMessageMoveTask: redrove letter by letter"]
    assert bodies(aws, aws.queue_url) == [ScrapeMessage(task_id, "123457", Lane.STANDARD)]


def test_given_tasks_of_two_lanes_when_ops_purge_one_lane_then_only_its_tasks_fail_and_the_scrape_queue_is_kept(  # noqa: E501
    aws, client, driver, scraper
):
    standard = [lookup(aws, client, n) for n in ("620001", "620002")]
    vip = lookup(aws, client, "620003", user="carla")
    code, out, err = run("purge", "standard", "--yes")
    assert code == 0, err
    assert "purged the standard lane: 2 waiting task(s) failed as purged" in out
    store = raspa_app.services().store
    assert {store.tasks.get_task(t).error_reason for t in standard} == {"purged"}
    assert store.tasks.get_task(vip).status == "PENDING"
    assert aws.queue_depth() == 3, "the shared scrape queue is not purged"
    # The worker runs the VIP task; the purged tasks' wake-ups find nothing to run
    driver.drain()
    assert store.tasks.get_task(vip).status == "SUCCESS"
    assert scraper.calls == ["620003"]
    assert {store.tasks.get_task(t).status for t in standard} == {"FAILURE"}


def test_given_the_scrape_queue_when_ops_purge_it_then_it_is_refused_and_nothing_changes(
    aws, client
):
    task_id = lookup(aws, client, "630001")
    code, out, err = run("purge", "scrape", "--yes")
    assert code == 2 and out == "" and "purge a lane instead" in err
    assert aws.queue_depth() == 1
    assert raspa_app.services().store.tasks.get_task(task_id).status == "PENDING"

"""The ops CLI against AWS (moto in process): names from ``RASPA_*``, credentials from the
environment, no ``.raspa/local.json``."""

from __future__ import annotations

import io
import json

import pytest

import app as raspa_app
import ops
from chalicelib.errors import LayoutChangedError

pytestmark = pytest.mark.usefixtures("operator_shell")


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = ops.main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_given_the_raspa_names_when_status_runs_against_aws_then_each_queue_is_found_by_name(
    aws, monkeypatch
):
    monkeypatch.setenv("RASPA_INGEST_QUEUE_NAME", "not-deployed")
    code, out, err = run("status", "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["where"] == "AWS us-east-1"
    assert {q: c["name"] for q, c in status["queues"].items()} == {
        "vip": aws.settings.priority_queue_name,
        "standard": aws.settings.queue_name,
        "batch": aws.settings.batch_queue_name,
        "dlq": aws.settings.dlq_name,
    }
    code, out, _ = run("status")
    assert code == 0 and "not found: ingest (not-deployed)" in out
    code, _, err = run("purge", "ingest", "--yes")
    assert code == 2 and err == "ops: no ingest queue named 'not-deployed' on AWS us-east-1\n"


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
    assert json.loads(out)["sent"] == {"standard": 1}
    task = raspa_app.services().store.tasks.get_task(task_id)
    assert task.status == "PENDING" and task.attempts == 0 and task.queue == "standard"
    assert aws.queue_depth(aws.dlq_url) == 0 and aws.queue_depth() == 1

"""The ops CLI without AWS: reading dead letters, lanes, redrive decisions, output, and
what each mode connects with."""

from __future__ import annotations

import io
import json
import os
from types import SimpleNamespace

import pytest

import ops
from chalicelib.adapters.aws import AwsClients
from chalicelib.adapters.dynamo.reopen import Reopen
from chalicelib.adapters.dynamo.tasks import Promoted, Promotion
from chalicelib.config import Settings
from chalicelib.domain.lanes import Lane
from chalicelib.domain.tasks import TaskStatus
from ops import connect
from ops.cli import parser
from ops.letters import (
    DeadLetter,
    Disposition,
    describe,
    disposition,
    earlier,
    lane_of_queue,
    queue_named,
    summarise,
)
from ops.output import table

NAMES = {
    "vip": "raspa-scrape-priority",
    "standard": "raspa-scrape",
    "batch": "raspa-scrape-batch",
    "ingest": "raspa-batch-ingest",
    "dlq": "raspa-scrape-dlq",
}
TASK = "a" * 32


def message(body: object, **attributes: str) -> dict:
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "rh-1",
        "Body": body if isinstance(body, str) else json.dumps(body),
        "Attributes": {"ApproximateReceiveCount": "11", **attributes},
    }


def test_given_a_scrape_message_naming_its_lane_then_it_goes_back_to_that_lane():
    letter = describe(message({"v": 1, "task_id": TASK, "numero_os": "123456", "lane": "vip"}))
    assert letter.kind == "scrape" and letter.lane == "vip"
    assert letter.task_id == TASK and letter.numero_os == "123456"
    assert letter.receive_count == 11 and letter.receipt_handle == "rh-1"
    assert letter.ref == TASK


def test_given_a_scrape_message_without_lane_then_the_queue_it_came_from_decides():
    body = {"v": 1, "task_id": TASK, "numero_os": "123456"}
    source = "arn:aws:sqs:us-east-1:123456789012:raspa-scrape-batch"
    assert describe(message(body, DeadLetterQueueSourceArn=source), NAMES).lane == "batch"


def test_given_a_scrape_message_without_lane_nor_known_source_then_it_goes_to_standard():
    body = {"v": 1, "task_id": TASK, "numero_os": "123456", "lane": "express"}
    source = "arn:aws:sqs:us-east-1:123456789012:someone-elses-queue"
    assert describe(message(body, DeadLetterQueueSourceArn=source), NAMES).lane == "standard"
    assert describe(message(body)).lane == "standard"


def test_given_batch_ingest_messages_then_they_go_back_to_the_ingest_queue():
    continuation = describe(message({"v": 1, "op": "ingest", "batch_id": "b1"}))
    assert (continuation.kind, continuation.lane, continuation.batch_id) == (
        "batch",
        "ingest",
        "b1",
    )
    upload = describe(message({"Records": [{"s3": {"object": {"key": "batches/ana/b2.csv"}}}]}))
    assert (upload.kind, upload.lane, upload.object_key) == ("s3", "ingest", "batches/ana/b2.csv")
    assert upload.ref == "batches/ana/b2.csv"


@pytest.mark.parametrize("body", ["not json", "[1, 2]", json.dumps({"task_id": TASK}), ""])
def test_given_a_body_raspa_did_not_write_then_it_has_no_lane(body):
    letter = describe(message(body))
    assert letter.kind == "unknown" and letter.lane is None and letter.ref == "-"


def test_given_an_s3_event_without_a_readable_key_then_it_still_goes_to_ingest():
    letter = describe(message({"Records": 1}))
    assert (letter.kind, letter.lane, letter.object_key) == ("s3", "ingest", None)


def test_lane_of_queue_reads_arns_and_urls():
    assert lane_of_queue("arn:aws:sqs:us-east-1:1:raspa-scrape-priority", NAMES) == "vip"
    assert lane_of_queue("http://127.0.0.1:4566/123456789012/raspa-scrape", NAMES) == "standard"
    assert lane_of_queue("arn:aws:sqs:us-east-1:1:other", NAMES) is None


def test_summary_counts_letters_by_lane_kind_and_known_reason():
    letters = [
        DeadLetter("1", "scrape", "vip", 10, "", task_id="t1"),
        DeadLetter("2", "scrape", "standard", 10, "", task_id="t2"),
        DeadLetter("3", "scrape", "standard", 10, "", task_id="t3"),
        DeadLetter("4", "unknown", None, 10, "x"),
    ]
    summary = summarise(letters, {"t1": "transient", "t2": "transient", "t3": "layout_changed"})
    assert summary == {
        "total": 4,
        "by_lane": {"vip": 1, "standard": 2, "unroutable": 1},
        "by_kind": {"scrape": 3, "unknown": 1},
        "by_reason": {"transient": 2, "layout_changed": 1},
    }


@pytest.mark.parametrize(
    "typed,queue",
    [
        ("vip", "vip"),
        ("priority", "vip"),
        ("Standard", "standard"),
        ("batch", "batch"),
        ("batch-ingest", "ingest"),
        ("ingest", "ingest"),
        ("dlq", "dlq"),
    ],
)
def test_given_a_lane_name_or_alias_then_the_queue_is_known(typed, queue):
    assert queue_named(typed) == queue


def test_given_an_unknown_lane_then_the_error_lists_the_names_to_use():
    with pytest.raises(ValueError, match=r"unknown lane 'express'.*priority"):
        queue_named("express")


def test_lanes_are_served_vip_then_standard_then_batch():
    assert earlier("vip", "standard") and earlier("standard", "batch") and earlier("vip", "batch")
    assert not earlier("batch", "vip") and not earlier("standard", "standard")
    assert not earlier("ingest", "batch")


@pytest.mark.parametrize(
    "result,action",
    [
        ("reopened", Disposition.SEND),
        ("active", Disposition.SEND),
        ("done", Disposition.DROP),
        ("superseded", Disposition.DROP),
        ("cached", Disposition.DROP),
        ("missing", Disposition.KEEP),
    ],
)
def test_what_reopening_a_task_found_decides_the_fate_of_its_letter(result, action):
    assert disposition(result) == action


def test_every_reopen_result_of_the_store_has_a_disposition():
    from chalicelib.adapters.dynamo.reopen import Reopen

    assert {disposition(r) for r in Reopen} <= {"send", "drop", "keep"}
    with pytest.raises(ValueError):
        disposition("vanished")


def test_recent_failures_are_the_letters_failed_tasks_newest_first_once_each():
    def task(pk: str, status: str, finished: float) -> SimpleNamespace:
        return SimpleNamespace(
            pk=pk,
            numero_os="1",
            status=status,
            attempts=4,
            error_reason="transient",
            error="portal unavailable",
            finished_at=finished,
        )

    letters = [
        DeadLetter("1", "scrape", "vip", 10, "", task_id="old"),
        DeadLetter("2", "scrape", "standard", 10, "", task_id="new"),
        DeadLetter("3", "scrape", "vip", 10, "", task_id="new"),
        DeadLetter("4", "scrape", "standard", 10, "", task_id="running"),
        DeadLetter("5", "scrape", "standard", 10, "", task_id="gone"),
    ]
    tasks = {
        "old": task("old", "FAILURE", 100.0),
        "new": task("new", "FAILURE", 200.0),
        "running": task("running", "PENDING", 300.0),
    }
    assert [r["task_id"] for r in ops.failures(letters, tasks)] == ["new", "old"]


def test_tables_pad_columns_and_align_numbers_right():
    text = table(["queue", "waiting"], [["vip", 3], ["standard", 12]])
    assert text.splitlines() == ["queue     waiting", "vip             3", "standard       12"]


def test_given_an_unknown_lane_when_purging_then_exit_2_with_one_line_and_no_aws_call(capsys):
    assert ops.main(["purge", "express", "--yes"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ops: unknown lane 'express'") and err.count("\n") == 1


def test_given_no_local_stack_file_when_running_a_command_then_exit_2_naming_make_run(
    tmp_path, capsys
):
    code = ops.main(["--local", "--state", str(tmp_path / "local.json"), "status"])
    err = capsys.readouterr().err
    assert code == 2 and "no local stack running" in err and "make run" in err
    assert err.count("\n") == 1


def test_given_an_unknown_command_then_exit_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        ops.main(["resurrect"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "invalid choice: 'resurrect'" in err
    assert err.count("\n") == 1


def test_options_may_come_after_the_command_without_undoing_those_before_it(tmp_path):
    state = str(tmp_path / "x.json")
    args = parser().parse_args(["--local", "task", "abc", "--state", state, "--json"])
    assert args.local and args.json and str(args.state) == state and args.task_id == "abc"
    args = parser().parse_args(["--json", "status"])
    assert args.json and not args.local


def test_a_command_leaves_the_environment_as_it_found_it(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("[profile prod]\nregion = sa-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    endpoint = "http://127.0.0.1:4566"
    state = tmp_path / "local.json"
    state.write_text(json.dumps({"aws_endpoint_url": endpoint, "dlq_url": f"{endpoint}/1/dlq"}))
    before = dict(os.environ)
    seen: list[tuple[dict, AwsClients]] = []

    def queue_urls(services, **options):  # where a command starts talking to AWS
        seen.append((dict(os.environ), services.aws))
        return {}

    monkeypatch.setattr(connect, "_probe", lambda *args: None)
    monkeypatch.setattr(connect, "queue_urls", queue_urls)
    for argv in (
        ["--local", "--state", str(state), "task", "nope"],
        ["--endpoint-url", endpoint, "task", "nope"],
    ):
        err = io.StringIO()
        assert ops.main(argv, out=io.StringIO(), err=err) == 2
        assert err.getvalue().startswith("ops: not a task id: 'nope'")
    assert dict(os.environ) == before
    [(local_env, local), (aws_env, aws)] = seen
    assert local_env == aws_env == before
    assert (local.endpoint_url, local.access_key_id, local.secret_access_key) == (
        endpoint,
        "local",
        "local",
    )
    assert (aws.endpoint_url, aws.access_key_id, aws.region) == (endpoint, None, "us-east-1")


def test_the_local_stacks_settings_come_from_its_local_json():
    info = {
        "aws_endpoint_url": "http://127.0.0.1:4566",
        "region": "eu-west-1",
        "queue_url": "http://127.0.0.1:4566/1/my-scrape",
        "priority_queue_url": "http://127.0.0.1:4566/1/my-vip",
        "ingest_queue_url": "http://127.0.0.1:4566/1/my-ingest",
        "dlq_url": "http://127.0.0.1:4566/1/my-dlq",
        "tasks_table": "my-tasks",
        "os_table": "my-os",
        "batch_bucket": "my-batches",
    }
    settings = connect.local_settings(info)
    assert settings.region == "eu-west-1" and settings.tasks_table == "my-tasks"
    assert (settings.os_table, settings.connections_table) == ("my-os", "raspa-connections")
    assert settings.queue_url == info["queue_url"] and settings.queue_name == "my-scrape"
    assert settings.priority_queue_url == info["priority_queue_url"]
    assert settings.priority_queue_name == "my-vip"
    assert (settings.batch_queue_url, settings.batch_queue_name) == ("", "raspa-scrape-batch")
    assert (settings.ingest_queue_name, settings.dlq_name) == ("my-ingest", "my-dlq")
    assert settings.batch_bucket == "my-batches"
    assert connect.local_settings(info, region="sa-east-1").region == "sa-east-1"


class FakeSqs:
    """The DLQ's letters, and what redrive sends and deletes."""

    def __init__(self, *bodies: dict) -> None:
        self.letters = [
            {**message(body), "MessageId": f"m-{i}", "ReceiptHandle": f"rh-{i}"}
            for i, body in enumerate(bodies)
        ]
        self.sent: list[tuple[str, str]] = []
        self.deleted: list[str] = []

    def receive_message(self, MaxNumberOfMessages: int, **_: object) -> dict:
        batch = self.letters[:MaxNumberOfMessages]
        self.letters = self.letters[MaxNumberOfMessages:]
        return {"Messages": batch}

    def send_message(self, QueueUrl: str, MessageBody: str) -> dict:
        self.sent.append((QueueUrl, MessageBody))
        return {"MessageId": f"sent-{len(self.sent)}"}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        self.deleted.append(ReceiptHandle)

    def change_message_visibility_batch(self, **_: object) -> None:
        pass


@pytest.mark.parametrize(
    "promotion,moved",
    [(Promotion.PROMOTED, True), (Promotion.NOT_NEEDED, False), (Promotion.MISSED, False)],
)
def test_given_a_second_letter_of_a_task_for_an_earlier_lane_then_it_is_sent_only_if_the_task_moved_up(  # noqa: E501
    promotion, moved
):
    # Given two letters of one task: the batch lane's, then the VIP lane's
    letter = {"v": 1, "task_id": TASK, "numero_os": "123456"}
    sqs = FakeSqs({**letter, "lane": Lane.BATCH}, {**letter, "lane": Lane.VIP})
    task = SimpleNamespace(pk=TASK, status=TaskStatus.PENDING, queue=Lane.BATCH)
    promoted: list[str] = []

    def promote(task: object, lane: str) -> Promoted:
        promoted.append(lane)
        return Promoted(promotion, task)  # type: ignore[arg-type]

    store = SimpleNamespace(
        reopener=SimpleNamespace(
            reopen=lambda task_id, lane: SimpleNamespace(result=Reopen.REOPENED, holder=None)
        ),
        tasks=SimpleNamespace(get_task=lambda task_id: task, promote=promote),
    )
    services = SimpleNamespace(
        settings=Settings(), store=store, aws=SimpleNamespace(client=lambda name: sqs)
    )
    urls = {queue: f"url-{queue}" for queue in NAMES}
    # When redriven
    report = ops.redrive(ops.Ops(services, urls, NAMES, "a test"))  # type: ignore[arg-type]
    # Then the first goes back to the batch lane, and the second to the VIP lane only if
    # the task was moved there (else it is a duplicate of the first)
    assert promoted == [Lane.VIP] and sqs.deleted == ["rh-0", "rh-1"]
    first, second = report.letters
    assert (first.action, first.to, first.why) == (Disposition.SEND, Lane.BATCH, "reopened")
    if moved:
        assert (second.action, second.to) == (Disposition.SEND, Lane.VIP)
        assert second.why == "moved up from batch"
        assert [url for url, _ in sqs.sent] == ["url-batch", "url-vip"]
    else:
        assert (second.action, second.why) == (Disposition.DROP, "duplicate (sent to batch)")
        assert [url for url, _ in sqs.sent] == ["url-batch"]

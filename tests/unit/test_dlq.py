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
from chalicelib.domain.codec import ScrapeMessage
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
    queue_named,
    summarise,
)
from ops.output import table

NAMES = {"scrape": "raspa-scrape", "ingest": "raspa-batch-ingest", "dlq": "raspa-scrape-dlq"}
TASK = "a" * 32


def message(body: object, **attributes: str) -> dict:
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "rh-1",
        "Body": body if isinstance(body, str) else json.dumps(body),
        "Attributes": {"ApproximateReceiveCount": "11", **attributes},
    }


def test_given_a_scrape_message_naming_its_lane_then_it_goes_back_to_the_scrape_queue_in_it():
    letter = describe(message({"v": 1, "task_id": TASK, "numero_os": "123456", "lane": "vip"}))
    assert letter.kind == "scrape" and letter.lane == "vip" and letter.queue == "scrape"
    assert letter.task_id == TASK and letter.numero_os == "123456"
    assert letter.receive_count == 11 and letter.receipt_handle == "rh-1"
    assert letter.ref == TASK


@pytest.mark.parametrize("lane", [None, "express"])
def test_given_a_scrape_message_naming_no_known_lane_then_it_names_none_and_its_task_decides(
    lane,
):
    body = {"v": 1, "task_id": TASK, "numero_os": "123456", "lane": lane}
    source = "arn:aws:sqs:us-east-1:123456789012:raspa-scrape"
    letter = describe(message(body, DeadLetterQueueSourceArn=source))
    assert (letter.kind, letter.lane, letter.queue) == ("scrape", None, "scrape")


def test_given_a_plain_wake_up_then_it_goes_back_to_the_scrape_queue_as_it_is():
    letter = describe(message(ScrapeMessage.wakeup().encode()))
    assert (letter.kind, letter.lane, letter.queue, letter.ref) == ("wake", None, "scrape", "-")


def test_given_batch_ingest_messages_then_they_go_back_to_the_ingest_queue():
    continuation = describe(message({"v": 1, "op": "ingest", "batch_id": "b1"}))
    assert (continuation.kind, continuation.queue, continuation.batch_id) == (
        "batch",
        "ingest",
        "b1",
    )
    upload = describe(message({"Records": [{"s3": {"object": {"key": "batches/ana/b2.csv"}}}]}))
    assert (upload.kind, upload.lane, upload.object_key) == ("s3", "ingest", "batches/ana/b2.csv")
    assert upload.ref == "batches/ana/b2.csv"


@pytest.mark.parametrize("body", ["not json", "[1, 2]", json.dumps({"task_id": TASK}), ""])
def test_given_a_body_raspa_did_not_write_then_it_has_no_lane_nor_queue(body):
    letter = describe(message(body))
    assert letter.kind == "unknown" and letter.lane is None and letter.ref == "-"
    assert letter.queue is None


def test_given_an_s3_event_without_a_readable_key_then_it_still_goes_to_ingest():
    letter = describe(message({"Records": 1}))
    assert (letter.kind, letter.lane, letter.object_key) == ("s3", "ingest", None)


def test_summary_counts_letters_by_lane_kind_and_known_reason():
    letters = [
        DeadLetter("1", "scrape", "vip", 10, "", task_id="t1"),
        DeadLetter("2", "scrape", "standard", 10, "", task_id="t2"),
        DeadLetter("3", "scrape", "standard", 10, "", task_id="t3"),
        DeadLetter("4", "unknown", None, 10, "x"),
        DeadLetter("5", "wake", None, 10, '{"v":1,"wake":true}'),
    ]
    summary = summarise(letters, {"t1": "transient", "t2": "transient", "t3": "layout_changed"})
    assert summary == {
        "total": 5,
        "by_lane": {"vip": 1, "standard": 2, "unroutable": 1, "-": 1},
        "by_kind": {"scrape": 3, "unknown": 1, "wake": 1},
        "by_reason": {"transient": 2, "layout_changed": 1},
    }


@pytest.mark.parametrize(
    "typed,queue",
    [
        ("vip", "vip"),
        ("priority", "vip"),
        ("Standard", "standard"),
        ("batch", "batch"),
        ("Scrape", "scrape"),
        ("batch-ingest", "ingest"),
        ("ingest", "ingest"),
        ("dlq", "dlq"),
    ],
)
def test_given_a_lane_or_queue_name_or_alias_then_it_is_known(typed, queue):
    assert queue_named(typed) == queue


def test_given_an_unknown_lane_then_the_error_lists_the_names_to_use():
    with pytest.raises(ValueError, match=r"unknown lane or queue 'express'.*priority.*scrape"):
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
    assert err.startswith("ops: unknown lane or queue 'express'") and err.count("\n") == 1


def test_given_the_scrape_queue_when_purging_then_it_is_refused_in_one_line_and_no_aws_call(
    capsys,
):
    assert ops.main(["purge", "scrape", "--yes"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ops: the scrape queue is not purged") and err.count("\n") == 1
    assert "purge a lane instead" in err


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
    assert settings.ingest_queue_url == info["ingest_queue_url"]
    assert (settings.ingest_queue_name, settings.dlq_name) == ("my-ingest", "my-dlq")
    assert settings.batch_bucket == "my-batches"
    assert connect.local_settings(info, region="sa-east-1").region == "sa-east-1"


def test_the_queues_ops_knows_are_the_scrape_queue_the_ingest_queue_and_the_dlq():
    assert connect.queue_names(Settings()) == {
        "scrape": "raspa-scrape",
        "ingest": "raspa-batch-ingest",
        "dlq": "raspa-scrape-dlq",
    }


class FakeSqs:
    """The DLQ's letters (hidden once received, until released or deleted), and what
    redrive sends, deletes and moves."""

    def __init__(self, *bodies: object) -> None:
        self.letters = [
            {**message(body), "MessageId": f"m-{i}", "ReceiptHandle": f"rh-{i}"}
            for i, body in enumerate(bodies)
        ]
        self.hidden: set[str] = set()
        self.sent: list[tuple[str, str]] = []
        self.deleted: list[str] = []
        self.moves: list[dict] = []

    def receive_message(self, MaxNumberOfMessages: int, **_: object) -> dict:
        visible = [m for m in self.letters if m["ReceiptHandle"] not in self.hidden]
        batch = visible[:MaxNumberOfMessages]
        self.hidden.update(m["ReceiptHandle"] for m in batch)
        return {"Messages": batch}

    def send_message(self, QueueUrl: str, MessageBody: str, **_: object) -> dict:
        self.sent.append((QueueUrl, MessageBody))
        return {"MessageId": f"sent-{len(self.sent)}"}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        self.deleted.append(ReceiptHandle)
        self.letters = [m for m in self.letters if m["ReceiptHandle"] != ReceiptHandle]

    def change_message_visibility_batch(self, Entries: list[dict], **_: object) -> None:
        self.hidden -= {e["ReceiptHandle"] for e in Entries if e["VisibilityTimeout"] == 0}

    def get_queue_attributes(self, QueueUrl: str, **_: object) -> dict:
        return {"Attributes": {"QueueArn": f"arn:{QueueUrl}"}}

    def start_message_move_task(self, **options: str) -> dict:
        self.moves.append(options)
        return {"TaskHandle": "move-1"}


class Store:
    """The stores redrive uses: every task reopens, ``task`` is what reads return."""

    def __init__(self, task: object, promotion: Promotion = Promotion.NOT_NEEDED) -> None:
        self.task = task
        self.promotion = promotion
        self.reopened: list[tuple[str, str]] = []
        self.promoted: list[str] = []
        self.reopener = SimpleNamespace(reopen=self.reopen)
        self.tasks = SimpleNamespace(get_task=lambda task_id: self.task, promote=self.promote)

    def reopen(self, task_id: str, lane: str) -> SimpleNamespace:
        self.reopened.append((task_id, lane))
        return SimpleNamespace(result=Reopen.REOPENED, holder=None)

    def promote(self, task: object, lane: str) -> Promoted:
        self.promoted.append(lane)
        return Promoted(self.promotion, task)  # type: ignore[arg-type]


def on(sqs: FakeSqs, store: Store, *, local: bool = False) -> ops.Ops:
    services = SimpleNamespace(
        settings=Settings(), store=store, aws=SimpleNamespace(client=lambda name: sqs)
    )
    urls = {queue: f"url-{queue}" for queue in NAMES}
    return ops.Ops(services, urls, NAMES, "a test", local=local)  # type: ignore[arg-type]


def waiting(lane: Lane = Lane.BATCH, status: str = TaskStatus.PENDING) -> SimpleNamespace:
    return SimpleNamespace(pk=TASK, status=status, queue=lane, lane=lane)


@pytest.mark.parametrize(
    "promotion,moved",
    [(Promotion.PROMOTED, True), (Promotion.NOT_NEEDED, False), (Promotion.MISSED, False)],
)
def test_given_two_letters_of_a_task_when_redriven_then_one_wake_up_names_it_and_the_second_only_moves_it_up(  # noqa: E501
    promotion, moved
):
    # Given two letters of one task: the batch lane's, then the VIP lane's
    letter = {"v": 1, "task_id": TASK, "numero_os": "123456"}
    sqs = FakeSqs({**letter, "lane": Lane.BATCH}, {**letter, "lane": Lane.VIP})
    store = Store(waiting(), promotion)
    # When redriven
    report = ops.redrive(on(sqs, store))
    # Then the task is reopened in the batch lane and woken for once on the scrape queue;
    # the second letter is dropped, the task moved to the VIP lane if it still waited
    assert store.reopened == [(TASK, Lane.BATCH)] and store.promoted == [Lane.VIP]
    assert sqs.deleted == ["rh-0", "rh-1"]
    [(url, body)] = sqs.sent
    assert url == "url-scrape"
    assert ScrapeMessage.decode(body) == ScrapeMessage(TASK, "123456", Lane.BATCH)
    first, second = report.letters
    assert (first.action, first.to, first.lane, first.why) == (
        Disposition.SEND,
        "scrape",
        Lane.BATCH,
        "reopened",
    )
    assert second.action == Disposition.DROP
    if moved:
        assert second.why == "moved up to vip from batch"
    else:
        assert second.why == "duplicate (woken for in batch)"
    assert report.count(Disposition.SEND) == {"batch": 1}


def test_given_a_task_that_fails_again_during_the_redrive_then_its_new_letter_stays_in_the_dlq():
    letter = {"v": 1, "task_id": TASK, "numero_os": "123456", "lane": "standard"}
    sqs = FakeSqs(letter, letter)
    store = Store(waiting(Lane.STANDARD, TaskStatus.FAILURE))
    report = ops.redrive(on(sqs, store))
    assert [(r.action, r.why) for r in report.letters] == [
        (Disposition.SEND, "reopened"),
        (Disposition.KEEP, "failed again during this redrive"),
    ]
    assert sqs.deleted == ["rh-0"] and len(sqs.sent) == 1


def test_given_a_letter_naming_no_lane_when_redriven_then_its_task_reopens_in_its_own_lane():
    sqs = FakeSqs({"v": 1, "task_id": TASK, "numero_os": "123456"})
    store = Store(waiting(Lane.VIP, TaskStatus.FAILURE))
    report = ops.redrive(on(sqs, store))
    assert store.reopened == [(TASK, Lane.VIP)]
    assert ScrapeMessage.decode(sqs.sent[0][1]).lane == Lane.VIP
    assert report.count(Disposition.SEND) == {"vip": 1}


def test_given_wake_ups_ingest_messages_and_foreign_bodies_when_redriven_then_each_goes_back_to_its_queue_or_stays():  # noqa: E501
    wake = ScrapeMessage.wakeup().encode()
    ingest = {"v": 1, "op": "ingest", "batch_id": "b1"}
    sqs = FakeSqs(wake, ingest, "not json")
    report = ops.redrive(on(sqs, Store(None)))
    assert sqs.sent == [("url-scrape", wake), ("url-ingest", json.dumps(ingest))]
    assert [(r.action, r.to) for r in report.letters] == [
        (Disposition.SEND, "scrape"),
        (Disposition.SEND, "ingest"),
        (Disposition.KEEP, None),
    ]
    assert report.count(Disposition.SEND) == {"wake-up": 1, "ingest": 1}
    assert sqs.deleted == ["rh-0", "rh-1"]


def test_given_sqs_move_then_tasks_are_reopened_ingest_letters_resent_and_sqs_moves_the_rest_to_the_scrape_queue():  # noqa: E501
    scrape = {"v": 1, "task_id": TASK, "numero_os": "123456", "lane": "vip"}
    ingest = {"v": 1, "op": "finalize", "batch_id": "b1"}
    sqs = FakeSqs(scrape, ingest)
    store = Store(waiting(Lane.VIP, TaskStatus.FAILURE))
    report = ops.redrive_by_move_task(on(sqs, store), limit=10)
    assert store.reopened == [(TASK, Lane.VIP)]
    assert sqs.sent == [("url-ingest", json.dumps(ingest))] and sqs.deleted == ["rh-1"]
    assert sqs.moves == [{"SourceArn": "arn:url-dlq", "DestinationArn": "arn:url-scrape"}]
    assert report.move_task == "move-1"


def test_given_sqs_move_with_more_letters_than_its_max_then_it_redrives_letter_by_letter():
    letters = [{"v": 1, "task_id": c * 32, "numero_os": "1", "lane": "standard"} for c in "abc"]
    sqs = FakeSqs(*letters)
    report = ops.redrive_by_move_task(on(sqs, Store(waiting(Lane.STANDARD))), limit=2)
    assert sqs.moves == [] and report.move_task is None
    assert any("more than 2 letters" in note for note in report.notes)
    assert report.count(Disposition.SEND) == {"standard": 3} and sqs.letters == []


def test_given_the_local_stack_when_sqs_move_is_asked_then_it_redrives_letter_by_letter():
    sqs = FakeSqs({"v": 1, "task_id": TASK, "numero_os": "1", "lane": "batch"})
    report = ops.redrive_by_move_task(on(sqs, Store(waiting()), local=True))
    assert sqs.moves == [] and report.count(Disposition.SEND) == {"batch": 1}
    assert report.notes == ["this SQS has no StartMessageMoveTask: redrove letter by letter"]

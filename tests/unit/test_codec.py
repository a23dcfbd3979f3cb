"""Queue message bodies (chalicelib/domain/codec.py): what raspa writes, and what it refuses."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.codec import (
    IngestMessage,
    IngestOp,
    ScrapeMessage,
    UploadNotice,
    decode_ingest,
)
from chalicelib.domain.lanes import Lane
from chalicelib.errors import MalformedMessageError
from ops.letters import describe

TASK = "0123456789abcdef" * 2


# ------------------------------------------------------------------- scrape
def test_given_a_scrape_request_when_encoded_then_the_body_is_the_one_raspa_always_sent():
    assert ScrapeMessage(TASK, "123456", Lane.VIP).encode() == (
        '{"v":1,"task_id":"' + TASK + '","numero_os":"123456","lane":"vip"}'
    )
    assert ScrapeMessage(TASK, "123456").encode() == (
        '{"v":1,"task_id":"' + TASK + '","numero_os":"123456"}'
    )


@pytest.mark.parametrize("lane", [None, *Lane])
def test_given_an_encoded_scrape_request_when_decoded_then_it_is_the_same(lane):
    message = ScrapeMessage(TASK, "123456", lane)
    assert ScrapeMessage.decode(message.encode()) == message
    assert ScrapeMessage.decode(message.encode().encode()) == message  # bytes too


def test_given_a_lane_value_when_a_request_is_made_then_the_lane_is_a_lane():
    assert ScrapeMessage(TASK, "1", "batch").lane is Lane.BATCH  # type: ignore[arg-type]


def test_given_a_body_without_version_nor_extra_keys_when_decoded_then_it_is_read():
    body = json.dumps({"task_id": TASK, "numero_os": "7", "trace": "x"})
    assert ScrapeMessage.decode(body) == ScrapeMessage(TASK, "7")


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "",
        "[1, 2]",
        "null",
        json.dumps({"numero_os": "1"}),
        json.dumps({"task_id": "t1", "numero_os": "1"}),
        json.dumps({"task_id": TASK.upper(), "numero_os": "1"}),
        json.dumps({"task_id": TASK, "numero_os": ""}),
        json.dumps({"task_id": TASK, "numero_os": 123}),
        json.dumps({"task_id": TASK, "numero_os": "1", "lane": "express"}),
        json.dumps({"task_id": TASK, "numero_os": "1", "lane": ["vip"]}),
        json.dumps({"v": 2, "task_id": TASK, "numero_os": "1"}),
        json.dumps({"v": True, "task_id": TASK, "numero_os": "1"}),
        "[" * 100_000,
    ],
)
def test_given_a_body_raspa_did_not_write_when_decoded_then_it_is_malformed(body):
    with pytest.raises(MalformedMessageError):
        ScrapeMessage.decode(body)


def test_given_a_malformed_body_then_the_error_is_also_a_value_error():
    """The worker and the ingest treat a ValueError as a malformed message."""
    with pytest.raises(ValueError, match="not JSON"):
        ScrapeMessage.decode("{")
    with pytest.raises(MalformedMessageError):
        ScrapeMessage.decode(None)  # type: ignore[arg-type]


# ------------------------------------------------------------------- ingest
@pytest.mark.parametrize(
    "message,body",
    [
        (IngestMessage(IngestOp.INGEST, "b1"), '{"v":1,"op":"ingest","batch_id":"b1"}'),
        (IngestMessage(IngestOp.FINALIZE, "b1"), '{"v":1,"op":"finalize","batch_id":"b1"}'),
        (IngestMessage(IngestOp.RELEASE, "b1"), '{"v":1,"op":"release","batch_id":"b1"}'),
        (IngestMessage(IngestOp.CANCEL, "b1"), '{"v":1,"op":"cancel","batch_id":"b1","from":0}'),
        (
            IngestMessage(IngestOp.CANCEL, "b1", 40),
            '{"v":1,"op":"cancel","batch_id":"b1","from":40}',
        ),
    ],
)
def test_given_an_ingest_message_when_encoded_then_decoded_then_the_body_is_unchanged(
    message, body
):
    assert message.encode() == body
    assert decode_ingest(body) == message == IngestMessage.decode(body)


def test_given_an_operation_as_text_when_a_message_is_made_then_it_is_an_operation():
    assert IngestMessage("cancel", "b1", 2).op is IngestOp.CANCEL  # type: ignore[arg-type]


def test_given_a_from_on_another_operation_when_decoded_then_it_is_ignored():
    body = json.dumps({"v": 1, "op": "ingest", "batch_id": "b1", "from": 5})
    assert decode_ingest(body) == IngestMessage(IngestOp.INGEST, "b1")
    with pytest.raises(MalformedMessageError):
        IngestMessage(IngestOp.INGEST, "b1", 5)


@pytest.mark.parametrize(
    "payload,problem",
    [
        ({"op": "ingest"}, "batch_id"),
        ({"op": "ingest", "batch_id": "../etc"}, "batch_id"),
        ({"op": "explode", "batch_id": ""}, "batch_id"),  # the id is checked first
        ({"op": "explode", "batch_id": "b1"}, "unknown ingest operation"),
        ({"op": ["cancel"], "batch_id": "b1"}, "unknown ingest operation"),
        ({"op": "cancel", "batch_id": "b1", "from": -1}, "non-negative"),
        ({"op": "cancel", "batch_id": "b1", "from": True}, "non-negative"),
        ({"op": "cancel", "batch_id": "b1", "from": "3"}, "non-negative"),
        ({"v": 2, "op": "ingest", "batch_id": "b1"}, "version"),
    ],
)
def test_given_a_bad_ingest_message_when_decoded_then_the_problem_is_named(payload, problem):
    with pytest.raises(MalformedMessageError, match=problem):
        decode_ingest(json.dumps(payload))


def test_given_s3_s_test_event_when_decoded_then_it_is_a_notice_without_keys():
    notice = decode_ingest(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}))
    assert notice == UploadNotice(test_event=True)
    assert decode_ingest(notice.encode()) == notice


def test_given_an_upload_notification_when_decoded_then_its_keys_are_url_decoded():
    body = {
        "Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "batches/ana/b1.csv"}}},
            {"s3": {"bucket": {"name": "x"}, "object": {"key": "batches/j%C3%BA+lia/b2.csv"}}},
        ]
    }
    notice = decode_ingest(json.dumps(body))
    assert notice == UploadNotice(("batches/ana/b1.csv", "batches/jú lia/b2.csv"))
    assert decode_ingest(notice.encode()) == notice


def test_given_a_notification_without_records_when_decoded_then_it_has_no_keys():
    assert decode_ingest('{"Records": null}') == UploadNotice()
    assert decode_ingest('{"Records": []}') == UploadNotice()


@pytest.mark.parametrize(
    "records",
    [{"s3": {}}, ["batches/ana/b1.csv"], [{"s3": None}], [{"s3": {"object": {"key": 7}}}]],
)
def test_given_a_notification_raspa_cannot_read_when_decoded_then_it_is_malformed(records):
    with pytest.raises(MalformedMessageError):
        decode_ingest(json.dumps({"Records": records}))


def test_given_a_notification_when_decoded_as_raspa_s_own_message_then_it_is_refused():
    with pytest.raises(MalformedMessageError, match="S3 notification"):
        IngestMessage.decode(UploadNotice(("batches/ana/b1.csv",)).encode())


# ---------------------------------------------------------------------- ops
def test_given_bodies_the_codec_wrote_when_ops_reads_them_as_dead_letters_then_it_agrees():
    def letter(body: str):
        return describe({"MessageId": "m", "Body": body, "Attributes": {}})

    scrape = letter(ScrapeMessage(TASK, "9", Lane.BATCH).encode())
    assert (scrape.kind, scrape.lane, scrape.task_id, scrape.numero_os) == (
        "scrape",
        "batch",
        TASK,
        "9",
    )
    cancel = letter(IngestMessage(IngestOp.CANCEL, "b1").encode())
    assert (cancel.kind, cancel.lane, cancel.batch_id) == ("batch", "ingest", "b1")
    upload = letter(UploadNotice(("batches/ana/b1.csv",)).encode())
    assert (upload.kind, upload.object_key) == ("s3", "batches/ana/b1.csv")

"""Batch uploads end to end in moto: the API, the bucket's notification, the chunked
ingest and its resumption, the batch lane, counts, results files and notifications."""

from __future__ import annotations

import json
import time

import pytest

import app as raspa_app
from chalicelib.domain.batches import task_id_for
from tests.support.batches import Countdown
from tests.support.batchkit import (
    csv_of,
    held_numbers,
    make_visible,
    ws_connect,
)


# ------------------------------------------------------------------- the API
def test_creating_a_batch_gives_a_presigned_put_under_the_users_prefix(kit):
    created = kit.create(120, filename="Lista de OS.csv")
    batch_id = created["batch_id"]
    assert created["status"] == "awaiting_upload"
    assert created["status_url"] == f"/batches/{batch_id}"
    upload = created["upload"]
    assert upload["method"] == "PUT" and upload["max_bytes"] == kit.aws.settings.batch_max_bytes
    assert f"/batches/ana/{batch_id}.csv" in upload["url"]
    status, body = kit.view(batch_id)
    assert status == 200
    assert body["status"] == "awaiting_upload" and body["filename"] == "Lista de OS.csv"
    assert body["counts"]["lines"] == 0 and "results" not in body


def test_the_upload_url_signs_the_declared_size_and_type_with_sigv4(kit):
    # S3 refuses a PUT whose signed headers differ: another size or type cannot be uploaded
    # with this URL (moto does not check signatures, so the signature itself is asserted).
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(kit.create(10)["upload"]["url"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert set(query["X-Amz-SignedHeaders"][0].split(";")) >= {"content-length", "content-type"}
    assert int(query["X-Amz-Expires"][0]) == kit.aws.settings.batch_url_expiry_seconds


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_size"),
        ({"size": 0}, "invalid_size"),
        ({"size": -5}, "invalid_size"),
        ({"size": "100"}, "invalid_size"),
        ({"size": True}, "invalid_size"),
        ({"size": 1.5}, "invalid_size"),
        ({"size": 10 * 1024 * 1024 + 1}, "file_too_large"),
        ({"size": 10, "filename": "x" * 201}, "invalid_filename"),
        ({"size": 10, "filename": 7}, "invalid_filename"),
    ],
    ids=lambda v: json.dumps(v)[:40] if isinstance(v, dict) else v,
)
def test_bad_batch_requests_are_400_naming_the_problem(kit, body, code):
    response = kit.client.http.post(
        "/batches",
        headers={**kit.aws.headers(), "Content-Type": "application/json"},
        body=json.dumps(body).encode(),
    )
    assert response.status_code == 400, response.body
    answer = json.loads(response.body)
    assert answer["error"] == code and answer["message"]


def test_a_batch_is_visible_to_its_owner_only(kit):
    batch_id = kit.create(10)["batch_id"]
    status, body = kit.view(batch_id, "bruno")
    assert status == 404 and body["error"] == "batch_not_found"
    for other in ("0" * 32, "x" * 65, "..%2Fetc", "a%00b"):
        status, body = kit.view(other)
        assert status == 404 and body["error"] == "batch_not_found", body


def test_batch_routes_need_a_token(kit):
    assert kit.client.http.post("/batches", headers={}).status_code == 401
    assert kit.client.http.get("/batches/abc", headers={}).status_code == 401


# ---------------------------------------------------------------- the ingest
def test_an_uploaded_file_is_counted_exactly_and_every_line_ends_in_the_results(
    kit, scraper, sqs_calls
):
    # Given two numbers cached (one found, one known missing), one with an active task
    kit.seed_cache(["100001"])
    kit.seed_cache(["100002"], outcome="not_found")
    joined = kit.client.http.post("/buscar-os-async/100003", headers=kit.aws.headers("bruno"))
    assert joined.status_code == 202
    scraper.not_found, scraper.broken = {"100005"}, {"100006"}
    # And a Windows-1252 ';' CSV with a header, invalid lines, a duplicate and blank lines
    body = csv_of(
        "Cliente;Número OS;Cidade",
        "Conceição;100001;São Paulo",
        "Ana;100002;Recife",
        "Bia;100003;Natal",
        "",
        "Caio;100004;Belém",
        "Davi;abc;Goiânia",
        "Eva;100004;Belém",
        "Fábio;100005;Salvador",
        "Gil;;Manaus",
        "Hugo;100006;Porto Alegre",
        "   ",
        encoding="cp1252",
        newline="\r\n",
    )
    # When it is uploaded and the bucket's notification is handled
    batch_id = kit.upload(body)
    sqs_calls.calls.clear()
    assert kit.ingest() == ["ok"]
    # Then every line is counted once, and the new numbers went out in one SendMessageBatch
    _, view = kit.view(batch_id)
    assert view["status"] == "running"
    assert view["counts"] == {
        "lines": 9,
        "valid": 6,
        "invalid": 2,
        "duplicates": 1,
        "cached": 2,
        "joined": 1,
        "queued": 3,
        "succeeded": 1,
        "failed": 0,
        "not_found": 1,
    }
    assert sqs_calls.calls.get("SendMessageBatch") == 1
    assert sqs_calls.calls.get("SendMessage") == 1  # the ingest queue's later release look
    queued = sorted(m["numero_os"] for m in kit.lane_messages())
    assert queued == ["100004", "100005", "100006"]
    assert sorted(m["lane"] for m in kit.lane_messages(None)) == ["batch"] * 3 + ["standard"]

    # When the scrape queue is drained: one wake-up per task, each running the best task
    # waiting (a layout change fails at once and its letter goes to the DLQ)
    assert kit.scrape() == ["ok"] * 4
    assert kit.depth(kit.batch_url) == 0 and kit.depth(kit.aws.dlq_url) == 1
    # Then the counts have every outcome and a finalize message completes the batch
    assert sorted(scraper.calls) == ["100003", "100004", "100005", "100006"]
    kit.ingest()
    _status, view = kit.view(batch_id)
    assert view["status"] == "complete" and view["progress"] == 100
    assert view["counts"]["succeeded"] == 3
    assert view["counts"]["not_found"] == 2 and view["counts"]["failed"] == 1
    rows, as_json, raw = kit.results(batch_id)
    assert raw.startswith(b"\xef\xbb\xbf")
    assert rows[0][:4] == ["linha", "numero_os", "resultado", "mensagem"]
    results = {row[0]: row[2] for row in rows[1:]}
    assert results == {
        "2": "found",
        "3": "not_found",
        "4": "found",
        "6": "found",
        "7": "invalid",
        "8": "duplicate",
        "9": "not_found",
        "10": "invalid",
        "11": "failed",
    }
    by_line = {row[0]: row for row in rows[1:]}
    assert "Conceição" in by_line["2"]  # scraped data, accents intact
    assert "linha 6" in by_line["8"][3] or "line 6" in by_line["8"][3]
    assert as_json["counts"] == view["counts"]
    assert [line["line"] for line in as_json["lines"]] == [2, 3, 4, 6, 7, 8, 9, 10, 11]


def test_the_owner_is_told_the_progress_and_the_end_over_the_websocket(kit, scraper):
    ws_connect("ana-1", kit.aws.tokens["ana"])
    ws_connect("bruno-1", kit.aws.tokens["bruno"])
    batch_id = kit.upload(csv_of("200001", "200002", "200003"))
    kit.ingest()
    kit.scrape()
    kit.ingest()
    events = [e for e in kit.api_gw.sent.get("ana-1", []) if e.get("batch_id") == batch_id]
    assert events, kit.api_gw.sent
    progress = [e for e in events if e["status"] == "progress"]
    done = [e["counts"]["succeeded"] for e in progress]
    assert done == sorted(done) and progress[-1]["counts"]["succeeded"] >= 2
    assert events[-1]["status"] == "complete" and events[-1]["counts"]["succeeded"] == 3
    assert not [e for e in kit.api_gw.sent.get("bruno-1", []) if "batch_id" in e]


def test_a_file_of_cached_numbers_completes_during_its_ingest(kit, scraper, sqs_calls):
    kit.seed_cache([f"3000{i:02d}" for i in range(30)])
    batch_id = kit.upload(csv_of("numero", *[f"3000{i:02d}" for i in range(30)]))
    sqs_calls.calls.clear()
    kit.ingest()
    _status, view = kit.view(batch_id)
    assert view["status"] == "complete" and view["counts"]["cached"] == 30
    assert view["counts"]["succeeded"] == 30 and scraper.calls == []
    assert "SendMessageBatch" not in sqs_calls.calls
    rows, _, _ = kit.results(batch_id)
    assert len(rows) == 31 and {row[2] for row in rows[1:]} == {"found"}


def test_a_direct_upload_to_the_bucket_without_the_api_is_ingested_too(kit, scraper):
    key = "batches/ops/0123456789abcdef0123456789abcdef.csv"
    kit.s3.put_object(Bucket=kit.bucket, Key=key, Body=csv_of("400001", "400002"))
    kit.ingest()
    batch = raspa_app.services().batches.batches.get("0123456789abcdef0123456789abcdef")
    assert batch.owner == "ops" and batch.status == "running" and batch.queued == 2


def test_objects_outside_the_upload_layout_are_ignored(kit, scraper):
    kit.s3.put_object(Bucket=kit.bucket, Key="batches/ana/notes.txt", Body=b"123\n")
    kit.s3.put_object(Bucket=kit.bucket, Key="batches/a/b/c.csv", Body=b"123\n")
    assert kit.ingest() in ([], ["ok"], ["ok", "ok"])
    assert kit.depth(kit.batch_url) == 0


def test_a_repeated_notification_counts_nothing_twice(kit, scraper):
    batch_id = kit.upload(csv_of("500001", "500002", "500003"))
    key = f"batches/ana/{batch_id}.csv"
    note = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": kit.bucket}, "object": {"key": key}},
            }
        ]
    }
    kit.aws.sqs.send_message(QueueUrl=kit.ingest_url, MessageBody=json.dumps(note))
    kit.ingest()
    _, view = kit.view(batch_id)
    assert view["counts"]["queued"] == 3 and kit.depth(kit.batch_url) == 3


# ------------------------------------------------------------------- limits
def test_a_file_over_the_line_limit_is_rejected_with_the_reason(kit, monkeypatch, scraper):
    kit.aws.reconfigure(batch_max_lines=5)
    ws_connect("ana-1", kit.aws.tokens["ana"])
    batch_id = kit.upload(csv_of(*[f"60000{i}" for i in range(6)]))
    kit.ingest()
    _, view = kit.view(batch_id)
    assert view["status"] == "rejected" and "more than 5" in view["error"]
    assert kit.depth(kit.batch_url) == 0
    rejected = [e for e in kit.api_gw.sent["ana-1"] if e.get("status") == "rejected"]
    assert rejected and rejected[0]["batch_id"] == batch_id


def test_the_daily_line_quota_rejects_the_batch_that_would_exceed_it(kit, monkeypatch, scraper):
    kit.aws.reconfigure(batch_daily_lines=5)
    first = kit.upload(csv_of("700001", "700002", "700003"))
    kit.ingest()
    second = kit.upload(csv_of("700004", "700005", "700006"))
    kit.ingest()
    assert kit.view(first)[1]["status"] == "running"
    _, view = kit.view(second)
    assert view["status"] == "rejected"
    assert "daily limit of 5" in view["error"] and "3 used today" in view["error"]
    other = kit.upload(csv_of("700007"), user="bruno")  # each user has a quota of their own
    kit.ingest()
    assert kit.view(other, "bruno")[1]["status"] == "running"


def test_a_file_with_only_a_header_is_rejected_with_the_reason(kit, scraper):
    batch_id = kit.upload(csv_of("numero_os", "", ""))
    kit.ingest()
    _, view = kit.view(batch_id)
    assert view["status"] == "rejected" and "no data lines" in view["error"]


def test_a_file_that_is_not_a_list_of_numbers_is_rejected_with_the_reason(kit, scraper):
    batch_id = kit.upload(csv_of("nome;cidade", "Ana;Recife"))
    kit.ingest()
    _, view = kit.view(batch_id)
    assert view["status"] == "rejected" and "numero_os" in view["error"]


# ------------------------------------------------------- chunks and resumption
def _numbers(n: int, start: int = 800000) -> list[str]:
    return [str(start + i) for i in range(n)]


def test_an_ingest_running_out_of_time_continues_in_a_new_invocation(kit, scraper, sqs_calls):
    # Given a file of 450 new numbers and invocations with time for about two chunks each
    numbers = _numbers(450)
    kit.seed_cache(numbers[:50])
    batch_id = kit.upload(csv_of("numero_os", *numbers))

    class Short(Countdown):
        """45 s left, 10 s less at each look: two chunks, then time to stop (30 s margin)."""

        def __init__(self) -> None:
            super().__init__(start_ms=45_000, step_ms=10_000)

    sqs_calls.calls.clear()
    outcomes = []
    for _ in range(10):
        kit.context = Short()
        got = kit.ingest(limit=1)
        if not got:
            break
        outcomes += got
    # Then it took several invocations, each continuing from the saved offset
    assert outcomes == ["ok", "ok", "ok"]
    _, view = kit.view(batch_id)
    assert view["status"] == "running"
    counts = view["counts"]
    assert (counts["valid"], counts["cached"], counts["queued"]) == (450, 50, 400)
    # And only the release window went to the batch queue, the first numbers first; the
    # rest are held in the fair order, their file's order
    window = raspa_app.services().settings.batch_release_window
    messages = kit.lane_messages()
    assert [m["numero_os"] for m in messages] == numbers[50 : 50 + window]
    assert sqs_calls.calls["SendMessageBatch"] == 1
    held = held_numbers()
    assert held == numbers[50 + window :]


def test_an_ingest_that_crashes_mid_file_resumes_without_losing_or_repeating_a_line(
    kit, scraper, monkeypatch
):
    # Given a file of 250 new numbers and an ingest that dies creating its third chunk's tasks
    numbers = _numbers(250, start=810000)
    batch_id = kit.upload(csv_of(*numbers))
    batch_tasks = raspa_app.services().batches.batch_tasks
    original = batch_tasks.create_tasks
    creates = {"n": 0}

    def flaky(batch, owner, chunk, **kwargs):
        creates["n"] += 1
        if creates["n"] == 3:
            original(batch, owner, chunk[:20], **kwargs)  # 20 tasks created when it dies
            raise RuntimeError("Lambda timed out")
        return original(batch, owner, chunk, **kwargs)

    monkeypatch.setattr(batch_tasks, "create_tasks", flaky)
    assert kit.ingest(limit=1) == ["error"]
    # When the message comes back after its lease ran out
    models = raspa_app.services().models
    models.Batch.get(f"batch#{batch_id}").update(actions=[models.Batch.lease_until.set(0)])
    receipt = kit.aws.sqs.receive_message(QueueUrl=kit.ingest_url, VisibilityTimeout=0)
    assert "Messages" not in receipt  # still invisible: the queue's visibility timeout
    make_visible(kit.ingest_url)
    assert set(kit.ingest()) == {"ok"}
    # Then every number was queued once: exact counts, one task each, none lost
    _, view = kit.view(batch_id)
    assert view["status"] == "running" and view["counts"]["queued"] == 250
    assert view["counts"]["valid"] == 250
    waiting = [m["numero_os"] for m in kit.lane_messages()] + held_numbers()
    assert sorted(waiting) == numbers
    tasks = raspa_app.services().store.tasks.get_many([task_id_for(batch_id, n) for n in numbers])
    assert len(tasks) == 250 and {t.status for t in tasks} == {"PENDING"}
    # And scraping them all scrapes each number once and completes the batch
    kit.scrape(limit=1000)
    assert sorted(scraper.calls) == numbers
    kit.ingest()
    _, view = kit.view(batch_id)
    assert view["status"] == "complete" and view["counts"]["succeeded"] == 250


def test_a_hundred_thousand_line_file_is_counted_exactly_with_the_fewest_sqs_calls(
    kit, scraper, sqs_calls
):
    # Given 100,000 lines: 4,000 distinct numbers (1,500 cached, 2,500 new), each repeated,
    # and an invalid line in every 50
    distinct = _numbers(4000, start=900000)
    kit.seed_cache(distinct[:1500])
    lines, invalid = ["numero_os"], 0
    for i in range(100_000):
        if i % 50 == 49:
            lines.append(f"x{i}")
            invalid += 1
        else:
            lines.append(distinct[(i - invalid) % 4000])
    batch_id = kit.upload(csv_of(*lines))
    sqs_calls.calls.clear()
    started = time.perf_counter()
    outcomes = kit.ingest(limit=50)
    elapsed = time.perf_counter() - started
    # Then the counts are exact; the release window went out in one SendMessageBatch and
    # the rest of the new numbers are held in the fair order
    _, view = kit.view(batch_id)
    counts = view["counts"]
    assert counts["lines"] == 100_000 and counts["invalid"] == invalid == 2000
    assert counts["valid"] == 4000 and counts["duplicates"] == 100_000 - 2000 - 4000
    assert counts["cached"] == 1500 and counts["queued"] == 2500 and counts["joined"] == 0
    window = raspa_app.services().settings.batch_release_window
    assert sqs_calls.calls["SendMessageBatch"] == 1
    assert set(outcomes) == {"ok"}
    assert kit.depth(kit.batch_url) == window
    assert len(held_numbers()) == 2500 - window
    print(f"100,000-line ingest: {elapsed:.1f} s in {len(outcomes)} invocation(s)")

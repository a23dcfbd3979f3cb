"""The batch lane shared fairly between owners, batch cancellation, and ops purging a lane:
every task they drop fails with the reason and frees its OS."""

from __future__ import annotations

import io
import json
from collections import Counter

import app as raspa_app
import ops
from chalicelib.domain.batches import task_id_for
from tests.support.batchkit import csv_of, held_numbers, numbers
from tests.support.sqs import QueueDriver


def scrape_order(kit, scraper, limit: int) -> list[str]:
    """Deliver the batch lane one message at a time; the numbers in the order scraped."""
    driver = QueueDriver(
        kit.aws.sqs, kit.batch_url, lambda event: kit.client.lambda_.invoke("scrape_worker", event)
    )
    for _ in range(limit):
        if driver.deliver_once() is None:
            break
    return list(scraper.calls)


def run_ops(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = ops.main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_given_a_big_batch_queued_when_another_owner_uploads_one_line_then_it_starts_within_a_few_scrapes(  # noqa: E501
    kit, scraper
):
    # Given ana's 300-line batch ingested and draining on the batch lane
    big = numbers(300, start=700000)
    kit.upload(csv_of(*big), user="ana")
    kit.ingest()
    assert scrape_order(kit, scraper, 20)[:20] == big[:20]  # her own order, first to last
    # When bruno uploads a one-line batch behind it
    kit.upload(csv_of("799999"), user="bruno")
    kit.ingest()
    # Then his number is scraped right after the tasks already released (the window) and
    # at most one of hers, not after her 280 others
    window = raspa_app.services().settings.batch_release_window
    after = scrape_order(kit, scraper, window + 2)[20:]
    assert "799999" in after[: window + 2], after


def test_given_two_owners_backlogs_then_the_batch_lane_alternates_between_them(kit, scraper):
    # Given ana's and bruno's 40-line batches uploaded one after the other
    ana, bruno = numbers(40, start=710000), numbers(40, start=720000)
    kit.upload(csv_of(*ana), user="ana")
    kit.upload(csv_of(*bruno), user="bruno")
    kit.ingest()
    # When the lane drains
    order = scrape_order(kit, scraper, 80)
    # Then, past the window released before bruno's tasks existed, they take turns
    window = raspa_app.services().settings.batch_release_window
    assert sorted(order) == sorted(ana + bruno)
    owners = ["a" if n in ana else "b" for n in order]
    for k in range(window + 2, 60, 2):
        seen = Counter(owners[:k])
        assert abs(seen["a"] - seen["b"]) <= window, owners
    assert "b" in owners[: window + 2]


def test_given_a_waiting_batch_when_its_owner_cancels_it_then_its_tasks_fail_cancelled_and_their_os_are_free(  # noqa: E501
    kit, scraper
):
    # Given ana's 20-line batch waiting (none scraped), one of its numbers also asked for
    # by bruno (so his lookup moved that task to his lane)
    wanted = numbers(20, start=730000)
    batch_id = kit.upload(csv_of(*wanted), user="ana")
    kit.ingest()
    shared = wanted[15]
    joined = kit.client.http.post(f"/buscar-os-async/{shared}", headers=kit.aws.headers("bruno"))
    assert joined.status_code == 202
    # When ana cancels it
    response = kit.client.http.delete(f"/batches/{batch_id}", headers=kit.aws.headers("ana"))
    # Then the answer says so at once, and the ingest function fails its waiting tasks
    assert response.status_code == 202, response.body
    body = json.loads(response.body)
    assert body["status"] == "cancelled" and body["batch_id"] == batch_id
    assert set(kit.ingest()) == {"ok"}
    store = raspa_app.services().store
    tasks = {n: store.tasks.get_task(task_id_for(batch_id, n)) for n in wanted}
    cancelled = [n for n, t in tasks.items() if t.status == "FAILURE"]
    assert cancelled == [n for n in wanted if n != shared]
    assert {tasks[n].error_reason for n in cancelled} == {"cancelled"}
    assert tasks[shared].status == "PENDING"  # bruno still waits for it
    assert held_numbers() == []
    # And their OS are free: a lookup of one starts a new task at once
    again = kit.client.http.post(f"/buscar-os-async/{wanted[0]}", headers=kit.aws.headers("ana"))
    assert again.status_code == 202
    assert json.loads(again.body)["task_id"] != task_id_for(batch_id, wanted[0])
    # And the wake-ups of cancelled tasks run nothing and are not dead-lettered (only
    # bruno's task and ana's new lookup are scraped)
    kit.scrape()
    assert kit.depth(kit.aws.dlq_url) == 0
    assert set(scraper.calls) <= {shared, wanted[0]}
    # And cancelling again changes nothing; other users cannot; the batch reads cancelled
    assert (
        kit.client.http.delete(f"/batches/{batch_id}", headers=kit.aws.headers("ana")).status_code
        == 202
    )
    assert (
        kit.client.http.delete(f"/batches/{batch_id}", headers=kit.aws.headers("bruno")).status_code
        == 404
    )
    status, view = kit.view(batch_id)
    assert status == 200 and view["status"] == "cancelled"


def test_a_finished_batch_cannot_be_cancelled(kit, scraper):
    kit.seed_cache(["740001"])
    batch_id = kit.upload(csv_of("740001"))
    kit.ingest()
    assert kit.view(batch_id)[1]["status"] == "complete"
    response = kit.client.http.delete(f"/batches/{batch_id}", headers=kit.aws.headers("ana"))
    assert response.status_code == 409
    assert json.loads(response.body)["error"] == "batch_finished"


def test_given_a_cancel_while_the_file_is_ingesting_then_no_task_is_left_waiting(kit, scraper):
    # Given a 250-line file whose ingest is cut short after its first chunk
    wanted = numbers(250, start=750000)
    batch_id = kit.upload(csv_of(*wanted))
    service = raspa_app.services().batches
    original = service.batches.commit_chunk
    calls = {"n": 0}

    def cancel_during_second_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the owner cancels while the second chunk's tasks are created
            service.cancel(batch_id, "ana")
        return original(*args, **kwargs)

    service.batches.commit_chunk = cancel_during_second_chunk
    kit.ingest()
    # Then every task the ingest created fails as cancelled: none waits, none holds its OS
    tasks = raspa_app.services().store.tasks.get_many([task_id_for(batch_id, n) for n in wanted])
    assert tasks and {t.status for t in tasks} == {"FAILURE"}
    assert {t.error_reason for t in tasks} == {"cancelled"}
    assert kit.view(batch_id)[1]["status"] == "cancelled"
    models = raspa_app.services().models
    assert list(models.Lock.batch_get([f"os#{t.numero_os}" for t in tasks])) == []


def test_ops_cancel_cancels_any_users_batch(kit, scraper, operator_shell):
    batch_id = kit.upload(csv_of(*numbers(5, start=760000)), user="bruno")
    kit.ingest()
    code, out, err = run_ops("cancel", batch_id)
    assert code == 0, err
    assert "cancelled" in out
    kit.ingest()
    assert kit.view(batch_id, user="bruno")[1]["status"] == "cancelled"
    assert held_numbers() == []
    code, _, err = run_ops("cancel", "f" * 32)
    assert code == 2 and "no batch" in err


def test_given_waiting_and_retrying_tasks_when_ops_purge_their_lane_then_they_fail_purged_and_free_their_os(  # noqa: E501
    client, aws, driver, scripted, operator_shell
):
    from chalicelib.errors import TransientScrapeError

    # Given three lookups waiting in the standard lane, one of them between attempts
    scraper = scripted(TransientScrapeError("portal answered 500"))
    ids = [
        json.loads(client.http.post(f"/buscar-os-async/77000{i}").body)["task_id"] for i in range(3)
    ]
    assert driver.deliver_once() == "error"
    store = raspa_app.services().store
    assert sorted(store.tasks.get_task(t).status for t in ids) == ["PENDING", "PENDING", "RETRY"]
    # When ops purge the standard lane
    code, out, err = run_ops("purge", "standard", "--yes")
    # Then each of them failed as purged, with its lock released
    assert code == 0, err
    assert "3 waiting task(s) failed as purged" in out
    tasks = [store.tasks.get_task(t) for t in ids]
    assert {t.status for t in tasks} == {"FAILURE"} and {t.error_reason for t in tasks} == {
        "purged"
    }
    # And their wake-ups, left in the shared scrape queue, find nothing to run
    calls = len(scraper.calls)
    assert driver.drain() == ["ok", "ok"] and len(scraper.calls) == calls
    response = client.http.post("/buscar-os-async/770000")
    assert response.status_code == 202 and json.loads(response.body)["task_id"] not in ids
    status = json.loads(client.http.get(f"/scraping-status/{ids[1]}").body)
    assert status["status"] == "FAILURE" and status["error"]["reason"] == "purged"

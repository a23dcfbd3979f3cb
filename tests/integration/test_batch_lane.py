"""The batch lane against the local stack: a 10,000-line batch draining never keeps an
interactive lookup waiting longer than one scrape, and the portal never sees more than 3."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from chalicelib.domain.batches import task_id_for
from chalicelib.domain.identity import Identity
from infra.spec import resources
from local.event_source import ingest
from tests.integration.test_fairness import peak_overlap, wait_all_terminal

pytestmark = pytest.mark.integration

BRUNO, CARLA = Identity("bruno"), Identity("carla", vip=True)


def lane_of(event: dict) -> str:
    return event["Records"][0]["eventSourceARN"].rsplit(":", 1)[-1]


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_interactive_lookups_start_within_one_scrape_while_a_big_batch_drains(make_stack):
    stack = make_stack()
    stack.faults(latency_ms=250)
    settings = stack.settings
    # Given a 10,000-line batch uploaded straight to the bucket (as ops or another system do)
    numbers = [str(300_000 + i) for i in range(10_000)]
    batch_id = uuid.uuid4().hex
    stack.client("s3").put_object(
        Bucket=settings.batch_bucket,
        Key=f"batches/ana/{batch_id}.csv",
        Body=("numero_os\n" + "\n".join(numbers) + "\n").encode(),
    )
    invoked: dict[str, tuple[float, str]] = {}  # task id → (first invocation, lane)

    def on_invoke(event: dict) -> None:
        task_id = json.loads(event["Records"][0]["body"])["task_id"]
        invoked.setdefault(task_id, (time.time(), lane_of(event)))

    batch_tasks = {task_id_for(batch_id, n) for n in numbers}

    def batch_started() -> int:
        return sum(1 for t in list(invoked) if t in batch_tasks)

    spec = resources(settings)
    ingest_source = ingest(stack.sqs, stack.app.batch_ingest, spec, stack.urls, wait_seconds=1)
    lookup = stack.services.lookup
    store = stack.services.store
    with stack.worker(on_invoke=on_invoke) as worker, ingest_source.start():
        # And the batch lane busy: batch scrapes have been running for a while
        wait_for(lambda: batch_started() >= 8, 90, "batch scrapes to start")
        # When a standard user and then a VIP ask for OS numbers nobody asked for
        waits = {}
        for who, numero in ((BRUNO, "390001"), (CARLA, "390002")):
            submitted = time.time()
            task_id = lookup.lookup(numero, identity=who).task.task_id
            wait_for(lambda t=task_id: t in invoked, 30, f"{who.user}'s lookup to start")
            waits[who.user] = invoked[task_id][0] - submitted
            assert invoked[task_id][1] == (
                settings.priority_queue_name if who.vip else settings.queue_name
            )
        # And a standard user asks for an OS the batch has queued but not started
        offset = int(stack.services.batches.batches.get(batch_id).offset)
        waiting = next(
            n
            for n in reversed(numbers[:offset])
            if store.tasks.get_task(task_id_for(batch_id, n)).status == "PENDING"
        )
        submitted = time.time()
        joined = lookup.lookup(waiting, identity=BRUNO).task.task_id
        assert joined == task_id_for(batch_id, waiting)  # one task, joined
        wait_for(lambda: joined in invoked, 30, "the joined task to start")
        waits["join"] = invoked[joined][0] - submitted
        interactive = [t for t, (_, lane) in invoked.items() if lane != settings.batch_queue_name]
        done = wait_all_terminal(stack, interactive, timeout=60)
        finished_batch = [store.tasks.get_task(t) for t in list(invoked) if t in batch_tasks]
    scrapes = [
        float(t.finished_at) - float(t.started_at)
        for t in finished_batch
        if t.status == "SUCCESS" and t.finished_at
    ]
    print(f"batch scrapes {min(scrapes):.3f}-{max(scrapes):.3f} s; waits {waits}")
    batch_done = [t for t in finished_batch if t.finished_at]
    everything = list({t.pk: t for t in batch_done + done}.values())
    # Then each started within one scrape slot's time: the batch lane never holds every
    # slot, so a slot frees within one scrape (plus the local pollers' and emulator's lag)
    slot_time = max(scrapes) + 0.5
    assert all(wait <= slot_time for wait in waits.values()), (waits, slot_time)
    # (the batch lane used both its slots, and never more)
    assert peak_overlap([t for t in batch_done if t.pk not in {d.pk for d in done}]) == 2
    assert all(t.status == "SUCCESS" for t in done)
    # And the portal never saw more than three scrapes at once
    assert worker.slots.peak <= 3 and stack.portal_stats()["peak_concurrent"] <= 3
    assert peak_overlap(everything) <= 3

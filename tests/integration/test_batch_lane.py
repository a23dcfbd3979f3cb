"""The batch lane against the local stack: a waiting batch yields to interactive lookups
but is not starved by them (its 1-in-10 share of the claims), and the portal never sees
more than 3 scrapes at once.

Which task ran when is read from the task items (``started_at``), never from the
message bodies: a wake-up runs the best waiting task, not the one it names.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from chalicelib.domain.batches import task_id_for
from tests.integration.test_fairness import (
    CARLA,
    STANDARD,
    backlog,
    peak_overlap,
    started,
    succeeded_at_once,
    wait_all_terminal,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def ingest_batch(stack: Stack, numbers: list[str]) -> list[str]:
    """Upload a batch of ``numbers`` straight to the bucket (as ops or another system do)
    and run the ingest until each has its task; returns the task ids."""
    batch_id = uuid.uuid4().hex
    stack.client("s3").put_object(
        Bucket=stack.settings.batch_bucket,
        Key=f"batches/ana/{batch_id}.csv",
        Body=("numero_os\n" + "\n".join(numbers) + "\n").encode(),
    )
    task_ids = [task_id_for(batch_id, n) for n in numbers]
    tasks = stack.services.store.tasks
    with stack.deployment.ingest(wait_seconds=1):
        wait_for(
            lambda: all(tasks.get_task(t) is not None for t in task_ids), 60, "the batch's tasks"
        )
    return task_ids


def test_given_a_waiting_batch_when_interactive_lookups_arrive_then_they_start_first_but_the_batch_keeps_its_share(  # noqa: E501
    make_stack,
):
    stack = make_stack()
    # Given a batch of twelve OS waiting (its first tasks released to the scrape queue)
    batch = ingest_batch(stack, [str(390_000 + i) for i in range(12)])
    # And interactive lookups arriving behind it: six VIP and twelve standard
    interactive = [*backlog(stack, 391_000, 6, (CARLA,)), *backlog(stack, 392_000, 12, STANDARD)]
    stack.faults(latency_ms=100)

    # When the worker drains them
    with stack.worker() as worker:
        tasks = wait_all_terminal(stack, [*interactive, *batch])
    assert succeeded_at_once(tasks), [(t.pk, t.status, t.attempts) for t in tasks]
    interactive_tasks, batch_tasks = tasks[: len(interactive)], tasks[len(interactive) :]
    last_interactive = max(started(t) for t in interactive_tasks)
    batch_first = [t for t in batch_tasks if started(t) < last_interactive]

    # Then the interactive lookups start before most of the batch
    assert len(batch_first) <= len(batch) // 2, len(batch_first)
    # But the batch is not starved: a batch task starts while interactive work still waits
    assert batch_first, "no batch task started before the last interactive lookup"
    # And the portal never saw more than three scrapes at once
    assert peak_overlap(tasks) <= 3 and worker.slots.peak <= 3
    assert stack.portal_stats()["peak_concurrent"] <= 3


def test_given_a_batch_draining_alone_when_the_worker_runs_then_it_uses_all_three_slots(
    make_stack,
):
    stack = make_stack()
    # Given a batch and no interactive work
    batch = ingest_batch(stack, [str(393_000 + i) for i in range(9)])
    stack.faults(latency_ms=150)

    # When the worker drains it
    with stack.worker() as worker:
        tasks = wait_all_terminal(stack, batch)

    # Then the batch lane uses every slot (the release window keeps enough tasks waiting)
    assert succeeded_at_once(tasks), [(t.pk, t.status, t.attempts) for t in tasks]
    assert peak_overlap(tasks) == 3
    assert worker.slots.peak <= 3 and stack.portal_stats()["peak_concurrent"] <= 3

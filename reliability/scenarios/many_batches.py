"""Many batches, one OS: hundreds of one-line batches wait for the task of one OS; it is
scraped once, finishes in a small transaction, and every batch counts its outcome."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.tasks import TERMINAL, TaskStatus
from reliability.harness import Harness, wait_until
from reliability.report import Row
from reliability.scenarios.bad_input import batch_view, upload
from reliability.scenarios.common import as_dict, check_notifications, notifications

__all__ = ["Params", "run"]

TITLE = "many one-line batches waiting on one OS's task"


@dataclass
class Params:
    batches: int = 500
    #: Batch owners (the batches are shared out between them).
    owners: int = 5
    numero: int = 670_000
    #: Uploads in flight at once.
    threads: int = 16
    timeout: float = 600


def run(h: Harness, p: Params) -> Row:
    row = Row("many_batches", TITLE, as_dict(p))
    with h.stack("many_batches") as stack:
        people = stack.requesters(p.owners + 1)
        asker, owners = people[0], people[1:]
        numero = str(p.numero)
        # One interactive lookup creates the task; the worker is not running yet, so
        # every batch below finds it waiting and joins it.
        asked = asker.lookup(numero)
        task_id = asked.task_id
        ingest = stack.ingest()
        body = f"numero_os\n{numero}\n".encode()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=p.threads) as pool:
            batch_ids = list(
                pool.map(
                    lambda i: (
                        owners[i % len(owners)],
                        upload(owners[i % len(owners)], h.api_url, body),
                    ),
                    range(p.batches),
                )
            )
        joined = wait_until(
            lambda: int(stack.task(task_id).waiters or 0) >= p.batches, p.timeout, 0.5
        )
        upload_seconds = time.perf_counter() - started
        waiters = int(stack.task(task_id).waiters or 0)
        sizes = _transaction_sizes(stack)
        worker = stack.worker()
        finished = wait_until(lambda: stack.task(task_id).status in TERMINAL, p.timeout, 0.5)
        finish_seconds = time.perf_counter() - started - upload_seconds
        views: list[dict] = []

        def all_complete() -> bool:
            views[:] = [batch_view(who, h.api_url, b) for who, b in batch_ids]
            return all(v.get("status") == "complete" for v in views)

        completed = wait_until(all_complete, p.timeout, 2.0)
        told = notifications([(asker, asked)])
        task = stack.task(task_id)
        portal = h.portal_stats()
        locks = list(stack.m.Lock.scan(stack.m.Lock.kind == "lock", consistent_read=True))
        queue_empty = stack.queue_empty()
        worker.stop()
        ingest.stop()
        sizes["stop"]()

    statuses = Counter(v.get("status") for v in views)
    counted = Counter(
        (v.get("counts", {}).get("joined"), v.get("counts", {}).get("succeeded")) for v in views
    )
    finish_sizes = sizes.get("finish", [])
    row.figures.update(
        {
            "batches": len(batch_ids),
            "batches waiting on the task (waiter items)": waiters,
            "uploads and ingests": f"{upload_seconds:.1f} s",
            "scrape to task end": f"{finish_seconds:.1f} s",
            "portal detail requests": portal["by_kind"]["detail"],
            "task": f"{task.status} after {int(task.attempts or 0)} attempt(s)",
            "largest transaction while finishing": max(finish_sizes, default=0),
            "batches by status": dict(statuses),
            "batches by (joined, succeeded)": {str(k): n for k, n in counted.items()},
            "OS locks left": len(locks),
            "requester's terminal notifications": told.text(),
        }
    )
    row.check(
        "every batch joined the one task (none made its own)",
        joined and waiters == p.batches,
        f"{waiters} waiters for {p.batches} batches",
    )
    row.check(
        "the OS was scraped once and its task succeeded",
        finished and task.status == TaskStatus.SUCCESS and portal["by_kind"]["detail"] == 1,
        f"{task.status}, {portal['by_kind']['detail']} detail request(s)",
    )
    row.check(
        "the task finished in a small transaction, whatever waits for it",
        bool(finish_sizes) and max(finish_sizes) <= 4,
        f"largest {max(finish_sizes, default=0)} items (DynamoDB's limit is 100)",
    )
    row.check(
        "every batch counts the outcome exactly once and completes",
        completed and counted == {(1, 1): p.batches},
        f"{dict(statuses)}; {dict(counted)}",
    )
    row.check(
        "no OS lock is left and the scrape queue is empty",
        not locks and queue_empty,
        f"{len(locks)} locks, queue empty {queue_empty}",
    )
    check_notifications(row, told, 1)
    row.notes.append(
        f"One user looks OS {numero} up while the worker is stopped; {p.owners} others upload "
        f"{p.batches} one-line batches of it through `POST /batches` and the presigned PUT "
        f"({p.threads} at a time), which the ingest joins to the waiting task. Then the "
        "worker starts: the task is scraped once, finishes in one transaction of at most four "
        "items (task, lock, record, statistics), and each waiting batch counts the outcome "
        "in a transaction of its own (a marker per batch and number: nothing twice)."
    )
    return row


def _transaction_sizes(stack: object) -> dict[str, Any]:
    """Record the item count of every TransactWriteItems the app sends from now on."""
    sizes: dict[str, Any] = {"finish": []}
    event = "provide-client-params.dynamodb.TransactWriteItems"
    clients = stack.app_clients()[1:]  # type: ignore[attr-defined]

    def record(params: dict, **_: object) -> None:
        items = params.get("TransactItems", ())
        if any("Delete" in item for item in items):  # a finish releases the OS lock
            sizes["finish"].append(len(items))

    def stop() -> None:
        for client in clients:
            client.meta.events.unregister(event, unique_id="many-sizes")

    for client in clients:
        client.meta.events.register(event, record, unique_id="many-sizes")
    sizes["stop"] = stop
    return sizes

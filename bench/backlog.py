"""Backlogs for the scheduling figures: lookups by lane, batch uploads, and the tasks read
back afterwards (which task ran when is read from the task items, never from messages: a
wake-up runs the best waiting task, not the one it names)."""

from __future__ import annotations

import math
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

from bench.harness import Scenario, run_threads
from chalicelib.domain.batches import task_id_for
from chalicelib.domain.identity import Identity
from chalicelib.domain.lanes import Lane
from chalicelib.domain.tasks import TERMINAL

__all__ = [
    "Submitted",
    "identity",
    "interleave",
    "lookup_one",
    "lookups",
    "mean_scrape",
    "nearest_rank",
    "owner_of",
    "read_tasks",
    "started_order",
    "upload_batch",
    "wait_done",
]

#: New scrapes per identity: within the default limits (10 standard, 30 VIP an hour).
_PER_USER = {Lane.STANDARD: 10, Lane.VIP: 30}


@dataclass(frozen=True)
class Submitted:
    """One lookup as its caller saw it."""

    task_id: str
    lane: Lane
    #: Epoch seconds just before the call.
    at: float
    status: str
    position: int | None
    estimated_time: int | None


def identity(lane: Lane, i: int, tag: str = "") -> Identity:
    """The ``i``-th lookup of ``lane`` is made by this identity (within the rate limit)."""
    n = i // _PER_USER[lane]
    if lane is Lane.VIP:
        return Identity(f"vip{tag}{n:03d}", vip=True)
    return Identity(f"user{tag}{n:03d}")


def lookup_one(sc: Scenario, numero: str, who: Identity, lane: Lane) -> Submitted:
    at = time.time()
    task = sc.services.lookup.lookup(numero, identity=who).task
    assert task is not None, f"OS {numero} answered from the cache"
    return Submitted(task.task_id, lane, at, task.status.value, task.position, task.estimated_time)


def lookups(
    sc: Scenario, plan: list[tuple[Lane, str]], *, threads: int = 4, tag: str = "q"
) -> list[Submitted]:
    """One lookup per (lane, number) of ``plan``, in that order on ``threads`` threads."""
    seen: dict[Lane, int] = {}
    people = []
    for lane, _ in plan:
        people.append(identity(lane, seen.get(lane, 0), tag))
        seen[lane] = seen.get(lane, 0) + 1

    def one(i: int) -> Submitted:
        lane, numero = plan[i]
        return lookup_one(sc, numero, people[i], lane)

    return run_threads(one, len(plan), threads)


def interleave(vip: int, standard: int) -> list[Lane]:
    """``vip`` VIP lanes spread evenly among ``standard`` standard ones."""
    spots = [(i + 0.5) / vip for i in range(vip)] + [(i + 0.5) / standard for i in range(standard)]
    lanes = [Lane.VIP] * vip + [Lane.STANDARD] * standard
    return [lane for _, lane in sorted(zip(spots, lanes, strict=True), key=lambda p: p[0])]


def upload_batch(sc: Scenario, owner: str, numbers: list[str]) -> tuple[str, list[str]]:
    """A batch file of ``numbers`` put in the bucket by ``owner`` and ingested at once (the
    ingest function's use case, called directly: what its S3 notification would run).
    Returns the batch id and its task ids, in the file's order."""
    batch_id = uuid.uuid4().hex
    key = f"batches/{owner}/{batch_id}.csv"
    s3 = sc.deployment.sandbox.clients.client("s3")
    s3.put_object(
        Bucket=sc.settings.batch_bucket,
        Key=key,
        Body=("numero_os\n" + "\n".join(numbers) + "\n").encode(),
    )
    outcome = sc.services.batches.uploaded(key, lambda: 300_000)
    assert "rejected" not in outcome, outcome
    return batch_id, [task_id_for(batch_id, n) for n in numbers]


def read_tasks(sc: Scenario, task_ids: Iterable[str]) -> dict[str, Any]:
    """The task items by id (100 keys per BatchGetItem)."""
    return {t.pk: t for t in sc.services.models.Task.batch_get(list(task_ids))}


def wait_done(
    sc: Scenario, task_ids: list[str], *, timeout: float, interval: float = 1.0
) -> dict[str, Any]:
    """Every task terminal, polled every ``interval`` s (slowly: the emulator is shared with
    the worker being measured)."""
    deadline = time.monotonic() + timeout
    pending = set(task_ids)
    done: dict[str, Any] = {}
    while True:
        for pk, task in read_tasks(sc, sorted(pending)).items():
            if task.status in TERMINAL:
                done[pk] = task
                pending.discard(pk)
        if not pending:
            return done
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} of {len(task_ids)} tasks did not finish")
        time.sleep(interval)


def started_order(tasks: Iterable[Any]) -> list[Any]:
    """The tasks that started, by ``started_at``."""
    return sorted((t for t in tasks if t.started_at is not None), key=lambda t: t.started_at)


def mean_scrape(tasks: Iterable[Any]) -> float:
    """Mean seconds from ``started_at`` to ``finished_at`` of the finished tasks."""
    spans = [
        float(t.finished_at) - float(t.started_at)
        for t in tasks
        if t.started_at is not None and t.finished_at is not None
    ]
    return statistics.mean(spans) if spans else float("nan")


def owner_of(task: Any, owners: dict[str, str]) -> str:
    """A batch task's owner, from its batch id (``owners``: batch id → owner)."""
    return owners.get(task.batch_id or "", "?")


def nearest_rank(values: list[float], p: float) -> float:
    """The ``p``-th percentile by nearest rank: the ceil(p/100 × n)-th smallest (the 19th
    of 20 for p95)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]

"""Worker death: the worker's process is killed (SIGKILL) while it scrapes; SQS delivers
the messages again once their visibility timeout ends, a new worker finishes the tasks,
and nothing is stored or announced twice."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.domain.tasks import TaskStatus
from reliability.harness import ROOT, Harness, Stack, wait_until
from reliability.report import Row
from reliability.scenarios.common import (
    as_dict,
    ask,
    check_notifications,
    notifications,
    numbers,
    settle,
)

__all__ = ["Params", "run"]

TITLE = "the worker process killed mid-scrape"
RUNNING = (TaskStatus.STARTED, TaskStatus.PROGRESS)


@dataclass
class Params:
    os: int = 12
    requesters: int = 3
    #: Every portal request of the doomed worker takes this long (it is killed meanwhile).
    latency_ms: int = 800
    #: The worker's time limit; the queues' visibility timeout is 6 times it.
    scrape_timeout: int = 3
    first_os: int = 610_000
    timeout: float = 180


class WorkerProcess:
    """``python -m reliability.worker_process`` serving ``stack``, its output in a file."""

    def __init__(self, stack: Stack, name: str) -> None:
        folder = Path(tempfile.mkdtemp(prefix=f"raspa-{name}-"))
        self.ready, self.log_path = folder / "ready", folder / "worker.log"
        command, env = stack.worker_process(self.ready)
        self.log = self.log_path.open("wb")
        #: Before the process exists: no message it receives can have been received earlier.
        self.spawned_at = time.time()
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
            command,
            cwd=str(ROOT),
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        if (
            not wait_until(
                lambda: self.ready.exists() or self.process.poll() is not None, timeout, 0.05
            )
            or not self.ready.exists()
        ):
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the worker process did not start:\n{tail}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no message deleted, nothing finished."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


def run(h: Harness, p: Params) -> Row:
    row = Row("worker_death", TITLE, as_dict(p))
    changes = {
        "scrape_timeout_seconds": p.scrape_timeout,
        "read_timeout_seconds": max(2.0, 2 * p.latency_ms / 1000),
        "retry_base_delay_seconds": 1,
        "rate_limit": p.os,
    }
    workers: list[WorkerProcess] = []
    with h.stack("worker_death", **changes) as stack, contextlib.ExitStack() as cleanup:
        visibility = 6 * stack.settings.scrape_timeout_seconds
        people = stack.requesters(p.requesters)
        h.faults(latency_ms=p.latency_ms)
        asked = ask(people, numbers(p.first_os, p.os))
        task_ids = {a.task_id for _, a in asked if a.task_id}
        doomed = WorkerProcess(stack, "doomed-worker")
        spawned_at = doomed.spawned_at
        workers.append(doomed)
        cleanup.callback(doomed.stop)
        doomed.wait_ready()
        # Kill it once every slot is mid-scrape (or after a few seconds).
        wanted = min(stack.settings.concurrency, p.os)
        wait_until(
            lambda: (
                sum(1 for s in stack.status_of(task_ids).values() if s in RUNNING) >= wanted
                and h.portal_stats()["open"] > 0
            ),
            20,
            0.05,
        )
        doomed.kill()
        killed_at = time.time()
        in_flight = {t.pk: float(t.started_at) for t in stack.tasks() if t.status in RUNNING}
        h.faults(latency_ms=0)
        successor = WorkerProcess(stack, "next-worker")
        workers.append(successor)
        cleanup.callback(successor.stop)
        successor.wait_ready()
        settled = settle(stack, task_ids, p.timeout, asked=asked)
        tasks = {t.pk: t for t in stack.tasks()}
        told = notifications(asked)
        records = stack.records()
        writes = stack.record_writes()
        letters = stack.dead_letters()
        portal = h.portal_stats()

    succeeded = [t for t in tasks.values() if t.status == TaskStatus.SUCCESS]
    redelivered = {
        pk: float(tasks[pk].started_at) - first for pk, first in in_flight.items() if pk in tasks
    }
    # A message's visibility timeout runs from its receive, which precedes the doomed
    # worker's first claim by its cold start: measured from the process's spawn instead.
    since_spawn = [float(tasks[pk].started_at) - spawned_at for pk in in_flight if pk in tasks]
    resumed = [
        pk
        for pk in in_flight
        if tasks.get(pk) is not None and tasks[pk].status == TaskStatus.SUCCESS
    ]
    row.figures.update(
        {
            "tasks": len(tasks),
            "mid-scrape when killed": len(in_flight),
            "succeeded": len(succeeded),
            "killed tasks' attempts": sorted(int(tasks[pk].attempts) for pk in in_flight),
            "second start after the first": _seconds(redelivered.values()),
            "doomed worker's spawn to second start": _seconds(since_spawn),
            "kill to second start": _seconds(
                float(tasks[pk].started_at) - killed_at for pk in in_flight
            ),
            "visibility timeout": f"{visibility} s",
            "record writes": writes,
            "terminal notifications": told.text(),
            "DLQ letters": len(letters),
            "portal detail requests": portal["by_kind"]["detail"],
        }
    )
    row.check("a scrape was killed midway", bool(in_flight), f"{len(in_flight)} tasks")
    row.check(
        "every task completes (SUCCESS), the killed ones included",
        settled and len(succeeded) == len(tasks) == p.os and len(resumed) == len(in_flight),
        f"{len(succeeded)}/{p.os} SUCCESS; {len(resumed)}/{len(in_flight)} killed ones",
    )
    row.check(
        "a killed task's message came back only after its visibility timeout",
        bool(since_spawn) and min(since_spawn) >= visibility,
        f"{_seconds(since_spawn)} after the doomed worker's spawn (visibility {visibility} s)",
    )
    ok_records = {r.numero_os: r.task_id for r in records if r.outcome == "ok"}
    row.check(
        "no duplicate record",
        ok_records == {t.numero_os: t.pk for t in succeeded} and writes == len(succeeded),
        f"{len(ok_records)} records, {writes} writes for {len(succeeded)} tasks",
    )
    check_notifications(row, told, p.os)
    row.check("nothing dead-lettered", not letters, f"{len(letters)} letters")
    row.notes.append(
        f"The worker runs in a process of its own (`reliability/worker_process.py`, "
        f"`local.event_source.worker`); {p.os} lookups queue, the portal answers every "
        f"request in {p.latency_ms} ms, and the process is killed with SIGKILL once its "
        f"{stack.settings.concurrency} slots are mid-scrape. A second worker process then "
        f"drains the queue; the killed messages, each claimed for its task, return after the "
        f"queue's visibility timeout (6 × RASPA_SCRAPE_TIMEOUT_SECONDS = {visibility} s for "
        "the run) and resume those tasks: no other wake-up may claim a started task."
    )
    return row


def _seconds(values: Any) -> str:
    values = sorted(float(v) for v in values)
    if not values:
        return "-"
    if values[-1] - values[0] < 0.05:
        return f"{values[0]:.1f} s"
    return f"{values[0]:.1f}–{values[-1]:.1f} s"

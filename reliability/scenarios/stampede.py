"""Stampede: many concurrent lookups of a few OS from many users; each OS is scraped
exactly once, and every request gets its answer by WebSocket or by status."""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from chalicelib.domain.tasks import TERMINAL, TaskStatus
from reliability.clients import Answer, Requester
from reliability.harness import Harness, wait_until
from reliability.report import Row
from reliability.scenarios.common import as_dict, followed_all, numbers, settle

__all__ = ["Params", "run"]

TITLE = "a stampede of concurrent lookups over a few OS"


@dataclass
class Params:
    lookups: int = 1000
    os: int = 100
    users: int = 20
    vip: int = 4
    #: Lookups in flight at once (client threads).
    threads: int = 100
    #: Each portal request's latency: scrapes last long enough for lookups to join them.
    latency_ms: int = 50
    first_os: int = 640_000
    seed: int = 5
    timeout: float = 300


def run(h: Harness, p: Params) -> Row:
    row = Row("stampede", TITLE, as_dict(p))
    changes = {"rate_limit": p.os, "vip_rate_limit": p.os}
    with h.stack("stampede", **changes) as stack:
        h.faults(latency_ms=p.latency_ms)
        people = stack.requesters(p.users, vip=p.vip)
        worker = stack.worker()
        rng = random.Random(p.seed)  # noqa: S311 - a reproducible load, not a secret
        wanted = numbers(p.first_os, p.os)
        chosen = wanted + [rng.choice(wanted) for _ in range(max(0, p.lookups - p.os))]
        rng.shuffle(chosen)
        jobs = [(people[rng.randrange(len(people))], numero) for numero in chosen[: p.lookups]]

        def one(job: tuple[Requester, str]) -> tuple[Requester, Answer]:
            return job[0], job[0].lookup(job[1])

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=p.threads) as pool:
            asked = list(pool.map(one, jobs))
        elapsed = time.perf_counter() - started
        task_ids = {a.task_id for _, a in asked if a.task_id}
        settled = settle(stack, task_ids, p.timeout, asked=asked)

        def told(pair: tuple[Requester, Answer]) -> bool:
            who, answer = pair
            return answer.task_id is not None and who.terminal_counts()[answer.task_id] >= 1

        waiting = [pair for pair in asked if pair[1].task_id]
        followed_all(who for who, _ in waiting)
        wait_until(lambda: all(told(pair) for pair in waiting), 15, 0.2)
        by_socket = [pair for pair in waiting if told(pair)]
        by_status = [
            pair
            for pair in waiting
            if not told(pair) and pair[0].status(pair[1].task_id).get("status") in TERMINAL
        ]
        tasks = stack.tasks()
        portal = h.portal_stats()
        slots_peak = worker.slots.peak

    codes = Counter(a.status for _, a in asked)
    direct = [a for _, a in asked if a.status == 200]
    answered = len(by_socket) + len(by_status) + len(direct)
    scrapes = portal["by_kind"]["detail"]
    attempts = sum(int(t.attempts) for t in tasks)
    amplification = scrapes / p.os if p.os else 0.0
    ordered = sorted(a.seconds for _, a in asked)
    row.figures.update(
        {
            "lookups": len(asked),
            "answers": dict(sorted(codes.items())),
            "lookups per second": round(len(asked) / elapsed, 1),
            "lookup latency p50/p95": (
                f"{statistics.median(ordered) * 1000:.0f}/"
                f"{ordered[int(0.95 * (len(ordered) - 1))] * 1000:.0f} ms"
            ),
            "tasks": len(tasks),
            "joins (202 on an existing task)": sum(1 for _, a in asked if a.task_id)
            - len(task_ids),
            "scrapes (portal detail requests)": scrapes,
            "attempts": attempts,
            "amplification": f"{amplification:.2f}",
            "answered by WebSocket": len(by_socket),
            "answered by status only": len(by_status),
            "answered at once from the cache (200)": len(direct),
            "worker slots peak": slots_peak,
            "tasks scraped more than once (attempts, last error)": _retried(tasks),
        }
    )
    row.check(
        "every lookup is accepted (202 queued or joined, or 200 from the cache)",
        codes[200] + codes[202] == p.lookups,
        dict(codes),
    )
    row.check("one task per OS", len(tasks) == p.os == len(task_ids), f"{len(tasks)} tasks")
    row.check(
        f"exactly {p.os} scrapes (amplification 1.00)",
        scrapes == attempts == p.os,
        f"{scrapes} detail requests, {attempts} attempts: {amplification:.2f}"
        + (f"; retried: {again}" if (again := _retried(tasks)) else ""),
    )
    row.check(
        "every scrape succeeds",
        settled and all(t.status == TaskStatus.SUCCESS for t in tasks),
        f"{sum(1 for t in tasks if t.status == TaskStatus.SUCCESS)}/{len(tasks)}",
    )
    row.check(
        "every request gets a terminal answer (WebSocket, status or the cache)",
        answered == p.lookups,
        f"{answered}/{p.lookups}",
    )
    row.notes.append(
        f"{p.lookups} lookups of {p.os} OS numbers (each at least once, the rest at random) "
        f"from {p.users} users ({p.vip} VIP), {p.threads} at a time over the HTTP API, each "
        "followed on the user's WebSocket as the page does (`subscribe`); a request whose "
        "socket got no terminal event is asked `GET /scraping-status` once at the end. "
        f"The portal takes {p.latency_ms} ms per request so lookups arrive while scrapes run. "
        "Rate limits are raised to the OS count for the run (they are not under test here)."
    )
    return row


def _retried(tasks: list) -> dict[str, tuple[int, str | None]]:
    """Tasks that took more than one attempt: their attempts and last error's detail."""
    return {t.numero_os: (int(t.attempts), t.error_detail) for t in tasks if int(t.attempts) > 1}

"""Fault mix: many distinct OS while the portal answers 500s, hangs past the timeout, 503s
with Retry-After and expires sessions; retries end every task, and nothing is lost."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from chalicelib.domain.tasks import TERMINAL, TaskStatus
from reliability.harness import Harness
from reliability.report import Row
from reliability.scenarios.common import (
    PERMANENT_REASONS,
    as_dict,
    ask,
    check_notifications,
    notifications,
    numbers,
    settle,
)

__all__ = ["Params", "run"]

TITLE = "portal faults (500s, hangs, 503 + Retry-After, session expiry) under load"


@dataclass
class Params:
    os: int = 500
    requesters: int = 10
    #: Requesters who are VIP: their tasks are VIP, so the scheduler shares the worker's
    #: three slots between two lanes.
    vip: int = 3
    error_rate: float = 0.20
    hang_rate: float = 0.10
    unavailable_rate: float = 0.05
    retry_after_s: int = 1
    session_ttl_requests: int = 50
    #: The worker's portal read timeout; a hang lasts ``hang_ms``, well past it.
    read_timeout: float = 1.0
    hang_ms: int = 2500
    #: First retry delay (doubling), shortened from 60 s for the run.
    retry_base_delay: int = 1
    #: The portal breaker's first probe delay and its cap, shortened from 30 s and 120 s:
    #: a run of consecutive failures may open it, as in AWS, without stalling the run.
    probe_delay: float = 1.0
    probe_max_delay: float = 2.0
    scrape_timeout: int = 20
    first_os: int = 200_000
    seed: int = 7
    timeout: float = 900


def run(h: Harness, p: Params) -> Row:
    row = Row("fault_mix", TITLE, as_dict(p))
    changes = {
        "retry_base_delay_seconds": p.retry_base_delay,
        "read_timeout_seconds": p.read_timeout,
        "connect_timeout_seconds": 1.0,
        "scrape_timeout_seconds": p.scrape_timeout,
        "breaker_probe_seconds": p.probe_delay,
        "breaker_probe_max_seconds": p.probe_max_delay,
        "rate_limit": -(-p.os // p.requesters),
        "vip_rate_limit": -(-p.os // p.requesters),
    }
    with h.stack("fault_mix", **changes) as stack:
        mark = h.emf.mark()
        max_attempts = stack.settings.max_attempts
        h.faults(
            error_rate=p.error_rate,
            hang_rate=p.hang_rate,
            hang_ms=p.hang_ms,
            unavailable_rate=p.unavailable_rate,
            retry_after_s=p.retry_after_s,
            session_ttl_requests=p.session_ttl_requests,
            seed=p.seed,
        )
        people = stack.requesters(p.requesters, vip=p.vip)
        worker = stack.worker()
        asked = ask(people, numbers(p.first_os, p.os))
        task_ids = {a.task_id for _, a in asked if a.task_id}
        settle(stack, task_ids, p.timeout, asked=asked)
        tasks = stack.tasks()
        failed = [t for t in tasks if t.status == TaskStatus.FAILURE]
        dead = [t for t in failed if t.error_reason != "not_found"]
        # The worker writes each final failure's letter to the DLQ as the task fails.
        settle(stack, task_ids, 60, dead_letters=len(dead), every=0.5)
        told = notifications(asked)
        portal = h.portal_stats()
        letters = stack.dead_letters()
        records = stack.records()
        writes = stack.record_writes()
        slots_peak = worker.slots.peak
        breaker_opened = h.emf.total("PortalBreakerOpened", since=mark)

    succeeded = {t.numero_os: t.pk for t in tasks if t.status == TaskStatus.SUCCESS}
    terminal = [t for t in tasks if t.status in TERMINAL]
    attempts = Counter(int(t.attempts) for t in tasks)
    reasons = Counter(t.error_reason for t in failed)
    by_status = portal["by_status"]
    row.figures.update(
        {
            "lookups answered 202": sum(1 for _, a in asked if a.status == 202),
            "succeeded": len(succeeded),
            "failed": len(failed),
            "failure reasons": dict(reasons) or "-",
            "attempts": sum(k * v for k, v in attempts.items()),
            "tasks by attempts": dict(sorted(attempts.items())),
            "portal requests": portal["requests"],
            "portal 500/503": f"{by_status.get('500', 0)}/{by_status.get('503', 0)}",
            "hangs abandoned by the worker": portal["abandoned"],
            "logins": portal["logins"],
            "DLQ letters": len(letters),
            "terminal notifications": told.text(),
            "peak scrapes at the portal": portal["peak_open"],
            "peak requests the portal handled (abandoned hangs included)": portal[
                "peak_concurrent"
            ],
            "worker slots peak": slots_peak,
            "portal breaker openings": int(breaker_opened),
        }
    )
    row.check(
        "every task ends SUCCESS or FAILURE, none stuck",
        len(terminal) == len(task_ids) == p.os,
        f"{len(terminal)}/{p.os} terminal",
    )
    row.check(
        "one task per OS", len({t.numero_os for t in tasks}) == len(tasks) == p.os, len(tasks)
    )
    early = [
        t
        for t in failed
        if not (int(t.attempts) == max_attempts and t.error_reason == "transient")
        and t.error_reason not in PERMANENT_REASONS
    ]
    row.check(
        f"FAILURE only after {max_attempts} real attempts or for a permanent error",
        not early and all(int(t.attempts) <= max_attempts for t in tasks),
        f"{len(early)} early failures; most attempts {max(attempts, default=0)}",
    )
    in_dlq = {d.task_id for d in letters}
    missing = {t.pk for t in dead} - in_dlq
    stray = in_dlq - {t.pk for t in dead}
    row.check(
        "every final failure's message is in the DLQ (and nothing else)",
        not missing and not stray,
        f"{len(dead) - len(missing)}/{len(dead)} in the DLQ, {len(stray)} other letters",
    )
    check_notifications(row, told, p.os)
    ok_records = {r.numero_os: r.task_id for r in records if r.outcome == "ok"}
    row.check(
        "exactly one stored record per succeeded OS (written once, by its task)",
        ok_records == succeeded and writes == len(succeeded),
        f"{len(ok_records)} records for {len(succeeded)} successes, {writes} record writes",
    )
    row.check(
        "the portal never saw more than 3 concurrent scrapes",
        portal["peak_open"] <= 3,
        f"peak {portal['peak_open']} requests with a waiting client",
    )
    row.notes.append(
        f"{p.os} distinct OS asked by {p.requesters} users ({p.vip} VIP) over the HTTP API, each "
        "followed on its own WebSocket connection; the portal faults every request at random "
        f"({p.error_rate:.0%} 500, {p.hang_rate:.0%} hang of {p.hang_ms} ms past the "
        f"{p.read_timeout} s read timeout, {p.unavailable_rate:.0%} 503 with Retry-After "
        f"{p.retry_after_s} s) and expires a session after {p.session_ttl_requests} requests; "
        f"retry delays {p.retry_base_delay}·2^(n−1) s instead of 60·2^(n−1) s; the portal "
        f"breaker's probes after {p.probe_delay:g} s, doubling up to {p.probe_max_delay:g} s, "
        "instead of 30 s and 120 s (while it is open, failed attempts are given back)."
    )
    row.notes.append(
        "Concurrency is the portal's own count of requests whose client still waits "
        "(`peak_open`); the count of every request it handled (`peak_concurrent`) also "
        "holds hangs the worker already gave up on (its read timeout freed the slot while "
        "the portal kept sleeping), which is why it can exceed 3."
    )
    return row

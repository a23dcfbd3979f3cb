"""Recovery: the portal is down for everyone; the portal breaker opens, the tasks wait
without spending attempts while one probe at a time finds it down; the portal comes
back, a probe closes the breaker, and every task completes, scraped once, with nothing
dead-lettered and no ops action (docs/scheduling.md, "Portal outage: the breaker")."""

from __future__ import annotations

import time
from dataclasses import dataclass

from chalicelib.domain.tasks import TERMINAL, TaskStatus
from reliability.harness import Harness, wait_until
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

TITLE = "portal down: the breaker holds the tasks, then drains them when it is back"


@dataclass
class Params:
    os: int = 60
    requesters: int = 6
    vip: int = 2
    retry_base_delay: int = 1
    #: The breaker's first probe delay and its cap, shortened from 30 s and 120 s.
    probe_delay: float = 2.0
    probe_max_delay: float = 4.0
    #: How long the portal stays down once the breaker has opened (probes fail meanwhile).
    down_seconds: float = 10.0
    first_os: int = 630_000
    timeout: float = 300


def run(h: Harness, p: Params) -> Row:
    row = Row("recovery", TITLE, as_dict(p))
    per_user = -(-p.os // p.requesters)
    changes = {
        "retry_base_delay_seconds": p.retry_base_delay,
        "breaker_probe_seconds": p.probe_delay,
        "breaker_probe_max_seconds": p.probe_max_delay,
        "rate_limit": per_user,
        "vip_rate_limit": per_user,
    }
    with h.stack("recovery", **changes) as stack:
        mark = h.emf.mark()
        breaker = stack.services.store.breaker
        max_attempts = stack.settings.max_attempts
        people = stack.requesters(p.requesters, vip=p.vip)
        h.portal_stop()
        stack.worker()
        asked = ask(people, numbers(p.first_os, p.os))
        task_ids = {a.task_id for _, a in asked if a.task_id}
        opened = wait_until(lambda: breaker.read(fresh=True).is_open, p.timeout, 0.2)
        time.sleep(p.down_seconds)
        during = breaker.read(fresh=True)
        ended_while_down = {t for t, s in stack.status_of(task_ids).items() if s in TERMINAL}
        shown = [who.status(a.task_id).get("status") for who, a in asked if a.task_id]
        letters_while_down = stack.depth(stack.dlq_url)
        h.portal_start()
        before = h.portal_stats()["by_kind"]["detail"]
        up = settle(stack, task_ids, p.timeout, asked=asked)
        told = notifications(asked)
        after = breaker.read(fresh=True)
        tasks = stack.tasks()
        scraped = h.portal_stats()["by_kind"]["detail"] - before
        records = stack.records()
        writes = stack.record_writes()
        left = stack.depth(stack.dlq_url)
        probes = h.emf.total("PortalProbes", since=mark)

    succeeded = [t for t in tasks if t.status == TaskStatus.SUCCESS]
    waiting_shown = shown.count(TaskStatus.WAITING_PORTAL.value)
    row.figures.update(
        {
            "breaker while down": f"{during.state}, {during.probes} failed probe(s), "
            f"{during.parked} wake-up(s) parked",
            "probes": int(probes),
            "tasks ended while down": len(ended_while_down),
            "status route while down": f"{waiting_shown}/{len(shown)} WAITING_PORTAL",
            "DLQ while down": letters_while_down,
            "breaker after": f"{after.state}, {after.parked} parked",
            "succeeded": len(succeeded),
            "attempts": sorted({int(t.attempts) for t in succeeded}),
            "portal detail requests after it came back": scraped,
            "record writes": writes,
            "DLQ left": left,
            "terminal notifications": told.text(),
        }
    )
    row.check(
        "the breaker opened while the portal was down, and its probes found it down",
        opened and during.is_open and during.probes >= 1,
        f"{during.state}, {during.probes} failed probes",
    )
    row.check(
        "no attempt was spent on the outage: no task ended, nothing dead-lettered",
        not ended_while_down and letters_while_down == 0,
        f"{len(ended_while_down)} ended, {letters_while_down} letters",
    )
    row.check(
        "users are told the portal is down (the status route: WAITING_PORTAL)",
        waiting_shown >= len(shown) - 1 > 0,  # one task may be the probe, mid-scrape
        f"{waiting_shown}/{len(shown)}",
    )
    row.check(
        "once it is back, the breaker closes and every task completes",
        up and not after.is_open and len(succeeded) == len(tasks) == p.os,
        f"{len(succeeded)}/{p.os} SUCCESS, breaker {after.state}",
    )
    row.check(
        "each scraped once after it came back, one record each, none out of attempts",
        scraped == p.os
        and all(int(t.attempts) < max_attempts for t in succeeded)
        and writes == len(succeeded) == len({r.numero_os for r in records if r.outcome == "ok"}),
        f"{scraped} detail requests, {writes} record writes, "
        f"attempts {sorted(int(t.attempts) for t in succeeded)} (of {max_attempts})",
    )
    row.check("no ops action needed: the DLQ is empty", left == 0, f"{left} letters")
    check_notifications(row, told, p.os)
    row.notes.append(
        f"The portal's server is stopped (connections refused) while {p.os} lookups are "
        "scraped: consecutive transient failures open the portal breaker "
        "(RASPA_BREAKER_FAILURES), the tasks go back to their lanes with their attempts "
        "given back, and wake-ups are parked. One probe at a time finds the portal down "
        f"({p.probe_delay:g} s, doubling up to {p.probe_max_delay:g} s, instead of 30 s and "
        f"120 s). The portal is started again {p.down_seconds:g} s after the breaker opened; "
        "the next probe closes it, the parked wake-ups are sent again and the backlog drains."
    )
    return row

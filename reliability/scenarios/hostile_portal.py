"""Hostile portal: its login form's action, a 307 answer to the login and its "next" link
point at a second, portal-like server that counts what reaches it; then it drips its
pages a byte at a time against a short scrape budget; then it serves a 10 MB page.
Nothing may reach the other server, no attempt may outlive its budget, and every task
ends with the reason that says why, its requesters told exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.tasks import TaskStatus
from local.portal import OffsiteServer
from local.portal.data import record_for
from local.portal.templates import detail_page
from local.sandbox import DEMO_CREDENTIALS
from reliability.harness import Harness, Stack
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

TITLE = "hostile portal: off-site links and redirects, dripped answers, a 10 MB page"
OFFSITE_MODES = ("login_action", "redirect_307", "next_link")


@dataclass
class Params:
    #: OS looked up in each hostile mode (three off-site modes, the drip, the big page).
    os: int = 10
    requesters: int = 3
    vip: int = 1
    #: The drip: one byte of every page per ``drip_ms``.
    drip_ms: int = 100
    #: The worker's time limit and read timeout; the scrape budget is what the worker
    #: leaves of them (2 s), far below what a dripped page takes (minutes).
    scrape_timeout: int = 8
    read_timeout: float = 1.0
    #: What an attempt may take beyond its budget (recording the outcome is not in it).
    margin: float = 1.0
    max_attempts: int = 4
    retry_base_delay: int = 1
    #: History rows of the oversized page (about 135 bytes each: 75,000 make 10 MB).
    history_rows: int = 75_000
    #: The big page's phase runs on a stack of its own with room to answer (a 10 MB page
    #: takes the demo portal about a second to render, over the drip phase's read timeout):
    #: what fails it must be its size, not its slowness.
    big_scrape_timeout: int = 60
    big_read_timeout: float = 10.0
    first_os: int = 650_000
    timeout: float = 300


class TimedScrapes:
    """A scraper factory around the worker's (``containers``), each attempt timed: (OS,
    seconds, error reason or "ok")."""

    def __init__(self, containers: Any) -> None:
        self.containers = containers
        self.attempts: list[tuple[str, float, str]] = []
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        return _Timed(self.containers(), self)

    def record(self, numero: str, seconds: float, outcome: str) -> None:
        with self._lock:
            self.attempts.append((numero, seconds, outcome))


class _Timed:
    def __init__(self, scraper: Any, log: TimedScrapes) -> None:
        self.scraper, self.log = scraper, log

    def scrape(self, numero_os: str, **kwargs: Any) -> Any:
        started = time.monotonic()
        outcome = "ok"
        try:
            return self.scraper.scrape(numero_os, **kwargs)
        except Exception as exc:
            outcome = getattr(exc, "reason", type(exc).__name__)
            raise
        finally:
            self.log.record(numero_os, time.monotonic() - started, outcome)


def _started(stack: Stack, p: Params) -> tuple[TimedScrapes, float, list]:
    """The stack's worker running (its scrapers timed: the stack's ``scrapers=TimedScrapes``);
    (timer, scrape budget, requesters)."""
    timer = stack.scrapers
    assert isinstance(timer, TimedScrapes)
    people = stack.requesters(p.requesters, vip=p.vip)
    stack.worker()
    return timer, float(stack.services.worker.time_budget), people


def _phase(h: Harness, stack: Stack, people: list, wanted: list[str], p: Params, **faults: Any):
    """The portal reset (its sessions gone: every container logs in again) with ``faults``
    on, ``wanted`` looked up, and the pipeline settled; (asked, tasks, settled)."""
    h.portal_reset()
    h.faults(**faults)
    asked = ask(people, wanted)
    ids = {a.task_id for _, a in asked if a.task_id}
    settled = settle(stack, ids, p.timeout, asked=asked)
    tasks = [t for t in stack.tasks() if t.pk in ids]
    return asked, tasks, settled


def _reasons(tasks: list) -> dict[str, int]:
    return dict(Counter(f"{t.status} {t.error_reason}" for t in tasks))


def run(h: Harness, p: Params) -> Row:
    row = Row("hostile_portal", TITLE, as_dict(p))
    lookups = p.os * (len(OFFSITE_MODES) + 2)
    changes = {
        "scrape_timeout_seconds": p.scrape_timeout,
        "read_timeout_seconds": p.read_timeout,
        "connect_timeout_seconds": 1.0,
        "max_attempts": p.max_attempts,
        "retry_base_delay_seconds": p.retry_base_delay,
        "rate_limit": lookups,
        "vip_rate_limit": lookups,
        # A portal that drips every answer fails for everyone: the breaker would hold its
        # tasks (the `recovery` scenario); here each must use its attempts and fail.
        "breaker_failures": 10_000,
    }
    wanted = [numbers(p.first_os + 1_000 * i, p.os) for i in range(len(OFFSITE_MODES) + 2)]
    drip_os, big_os = wanted[-2], wanted[-1]
    roomy = {
        **changes,
        "scrape_timeout_seconds": p.big_scrape_timeout,
        "read_timeout_seconds": p.big_read_timeout,
    }
    with OffsiteServer(DEMO_CREDENTIALS["password"]) as offsite:
        with h.stack("hostile_portal", scrapers=TimedScrapes, **changes) as stack:
            timer, budget, people = _started(stack, p)
            page_limit = stack.settings.max_page_bytes
            asked_all: list = []
            off_tasks: list = []
            settled_all = True
            for mode, os_numbers in zip(OFFSITE_MODES, wanted, strict=False):
                url = f"{offsite.url}/{mode}"
                asked, tasks, settled = _phase(
                    h, stack, people, os_numbers, p, offsite=mode, offsite_url=url
                )
                asked_all += asked
                off_tasks += tasks
                settled_all &= settled
                row.figures[f"{mode}: tasks"] = _reasons(tasks)
            asked, drip_tasks, settled = _phase(h, stack, people, drip_os, p, drip_ms=p.drip_ms)
            asked_all += asked
            settled_all &= settled
            tight = off_tasks + drip_tasks
            settle(stack, {t.pk for t in tight}, 60, dead_letters=len(tight), every=0.5)
            told = notifications(asked_all)
            letters = stack.dead_letters()
        with h.stack("hostile_portal_big", scrapers=TimedScrapes, **roomy) as stack:
            big_timer, _, people = _started(stack, p)
            big_asked, big_tasks, settled = _phase(
                h, stack, people, big_os, p, history_rows=p.history_rows
            )
            settled_all &= settled
            settle(stack, {t.pk for t in big_tasks}, 60, dead_letters=len(big_tasks), every=0.5)
            told = told.plus(notifications(big_asked))
            letters = letters + stack.dead_letters()
        reached = offsite.stats()
        every = off_tasks + drip_tasks + big_tasks
        ids = {t.pk for t in every}
    timer.attempts += big_timer.attempts
    drip_attempts = [s for n, s, _ in timer.attempts if n in set(drip_os)]
    big_attempts = [o for n, _, o in timer.attempts if n in set(big_os)]
    big = record_for(big_os[0], p.history_rows)  # the page as the portal served it
    page_bytes = len(
        detail_page(big, 1, page_size=max(1, p.history_rows)).encode(
            "iso-8859-1", "xmlcharrefreplace"
        )
    )
    row.figures.update(
        {
            "off-site server: connections / requests / with the password": (
                f"{reached['connections']} / {reached['requests']} / {reached['secret_seen']}"
            ),
            "drip: tasks": _reasons(drip_tasks),
            "drip: attempts": len(drip_attempts),
            "drip: longest attempt (s)": max(drip_attempts, default=0.0),
            "drip: scrape budget (s)": budget,
            "big page: bytes served": page_bytes,
            "big page: page cap (bytes)": page_limit,
            "big page: tasks": _reasons(big_tasks),
            "big page: attempts": len(big_attempts),
            "DLQ letters": len(letters),
            "terminal notifications": told.text(),
        }
    )
    row.check(
        "no request and no credential reaches the off-site server",
        reached["connections"] == reached["requests"] == reached["secret_seen"] == 0,
        f"{reached['connections']} connections, {reached['secret_seen']} with the password"
        + (f": {reached['paths'][:5]}" if reached["paths"] else ""),
    )
    off_ok = [
        t for t in off_tasks if t.status == TaskStatus.FAILURE and t.error_reason == "off_site"
    ]
    row.check(
        "every off-site task ends FAILURE as off_site, after one attempt",
        len(off_ok) == len(off_tasks) == p.os * len(OFFSITE_MODES)
        and all(int(t.attempts) == 1 for t in off_tasks),
        f"{len(off_ok)}/{p.os * len(OFFSITE_MODES)}; {_reasons(off_tasks)}",
    )
    drip_failed = [t for t in drip_tasks if t.status == TaskStatus.FAILURE]
    row.check(
        f"every drip task is retried then ends FAILURE (transient, {p.max_attempts} attempts)",
        len(drip_failed) == len(drip_tasks) == p.os
        and all(t.error_reason == "transient" for t in drip_failed)
        and all(int(t.attempts) == p.max_attempts for t in drip_tasks)
        and len(drip_attempts) == p.os * p.max_attempts,
        f"{_reasons(drip_tasks)}; {len(drip_attempts)} attempts",
    )
    longest = max(drip_attempts, default=float("inf"))
    row.check(
        f"every drip attempt ends within its budget + {p.margin:g} s",
        bool(drip_attempts) and longest <= budget + p.margin,
        f"longest {longest:.2f} s of {len(drip_attempts)}, budget {budget:g} s",
    )
    big_ok = [
        t for t in big_tasks if t.status == TaskStatus.FAILURE and t.error_reason == "too_large"
    ]
    row.check(
        "the oversized page ends FAILURE as too_large after one attempt",
        page_bytes > page_limit
        and len(big_ok) == len(big_tasks) == p.os
        and all(int(t.attempts) == 1 for t in big_tasks),
        f"{len(big_ok)}/{p.os}; {_reasons(big_tasks)}; attempts {Counter(big_attempts)}",
    )
    row.check(
        "no task stuck: every one is terminal, the scrape queue empty",
        settled_all and len(every) == p.os * (len(OFFSITE_MODES) + 2),
        f"{len(every)} tasks",
    )
    row.check(
        "every failure's message is in the DLQ, for ops",
        {d.task_id for d in letters} == ids,
        f"{len(letters)} letters for {len(ids)} failures",
    )
    check_notifications(row, told, len(ids))
    row.notes.append(
        f"{p.os} distinct OS per hostile mode, asked by {p.requesters} users ({p.vip} VIP) "
        "over the HTTP API, each followed on its own WebSocket connection; the portal is "
        "reset before each mode, so every worker container logs in again under it. The "
        "off-site server (`local.portal.OffsiteServer`) counts every TCP connection it "
        "accepts and every request carrying the portal's password."
    )
    row.notes.append(
        f"Drip: every page byte by byte, {p.drip_ms} ms apart; the scrape budget is the "
        f"worker's ({budget:g} s of a {p.scrape_timeout} s limit); each attempt's duration "
        "is measured around the scraper's call. Big page: "
        f"{p.history_rows} history rows on one page ({page_bytes} bytes) against "
        f"RASPA_MAX_PAGE_BYTES={page_limit}, on a stack of its own with a "
        f"{p.big_read_timeout:g} s read timeout and a {p.big_scrape_timeout} s limit, so that "
        "only its size can fail it."
    )
    return row

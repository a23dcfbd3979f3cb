"""Recovery: the portal is down until every task has failed into the DLQ; it comes back,
ops run ``python -m ops redrive``, and every task completes, scraped once."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import ops
from chalicelib.domain.tasks import TaskStatus
from reliability.harness import Harness
from reliability.report import Row
from reliability.scenarios.common import as_dict, ask, numbers, settle

__all__ = ["Params", "run"]

TITLE = "portal down until the tasks reach the DLQ, then up and an ops redrive"


@dataclass
class Params:
    os: int = 60
    requesters: int = 6
    vip: int = 2
    retry_base_delay: int = 1
    first_os: int = 630_000
    timeout: float = 300


def run(h: Harness, p: Params) -> Row:
    row = Row("recovery", TITLE, as_dict(p))
    per_user = -(-p.os // p.requesters)
    changes = {
        "retry_base_delay_seconds": p.retry_base_delay,
        "rate_limit": per_user,
        "vip_rate_limit": per_user,
    }
    with h.stack("recovery", **changes) as stack:
        people = stack.requesters(p.requesters, vip=p.vip)
        h.portal_stop()
        stack.worker()
        asked = ask(people, numbers(p.first_os, p.os))
        task_ids = {a.task_id for _, a in asked if a.task_id}
        down = settle(stack, task_ids, p.timeout, asked=asked, dead_letters=p.os)
        failed = [t for t in stack.tasks() if t.status == TaskStatus.FAILURE]
        dead = len(stack.dead_letters())
        h.portal_start()
        before = h.portal_stats()["by_kind"]["detail"]
        out, err = io.StringIO(), io.StringIO()
        code = ops.main(
            ["--local", "--state", str(stack.ops_state()), "redrive", "--json"], out=out, err=err
        )
        report = json.loads(out.getvalue() or "{}")
        up = settle(stack, task_ids, p.timeout)
        tasks = stack.tasks()
        scraped = h.portal_stats()["by_kind"]["detail"] - before
        records = stack.records()
        writes = stack.record_writes()
        left = stack.depth(stack.dlq_url)
        answers = {who.user: who.socket.received() for who in people if who.socket}

    succeeded = [t for t in tasks if t.status == TaskStatus.SUCCESS]
    sent = sum((report.get("sent") or {}).values())
    told_after = sum(
        1
        for who, answer in asked
        if answer.task_id
        and [m.get("status") for m in answers[who.user] if m.get("task_id") == answer.task_id][-1:]
        == ["success"]
    )
    row.figures.update(
        {
            "failed while down": len(failed),
            "attempts while down": f"{min(int(t.attempts) for t in failed) if failed else 0}"
            f"–{max(int(t.attempts) for t in failed) if failed else 0} per task",
            "dead letters": dead,
            "redrive exit code": code,
            "redrive sent": report.get("sent") or {},
            "redrive dropped/kept": f"{report.get('dropped') or {}}/{report.get('kept') or {}}",
            "succeeded after redrive": len(succeeded),
            "attempts after redrive": sorted({int(t.attempts) for t in succeeded}),
            "portal detail requests after redrive": scraped,
            "record writes": writes,
            "DLQ left": left,
            "requesters whose last word was success": f"{told_after}/{len(task_ids)}",
        }
    )
    row.check(
        "every task failed into the DLQ while the portal was down",
        down and len(failed) == dead == p.os,
        f"{len(failed)} FAILURE, {dead} dead letters of {p.os}",
    )
    row.check(
        "ops redrive sends every letter back (exit 0)",
        code == 0 and sent == p.os,
        f"exit {code}, sent {sent}" + (f", stderr {err.getvalue().strip()}" if code else ""),
    )
    row.check(
        "every redriven task completes",
        up and len(succeeded) == len(tasks) == p.os,
        f"{len(succeeded)}/{p.os} SUCCESS",
    )
    row.check(
        "each scraped once after the redrive, one record each",
        scraped == p.os
        and all(int(t.attempts) == 1 for t in succeeded)
        and writes == len(succeeded) == len({r.numero_os for r in records if r.outcome == "ok"}),
        f"{scraped} detail requests, {writes} record writes",
    )
    row.check("the DLQ is empty afterwards", left == 0, f"{left} left")
    row.notes.append(
        f"The portal's server is stopped (connections refused) while {p.os} lookups are "
        "scraped; each task fails after its 4 attempts and its message reaches the DLQ through "
        "the queues' redrive policy. The portal is started again and `python -m ops "
        "--local --state <this stack> redrive --json` runs (in process, `ops.main`)."
    )
    return row

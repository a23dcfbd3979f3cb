"""Layout drift: the portal's pages change shape; every task fails at once (no retry),
the ``LayoutDrift`` metric is emitted, and the CDK stack's alarm on it would fire."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.tasks import TaskStatus
from reliability.alarms import AlarmDefinitions
from reliability.harness import Harness
from reliability.probes import evaluate_alarm
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

TITLE = "the portal switched to the drifted layout"


@dataclass
class Params:
    os: int = 30
    requesters: int = 3
    vip: int = 1
    first_os: int = 620_000
    timeout: float = 120


def run(h: Harness, p: Params) -> Row:
    row = Row("layout_drift", TITLE, as_dict(p))
    definitions = AlarmDefinitions()  # synthesized while the scenario runs
    changes = {"rate_limit": p.os, "vip_rate_limit": p.os}
    with h.stack("layout_drift", **changes) as stack:
        mark = h.emf.mark()
        h.faults(layout="drifted")
        people = stack.requesters(p.requesters, vip=p.vip)
        stack.worker()
        asked = ask(people, numbers(p.first_os, p.os))
        task_ids = {a.task_id for _, a in asked if a.task_id}
        settled = settle(stack, task_ids, p.timeout, asked=asked, dead_letters=p.os)
        tasks = stack.tasks()
        told = notifications(asked)
        letters = stack.dead_letters()
        portal = h.portal_stats()
        drift = h.emf.values("LayoutDrift", since=mark, service="raspa")
        retried = h.emf.total("ScrapeRetried", since=mark)
    failed = [
        t for t in tasks if t.status == TaskStatus.FAILURE and t.error_reason == "layout_changed"
    ]
    emitted = sum(v for _, v in drift)
    try:
        alarm = definitions.get()["LayoutDrift"]
    except (RuntimeError, KeyError) as exc:
        row.error = f"no LayoutDrift alarm definition: {exc}"
        return row
    state, worst = evaluate_alarm(alarm, drift)
    row.figures.update(
        {
            "tasks": len(tasks),
            "failed layout_changed": len(failed),
            "attempts": sum(int(t.attempts) for t in tasks),
            "ScrapeRetried emitted": int(retried),
            "portal detail requests": portal["by_kind"]["detail"],
            "LayoutDrift emitted": int(emitted),
            "alarm": (
                f"{alarm.name}: {alarm.statistic} over {alarm.period} s {alarm.comparison} "
                f"{alarm.threshold:g}; worst period {worst:g} → {state}"
            ),
            "DLQ letters": len(letters),
            "terminal notifications": told.text(),
        }
    )
    row.check(
        "every task fails as layout_changed",
        settled and len(failed) == len(tasks) == p.os,
        f"{len(failed)}/{p.os}",
    )
    row.check(
        "at once, without retries (one attempt, one detail page each)",
        all(int(t.attempts) == 1 for t in tasks)
        and retried == 0
        and portal["by_kind"]["detail"] == p.os,
        f"{sum(int(t.attempts) for t in tasks)} attempts, {int(retried)} retries, "
        f"{portal['by_kind']['detail']} detail requests",
    )
    row.check(
        "the LayoutDrift metric is emitted for every drift failure",
        emitted == len(failed) > 0,
        f"{int(emitted)} for {len(failed)} failures",
    )
    row.check(
        "the alarm's metric crosses its threshold (the alarm fires)",
        state == "ALARM",
        f"worst {alarm.period} s period {worst:g} vs {alarm.comparison} {alarm.threshold:g}",
    )
    row.check(
        "every failure's message is in the DLQ, for ops to redrive after a fix",
        {d.task_id for d in letters} == {t.pk for t in failed},
        f"{len(letters)} letters",
    )
    check_notifications(row, told, p.os)
    row.notes.append(
        "The alarm is the one `infra/monitoring.py` defines (the monitoring construct "
        "synthesized with the CDK during the run); its statistic, period, comparison, "
        "threshold and datapoints are applied to the `LayoutDrift` values of the EMF "
        "documents the worker printed, as CloudWatch evaluates them."
    )
    return row

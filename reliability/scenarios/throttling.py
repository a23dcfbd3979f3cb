"""AWS throttling: a share of the app's DynamoDB and SQS calls is answered with a
throttling error; the SDKs' retries (and SQS redelivery) absorb it: nothing is lost and
nothing is duplicated."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from chalicelib.domain.tasks import TaskStatus
from reliability.harness import Harness
from reliability.probes import Throttler
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

TITLE = "DynamoDB and SQS throttling on a share of the app's calls"


@dataclass
class Params:
    os: int = 200
    requesters: int = 10
    vip: int = 3
    #: Share of the app's DynamoDB and SQS calls answered with a throttling error.
    share: float = 0.10
    seed: int = 11
    #: The worker's time limit (a message whose handler failed comes back after 6×); its
    #: time budget for portal requests is this − the read timeout − 5 s.
    scrape_timeout: int = 12
    read_timeout: float = 2.0
    first_os: int = 650_000
    timeout: float = 400


def run(h: Harness, p: Params) -> Row:
    row = Row("throttling", TITLE, as_dict(p))
    per_user = 2 * -(-p.os // p.requesters)  # room for a lookup asked again after a 503
    changes = {
        "rate_limit": per_user,
        "vip_rate_limit": per_user,
        "scrape_timeout_seconds": p.scrape_timeout,
        "read_timeout_seconds": p.read_timeout,
        "retry_base_delay_seconds": 1,
    }
    with h.stack("throttling", **changes) as stack:
        throttler = Throttler(p.share, seed=p.seed)
        throttler.hook(stack.app_clients())
        people = stack.requesters(p.requesters, vip=p.vip)
        worker = stack.worker()
        throttler.enabled = True
        asked = ask(people, numbers(p.first_os, p.os))
        task_ids = {a.task_id for _, a in asked if a.task_id}
        settled = settle(stack, task_ids, p.timeout, asked=asked)
        told = notifications(asked)
        throttler.enabled = False
        tasks = stack.tasks()
        records = stack.records()
        writes = stack.record_writes()
        letters = stack.dead_letters()
        queue_empty = stack.queue_empty()
        portal = h.portal_stats()
        handler_errors = sum(source.stats.errors for source in worker.sources)

    success_by_os = Counter(t.numero_os for t in tasks if t.status == TaskStatus.SUCCESS)
    retried = sum(1 for t in tasks if int(t.attempts or 0) > 1)
    others = Counter(t.error_reason or t.status for t in tasks if t.status != TaskStatus.SUCCESS)
    injected = throttler.injected_by_service()
    sent = dict(throttler.sent)
    answered = Counter(a.status for _, a in asked)
    row.figures.update(
        {
            "app calls (DynamoDB/SQS)": f"{sent.get('dynamodb', 0)}/{sent.get('sqs', 0)}",
            "throttles injected (DynamoDB/SQS)": (
                f"{injected.get('dynamodb', 0)}/{injected.get('sqs', 0)}"
            ),
            "throttled operations": dict(throttler.injected.most_common(8)),
            "lookups answered": dict(answered),
            "503s the client retried": sum(a.retried_503 for _, a in asked),
            "worker invocations that raised (SQS redelivers)": handler_errors,
            "tasks that needed another attempt": retried,
            "tasks": len(tasks),
            "tasks not SUCCESS": dict(others) or 0,
            "record writes": writes,
            "portal detail requests": portal["by_kind"]["detail"],
            "terminal notifications": told.text(),
            "DLQ letters": len(letters),
        }
    )
    row.check(
        "throttling hit both DynamoDB and SQS calls",
        injected.get("dynamodb", 0) > 0 and injected.get("sqs", 0) > 0,
        f"{injected}",
    )
    row.check(
        "every lookup answered 202 (retried when the API said 503)",
        answered[202] == p.os,
        dict(answered),
    )
    row.check(
        "nothing lost: every OS ends SUCCESS",
        settled and set(success_by_os) == {str(p.first_os + i) for i in range(p.os)},
        f"{len(success_by_os)}/{p.os}",
    )
    row.check(
        "no duplicate: one SUCCESS task and one record write per OS",
        all(n == 1 for n in success_by_os.values())
        and writes == len(success_by_os)
        and len({r.numero_os for r in records if r.outcome == "ok"}) == len(success_by_os),
        f"{writes} writes, most SUCCESS tasks for one OS {max(success_by_os.values(), default=0)}",
    )
    check_notifications(row, told, p.os)
    row.check(
        "nothing left in the scrape queue or the DLQ",
        queue_empty and not letters,
        f"queue empty {queue_empty}, {len(letters)} letters",
    )
    row.notes.append(
        f"A botocore `before-send` hook on the app's SQS client and on every PynamoDB model's "
        f"client answers {p.share:.0%} of their calls (seeded) with `ThrottlingException` or "
        "`ProvisionedThroughputExceededException` before they leave the process, inside "
        "botocore's retry loop (PynamoDB: standard mode, 4 attempts; boto3 SQS: legacy mode, "
        "5 attempts). Lambda's pollers and the harness's own reads are not throttled. A "
        "client that gets a 503 asks again after its Retry-After, as the page's user would."
    )
    return row

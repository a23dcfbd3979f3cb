"""Operations CLI: ``python -m infra.ops [--local] <command>`` — lanes, the DLQ and tasks.

Commands: ``status`` (lanes and dead letters at a glance), ``dlq`` (list dead letters),
``redrive`` (every dead letter back to its lane, its task made runnable again),
``purge <lane>`` (its waiting tasks fail as purged, their locks released), ``task
<task_id>`` and ``cancel <batch_id>``. Against AWS it uses boto3's default credentials and
the ``RASPA_*`` names; ``--local`` talks to ``make run``'s stack as ``.raspa/local.json``
describes it. See docs/ops.md.

Exit codes: 0 done, 1 not (all) done (a declined purge, letters left in the DLQ, AWS
refused a call), 2 bad input or nothing to talk to (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)
from pynamodb.exceptions import PynamoDBException

from chalicelib.config import Settings
from chalicelib.domain.lanes import SETTINGS as LANE_SETTINGS
from chalicelib.domain.lanes import Lane, lane_configs
from chalicelib.domain.tasks import TaskStatus, is_task_id
from chalicelib.errors import RaspaError
from infra.dlq import (
    DLQ,
    INGEST,
    LANES,
    QUEUES,
    DeadLetter,
    Disposition,
    describe,
    disposition,
    earlier,
    queue_named,
    summarise,
)

__all__ = [
    "Ops",
    "OpsError",
    "RedriveReport",
    "Redriven",
    "connect",
    "main",
    "peek",
    "purge",
    "queue_counts",
    "redrive",
]

ROOT = Path(__file__).resolve().parents[1]
#: How long a received dead letter stays hidden while redrive decides (released after).
HOLD_SECONDS = 300
#: How long ``dlq`` and ``status`` hide the letters they read (released at once after).
PEEK_SECONDS = 30
#: Error codes of an SQS endpoint without StartMessageMoveTask (emulators answer a bare
#: HTTP status, which botocore reports as the code; AWS's own errors have names).
_NO_MOVE_TASK = {
    "InvalidAction",
    "UnsupportedOperation",
    "NotImplemented",
    "UnknownOperation",
    "404",
    "500",
    "501",
}
#: ``.raspa/local.json`` keys of the queue URLs ``make run`` writes (a lane's: the name
#: of its URL setting, ``chalicelib.domain.lanes.SETTINGS``).
_LOCAL_KEYS = {
    **{lane: LANE_SETTINGS[lane].queue_url for lane in Lane},
    INGEST: "ingest_queue_url",
    DLQ: "dlq_url",
}


class OpsError(Exception):
    """Bad input or nothing to talk to: one line for the operator, exit code 2."""


@dataclass
class Ops:
    """What one command works with: clients, the store and the queues that exist."""

    sqs: Any
    store: Any
    settings: Settings
    #: Queue URLs by queue (``vip``, ``standard``, ``batch``, ``ingest``, ``dlq``).
    urls: dict[str, str]
    names: dict[str, str]
    #: Where the commands go, for messages ("the local stack at ...", "AWS us-east-1").
    where: str
    local: bool = False
    #: The batch use cases, built on first use (``batch_service``).
    batches: Any = None

    def url(self, queue: str) -> str:
        if queue not in self.urls:
            raise OpsError(f"no {queue} queue named {self.names[queue]!r} on {self.where}")
        return self.urls[queue]


@dataclass(frozen=True)
class Redriven:
    """One dead letter and what redrive did with it."""

    letter: DeadLetter
    #: ``Disposition.SEND``, ``DROP`` or ``KEEP``.
    action: str
    #: Why: the task's reopen result, "duplicate", "moved up", "failed again", "no lane"...
    why: str
    #: The queue it was sent to (SEND).
    to: str | None = None


@dataclass
class RedriveReport:
    letters: list[Redriven] = field(default_factory=list)
    #: The SQS move task's handle, when SQS moves the letters (``--sqs-move``).
    move_task: str | None = None
    notes: list[str] = field(default_factory=list)

    def count(self, action: str) -> Counter[str]:
        """Letters with ``action``, by lane (SEND) or by reason."""
        return Counter(
            (r.to or "?") if action == Disposition.SEND else r.why
            for r in self.letters
            if r.action == action
        )


# ------------------------------------------------------------------ connecting
def local_environment(state: Path) -> dict[str, str]:
    """The AWS variables that point boto3 and PynamoDB at ``make run``'s moto server."""
    info = _local_info(state)
    region = str(info.get("region") or "us-east-1")
    return {
        "AWS_ENDPOINT_URL": str(info["aws_endpoint_url"]),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",  # moto accepts any key
    }


@contextlib.contextmanager
def environment(overrides: Mapping[str, str]) -> Iterator[None]:
    """Set ``overrides`` (and drop profile and session variables if any are set) for a while."""
    drop = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN") if overrides else ()
    saved = {k: os.environ.get(k) for k in (*overrides, *drop)}
    try:
        for key in drop:
            os.environ.pop(key, None)
        os.environ.update(overrides)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def connect(*, local: bool = False, state: Path | None = None, region: str | None = None) -> Ops:
    """Clients, the store and queue URLs, from the environment ``environment`` set up.

    Local: queue URLs from ``.raspa/local.json`` and a probe that the stack answers. AWS:
    the ``RASPA_*`` names (or ``RASPA_*_QUEUE_URL``), looked up with GetQueueUrl. Table
    names come from local.json (a stack older than that file's table keys: ``RASPA_*``).
    """
    settings = Settings.from_env()
    if region:
        settings = dataclasses.replace(settings, region=region)
    lanes = lane_configs(settings)
    names = {
        **{c.lane: c.queue_name for c in lanes},
        INGEST: settings.ingest_queue_name,
        DLQ: settings.dlq_name,
    }
    retries = {"mode": "standard", "max_attempts": 1 if local else 3}
    config = Config(retries=retries, connect_timeout=2 if local else 10, read_timeout=30)
    sqs = boto3.client("sqs", region_name=settings.region, config=config)
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if local:
        info = _local_info(state or default_state())
        tables = ("os_table", "tasks_table", "connections_table")
        settings = dataclasses.replace(settings, **{t: str(info[t]) for t in tables if info.get(t)})
        urls = {q: str(info[key]) for q, key in _LOCAL_KEYS.items() if info.get(key)}
        names.update({q: url.rstrip("/").rsplit("/", 1)[-1] for q, url in urls.items()})
        where = f"the local stack at {endpoint}"
        _probe(sqs, urls, endpoint)
    else:
        configured = {
            **{c.lane: c.queue_url for c in lanes},
            INGEST: settings.ingest_queue_url,
        }
        urls = {q: u for q, u in configured.items() if u}
        for queue, name in names.items():
            if queue not in urls:
                with contextlib.suppress(sqs.exceptions.QueueDoesNotExist):
                    urls[queue] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        where = f"AWS {settings.region}" + (f" ({endpoint})" if endpoint else "")
    return Ops(sqs, _store(settings), settings, urls, names, where, local)


def default_state() -> Path:
    """``make run``'s state file (``RASPA_STATE_DIR`` moves it, as for the stack)."""
    return Path(os.environ.get("RASPA_STATE_DIR") or ROOT / ".raspa") / "local.json"


def _local_info(state: Path) -> dict[str, Any]:
    try:
        info = json.loads(state.read_text())
    except FileNotFoundError:
        raise OpsError(
            f"no local stack running: {state} not found (start one with `make run`)"
        ) from None
    except (OSError, ValueError) as exc:
        raise OpsError(f"cannot read {state}: {exc}") from None
    if not isinstance(info, dict) or not info.get("aws_endpoint_url"):
        raise OpsError(f"{state} names no aws_endpoint_url; restart the stack with `make run`")
    return info


def _probe(sqs: Any, urls: Mapping[str, str], endpoint: str) -> None:
    """Fail early, in one line, when the local stack is gone or is another one."""
    try:
        sqs.get_queue_attributes(QueueUrl=urls.get(DLQ, ""), AttributeNames=["QueueArn"])
    except (EndpointConnectionError, ConnectionError):
        raise OpsError(
            f"no local stack answering at {endpoint} (start one with `make run`)"
        ) from None
    except (ClientError, BotoCoreError) as exc:
        raise OpsError(
            f"the local stack at {endpoint} lacks the queues its local.json names ({exc}); "
            "restart it with `make run`"
        ) from None


def _store(settings: Settings) -> Any:
    """Every DynamoDB store (``DynamoStores``), over the tables ``settings`` name."""
    from chalicelib.adapters.dynamo.stores import DynamoStores

    return DynamoStores.build(settings)


# ------------------------------------------------------------------ reading
def queue_counts(ops: Ops) -> dict[str, dict[str, Any]]:
    """Waiting, in-flight and delayed messages of every queue, and tasks waiting per lane."""
    keys = {
        "waiting": "ApproximateNumberOfMessages",
        "in_flight": "ApproximateNumberOfMessagesNotVisible",
        "delayed": "ApproximateNumberOfMessagesDelayed",
    }
    counts: dict[str, dict[str, Any]] = {}
    for queue in QUEUES:
        if queue not in ops.urls:
            continue
        attrs = ops.sqs.get_queue_attributes(
            QueueUrl=ops.urls[queue], AttributeNames=list(keys.values())
        )["Attributes"]
        row: dict[str, Any] = {"name": ops.names[queue]}
        row.update({k: int(attrs.get(v, 0)) for k, v in keys.items()})
        if queue in LANES:
            row["tasks_pending"] = ops.store.queue_index.waiting(queue)
        counts[queue] = row
    return counts


def peek(ops: Ops, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, left in the DLQ (visible again at once).

    Reads as many as SQS counts visible (an approximate number), so it does not wait
    for an empty answer at the end.
    """
    url = ops.url(DLQ)
    attrs = ops.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    visible = min(limit, int(attrs.get("ApproximateNumberOfMessages", 0)))
    letters: dict[str, DeadLetter] = {}
    for message in _receive(ops.sqs, url, visible, PEEK_SECONDS):
        letters.setdefault(message["MessageId"], describe(message, ops.names))
    _release(ops.sqs, url, [d.receipt_handle for d in letters.values()])
    return list(letters.values())


def read_tasks(ops: Ops, task_ids: Sequence[str]) -> dict[str, Any]:
    """The tasks of ``task_ids`` that exist, by id (BatchGetItem, 100 at a time)."""
    return {task.pk: task for task in ops.store.tasks.get_many(task_ids)}


def task_view(task: Any) -> dict[str, Any]:
    """A task record as plain JSON values (sets sorted, timestamps as epoch seconds)."""
    return {
        "task_id": task.pk,
        "numero_os": task.numero_os,
        "status": task.status,
        "attempts": int(task.attempts or 0),
        "progress": int(task.progress or 0),
        "step": task.step,
        "lane": task.queue or task.lane,
        "error": task.error,
        "error_reason": task.error_reason,
        "error_detail": task.error_detail,
        "requested_by": task.requested_by,
        "requesters": sorted(task.requesters or ()),
        "batch_id": task.batch_id,
        "waiting_batches": int(task.waiters or 0),
        "created_at": _epoch(task.created_at),
        "queued_at": _epoch(task.queued_at),
        "started_at": _epoch(task.started_at),
        "finished_at": _epoch(task.finished_at),
        "updated_at": _epoch(task.updated_at),
        "expires_at": task.expires_at.timestamp() if task.expires_at else None,
        "result": task.result,
    }


def failures(letters: Sequence[DeadLetter], tasks: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dead letters' failed tasks, newest first, with lane and reason."""
    rows = []
    for letter in letters:
        task = tasks.get(letter.task_id or "")
        if task is None or task.status != TaskStatus.FAILURE:
            continue
        rows.append(
            {
                "task_id": task.pk,
                "numero_os": task.numero_os,
                "lane": letter.lane,
                "attempts": int(task.attempts or 0),
                "reason": task.error_reason,
                "error": task.error,
                "finished_at": _epoch(task.finished_at),
            }
        )
    unique = {r["task_id"]: r for r in rows}.values()
    return sorted(unique, key=lambda r: r["finished_at"] or 0, reverse=True)


# ------------------------------------------------------------------ changing
def redrive(ops: Ops, *, limit: int | None = None) -> RedriveReport:
    """Every dead letter back to its lane, its task made runnable again (``Reopener.reopen``).

    Receives and resends, so each letter goes to the lane its body names. A task another
    active task has replaced, one whose OS is cached since or one already done is not run
    again: its letter is dropped. Letters raspa did not write, of tasks that no longer
    exist, or that fail again while this runs stay in the DLQ.
    """
    url = ops.url(DLQ)
    report = RedriveReport()
    sent_ids: set[str] = set()
    lane_of_task: dict[str, str] = {}
    held: list[str] = []
    while limit is None or len(report.letters) < limit:
        want = 10 if limit is None else min(10, limit - len(report.letters))
        messages = _receive(ops.sqs, url, want, HOLD_SECONDS, once=True)
        if not messages:
            break
        for message in messages:
            letter = describe(message, ops.names)
            done = _redrive_one(ops, letter, message, sent_ids, lane_of_task)
            report.letters.append(done)
            if done.action == Disposition.KEEP:
                held.append(letter.receipt_handle)
            else:
                ops.sqs.delete_message(QueueUrl=url, ReceiptHandle=letter.receipt_handle)
    _release(ops.sqs, url, held)
    return report


def _redrive_one(
    ops: Ops,
    letter: DeadLetter,
    message: Mapping[str, Any],
    sent_ids: set[str],
    lane_of_task: dict[str, str],
) -> Redriven:
    if letter.message_id in sent_ids:
        return Redriven(letter, Disposition.KEEP, "failed again during this redrive")
    if letter.lane is None:
        return Redriven(letter, Disposition.KEEP, "not a raspa message")
    if letter.lane not in ops.urls:
        return Redriven(letter, Disposition.KEEP, f"no {letter.lane} queue")

    def send(why: str) -> Redriven:
        response = ops.sqs.send_message(
            QueueUrl=ops.urls[letter.lane], MessageBody=letter.body, **_attributes(message)
        )
        sent_ids.add(response["MessageId"])
        if letter.task_id:
            lane_of_task[letter.task_id] = str(letter.lane)
        return Redriven(letter, Disposition.SEND, why, letter.lane)

    if letter.kind != "scrape" or not letter.task_id:
        return send(letter.kind)
    if letter.task_id in lane_of_task:
        first = lane_of_task[letter.task_id]
        if earlier(letter.lane, first):
            task = ops.store.tasks.get_task(letter.task_id)
            if task is not None and ops.store.tasks.promote(task, letter.lane):
                return send(f"moved up from {first}")
        return Redriven(letter, Disposition.DROP, f"duplicate (sent to {first})")
    outcome = ops.store.reopener.reopen(letter.task_id, letter.lane)
    action = disposition(outcome.result)
    if action == Disposition.SEND:
        return send(_why(outcome))
    return Redriven(letter, action, _why(outcome))


def _why(outcome: Any) -> str:
    """A reopen outcome in words: "reopened", "superseded by <task>", "cached"..."""
    return f"{outcome.result} by {outcome.holder}" if outcome.holder else str(outcome.result)


def redrive_by_move_task(ops: Ops, *, limit: int = 1000) -> RedriveReport:
    """Reopen the tasks of up to ``limit`` dead letters, then let SQS move the whole DLQ
    back to the letters' source queues (StartMessageMoveTask).

    Letters whose task must not run again are deleted first. Letters beyond ``limit``,
    or arriving meanwhile, are moved with their tasks still FAILURE, so the worker sends
    them back to the DLQ. Without StartMessageMoveTask (moto), redrives letter by letter.
    """
    url = ops.url(DLQ)
    report = RedriveReport()
    release: list[str] = []
    for message in _receive(ops.sqs, url, limit, HOLD_SECONDS):
        letter = describe(message, ops.names)
        if letter.kind == "scrape" and letter.task_id and letter.lane in LANES:
            outcome = ops.store.reopener.reopen(letter.task_id, letter.lane)
            if disposition(outcome.result) == Disposition.DROP:
                ops.sqs.delete_message(QueueUrl=url, ReceiptHandle=letter.receipt_handle)
                report.letters.append(Redriven(letter, Disposition.DROP, _why(outcome)))
                continue
        release.append(letter.receipt_handle)
    _release(ops.sqs, url, release)
    handle = None if ops.local else _start_move_task(ops.sqs, url)
    if handle is None:
        rest = redrive(ops)
        rest.letters[:0] = report.letters
        rest.notes.append("this SQS has no StartMessageMoveTask: redrove letter by letter")
        return rest
    report.move_task = handle
    return report


def _start_move_task(sqs: Any, dlq_url: str) -> str | None:
    """StartMessageMoveTask from the DLQ to each letter's source queue; None if unsupported."""
    arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]
    try:
        return sqs.start_message_move_task(SourceArn=arn["QueueArn"])["TaskHandle"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _NO_MOVE_TASK:
            raise
        return None


def purge(ops: Ops, queue: str) -> int:
    """Delete every message of ``queue`` (SQS allows one purge a minute per queue), then
    fail the tasks of that lane that waited for one (PENDING, held batch tasks, RETRY
    between attempts) as ``purged``: their OS locks are released, their batches count
    the outcome and their requesters read why. Returns how many tasks were dropped."""
    from chalicelib.domain.messages import user_message

    ops.sqs.purge_queue(QueueUrl=ops.url(queue))
    if queue not in LANES:
        return 0
    dropped = 0
    message = user_message("purged")
    for task in list(ops.store.queue_index.waiting_tasks(queue)):
        current = ops.store.tasks.get_task(task.pk)
        failed = None
        if current is not None:
            failed = ops.store.runs.fail_waiting(current, message=message, reason="purged")
        if failed is None:
            continue  # it started or finished meanwhile: it keeps its own message
        dropped += 1
        if failed.batch_id or failed.waiters:
            batch_service(ops).task_finished(failed)
    return dropped


def cancel(ops: Ops, batch_id: str) -> dict[str, Any]:
    """Cancel any user's batch, as its owner would with ``DELETE /batches/{id}``."""
    return batch_service(ops).cancel(batch_id, None)


def batch_service(ops: Ops) -> Any:
    """The batch use cases, built on the clients ops talks to (no WebSocket: the owner
    reads the outcome in the page or with ``GET /batches/{id}``)."""
    if ops.batches is None:
        from chalicelib.adapters.bucket import BatchBucket
        from chalicelib.adapters.queue import ScrapeQueue
        from chalicelib.domain.profile import DEFAULT_PROFILE_PATH, load_profile
        from chalicelib.services.batches import build_batch_service
        from chalicelib.services.notify import Notifier

        s = ops.settings
        profile = load_profile(
            s.profile_path or DEFAULT_PROFILE_PATH, base_url=s.portal_base_url or None
        )
        ops.batches = build_batch_service(
            s,
            ops.store,
            bucket=BatchBucket(boto3.client("s3", region_name=s.region), s.batch_bucket),
            batch_queue=ScrapeQueue(ops.sqs, ops.url(Lane.BATCH), Lane.BATCH),
            ingest_queue=ScrapeQueue(ops.sqs, ops.url(INGEST)),
            profile=profile,
            notifier=Notifier(ops.store.connections, None),
        )
    return ops.batches


# ------------------------------------------------------------------ CLI commands
@dataclass
class Console:
    """Where a command writes and how it asks (tests pass their own)."""

    out: TextIO
    err: TextIO
    confirm: Callable[[str], str] = input

    def say(self, *values: Any, end: str = "\n") -> None:
        print(*values, end=end, file=self.out)

    def json(self, value: Any) -> None:
        self.say(json.dumps(value, indent=2, default=str, ensure_ascii=False))


Command = Callable[[Ops, argparse.Namespace, Console], int]


def _status(ops: Ops, args: argparse.Namespace, con: Console) -> int:
    counts = queue_counts(ops)
    letters = peek(ops, args.peek) if DLQ in ops.urls else []
    tasks = read_tasks(ops, [d.task_id for d in letters if d.task_id])
    reasons = {t: tasks[t].error_reason or tasks[t].status for t in tasks}
    recent = failures(letters, tasks)
    summary = summarise(letters, reasons)
    if args.json:
        con.json(
            {
                "where": ops.where,
                "queues": counts,
                "dead_letters": summary,
                "recent_failures": recent[: args.failures],
            }
        )
        return 0
    con.say(f"raspa on {ops.where}")
    rows = [
        [q, c["name"], c["waiting"], c["in_flight"], c["delayed"], c.get("tasks_pending", "")]
        for q, c in counts.items()
    ]
    con.say(_table(["queue", "name", "waiting", "in flight", "delayed", "tasks pending"], rows))
    missing = [q for q in QUEUES if q not in counts]
    if missing:
        con.say(f"not found: {', '.join(f'{q} ({ops.names[q]})' for q in missing)}")
    con.say(f"\ndead letters read: {summary['total']}", end="")
    if summary["total"]:
        con.say(
            " — " + "; ".join(_counts(summary[k]) for k in ("by_lane", "by_reason") if summary[k])
        )
    else:
        con.say()
    if recent:
        con.say("recent failures (newest first):")
        rows = [
            [
                _when(r["finished_at"]),
                r["task_id"],
                r["numero_os"],
                r["lane"],
                r["reason"],
                _short(r["error"], 60),
            ]
            for r in recent[: args.failures]
        ]
        con.say(_table(["finished", "task", "OS", "lane", "reason", "error"], rows, indent=2))
    return 0


def _dlq(ops: Ops, args: argparse.Namespace, con: Console) -> int:
    letters = peek(ops, args.max)
    tasks = read_tasks(ops, [d.task_id for d in letters if d.task_id])
    listed = []
    for d in letters:
        task = tasks.get(d.task_id or "")
        listed.append(
            {
                "message_id": d.message_id,
                "kind": d.kind,
                "lane": d.lane,
                "task_id": d.task_id,
                "numero_os": d.numero_os,
                "batch_id": d.batch_id,
                "object_key": d.object_key,
                "receive_count": d.receive_count,
                "task_status": task.status if task else None,
                "reason": task.error_reason if task else None,
                "error": task.error if task else None,
                "body": d.body,
            }
        )
    if args.json:
        con.json(listed)
        return 0
    rows = [
        [
            r["kind"],
            r["lane"] or "?",
            d.ref,
            r["numero_os"] or "-",
            r["receive_count"],
            r["task_status"] or ("no task" if d.task_id else "-"),
            r["reason"] or "-",
            _short(r["error"] or ("" if d.task_id else d.body), 60),
        ]
        for r, d in zip(listed, letters, strict=True)
    ]
    if rows:
        con.say(
            _table(
                ["kind", "lane", "task / ref", "OS", "receives", "status", "reason", "error"], rows
            )
        )
    con.say(f"{len(letters)} dead letter(s) in {ops.names[DLQ]}")
    return 0


def _redrive(ops: Ops, args: argparse.Namespace, con: Console) -> int:
    if args.sqs_move:
        report = redrive_by_move_task(ops, limit=args.max or 1000)
    else:
        report = redrive(ops, limit=args.max)
    if args.json:
        con.json(
            {
                "move_task": report.move_task,
                "sent": dict(report.count(Disposition.SEND)),
                "dropped": dict(report.count(Disposition.DROP)),
                "kept": dict(report.count(Disposition.KEEP)),
                "letters": [
                    {
                        "message_id": r.letter.message_id,
                        "task_id": r.letter.task_id,
                        "numero_os": r.letter.numero_os,
                        "lane": r.letter.lane,
                        "action": r.action,
                        "why": r.why,
                        "to": r.to,
                    }
                    for r in report.letters
                ],
                "notes": report.notes,
            }
        )
    else:
        for note in report.notes:
            con.say(f"note: {note}")
        rows = [
            [r.action, r.letter.lane or "?", r.letter.ref, r.letter.numero_os or "-", r.why]
            for r in report.letters
        ]
        if rows:
            con.say(_table(["action", "lane", "task / ref", "OS", "why"], rows))
        if report.move_task:
            con.say(f"SQS is moving the DLQ back to the source queues (task {report.move_task})")
        con.say(
            f"sent back: {_counts(report.count(Disposition.SEND)) or 'none'}; "
            f"dropped: {sum(report.count(Disposition.DROP).values())}; "
            f"left in the DLQ: {sum(report.count(Disposition.KEEP).values())}"
        )
    return 1 if report.count(Disposition.KEEP) else 0


def _purge(ops: Ops, args: argparse.Namespace, con: Console) -> int:
    queue = _queue_arg(args.lane)
    ops.url(queue)  # exists, or a one-line error
    name = ops.names[queue]
    counts = queue_counts(ops).get(queue, {})
    if not args.yes:
        con.say(
            f"{name} ({queue}) holds {counts.get('waiting', 0)} waiting, "
            f"{counts.get('in_flight', 0)} in flight and {counts.get('delayed', 0)} delayed."
        )
        if counts.get("tasks_pending"):
            con.say(
                f"{counts['tasks_pending']} waiting task(s) of this lane will fail as purged, "
                "their OS locks released (their users can ask again)."
            )
        try:
            answer = con.confirm(f"Delete every message in {name}? [y/N] ")
        except EOFError:
            con.say()
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            con.say("nothing purged")
            return 1
    dropped = purge(ops, queue)
    con.say(f"purged {name} ({queue}); {dropped} waiting task(s) failed as purged, locks released")
    return 0


def _cancel(ops: Ops, args: argparse.Namespace, con: Console) -> int:
    from chalicelib.errors import BatchFinishedError, BatchNotFoundError

    try:
        view = cancel(ops, args.batch_id)
    except BatchNotFoundError:
        raise OpsError(f"no batch {args.batch_id} in {ops.settings.tasks_table}") from None
    except BatchFinishedError as exc:
        con.say(f"batch {args.batch_id} is {exc.status}: nothing to cancel")
        return 1
    if args.json:
        con.json(view)
    else:
        con.say(
            f"batch {args.batch_id} cancelled; its waiting tasks are failed and their locks "
            "released by the ingest function"
        )
    return 0


def _task(ops: Ops, args: argparse.Namespace, con: Console) -> int:

    if not is_task_id(args.task_id):
        raise OpsError(f"not a task id: {args.task_id!r} (task ids are 32 hex digits)")
    task = ops.store.tasks.get_task(args.task_id)
    if task is None:
        raise OpsError(f"no task {args.task_id} in {ops.settings.tasks_table}")
    view = task_view(task)
    holder = ops.store.locks.holder(task.numero_os, consistent=True)
    view["os_lock"] = holder
    if args.json:
        con.json(view)
        return 0
    lock = "free" if holder is None else ("this task" if holder == task.pk else holder)
    rows = [
        ["task", view["task_id"]],
        ["OS", view["numero_os"]],
        ["status", f"{view['status']} (step {view['step'] or '-'}, {view['progress']}%)"],
        ["attempts", view["attempts"]],
        ["lane", view["lane"] or "-"],
        ["error", view["error"] or "-"],
        ["reason", view["error_reason"] or "-"],
        ["detail", view["error_detail"] or "-"],
        ["requesters", ", ".join(view["requesters"]) or "-"],
        ["batch", view["batch_id"] or "-"],
        ["other batches waiting", view["waiting_batches"]],
        ["OS lock", f"held by {lock}" if holder else lock],
    ]
    for key in ("created_at", "queued_at", "started_at", "finished_at", "updated_at"):
        rows.append([key.removesuffix("_at"), _when(view[key])])
    if view["result"]:
        rows.append(["result", f"{len(view['result'])} fields (--json shows them)"])
    con.say(_table(["", ""], rows, header=False))
    return 0


# ------------------------------------------------------------------ parser and main
class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The common options; after the command too (``status --local``), without defaults
    there so they do not undo the ones given before it."""

    def keep(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--local", action="store_true", default=keep(False), help="the stack of `make run`"
    )
    parser.add_argument(
        "--state", type=Path, default=keep(None), help="the local stack's file (.raspa/local.json)"
    )
    parser.add_argument("--region", default=keep(None), help="AWS region (default: AWS_REGION)")
    parser.add_argument(
        "--endpoint-url", default=keep(None), help="another AWS endpoint (an emulator)"
    )
    parser.add_argument("--json", action="store_true", default=keep(False), help="JSON output")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m infra.ops",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _options(parser, defaults=True)
    commands = parser.add_subparsers(required=True, metavar="command", dest="command_name")

    def command(name: str, run: Command, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        _options(sub, defaults=False)
        sub.set_defaults(run=run)
        return sub

    sub = command("status", _status, "lane depths, dead letters and recent failures")
    sub.add_argument("--peek", type=int, default=100, help="dead letters to read (default 100)")
    sub.add_argument("--failures", type=int, default=10, help="recent failures to show")
    sub = command("dlq", _dlq, "list dead letters with their tasks' failure reasons")
    sub.add_argument("--max", type=int, default=100, help="dead letters to read (default 100)")
    sub = command("redrive", _redrive, "send every dead letter back to its lane and rerun it")
    sub.add_argument("--max", type=int, default=None, help="redrive at most this many letters")
    sub.add_argument(
        "--sqs-move",
        action="store_true",
        help="let SQS move the letters (StartMessageMoveTask) after reopening their tasks",
    )
    sub = command("purge", _purge, "delete every message of one lane (asks first)")
    sub.add_argument("lane", help="vip (priority), standard, batch, ingest (batch-ingest) or dlq")
    sub.add_argument("--yes", action="store_true", help="do not ask")
    sub = command("task", _task, "one task: status, attempts, error, requesters, timestamps")
    sub.add_argument("task_id")
    sub = command("cancel", _cancel, "cancel a batch: its waiting tasks fail, locks released")
    sub.add_argument("batch_id")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    confirm: Callable[[str], str] = input,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one command; returns the exit code (0, 1, or 2 with one line on stderr)."""
    args = _parser().parse_args(argv)
    con = Console(out or sys.stdout, err or sys.stderr, confirm)

    def _fail(message: str, code: int) -> int:
        print(f"ops: {message}", file=con.err)
        return code

    try:
        if args.command_name == "purge":
            _queue_arg(args.lane)  # bad input first, before any file or AWS call
        overrides: dict[str, str] = {}
        state = args.state or default_state()
        if args.local:
            overrides = local_environment(state)
        if args.endpoint_url:
            overrides["AWS_ENDPOINT_URL"] = args.endpoint_url
        with environment(overrides):
            ops = connect(local=args.local, state=state, region=args.region)
            return args.run(ops, args, con)
    except OpsError as exc:
        return _fail(str(exc), 2)
    except (NoCredentialsError, EndpointConnectionError) as exc:
        return _fail(str(exc), 2)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return _fail(
            f"AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}", 1
        )
    except (BotoCoreError, RaspaError, PynamoDBException) as exc:
        cause = _root(exc)
        if isinstance(cause, (EndpointConnectionError, NoCredentialsError)):
            return _fail(str(cause), 2)
        return _fail(f"{type(exc).__name__}: {exc}", 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def _queue_arg(text: str) -> str:
    try:
        return queue_named(text)
    except ValueError as exc:
        raise OpsError(str(exc)) from None


def _root(exc: BaseException) -> BaseException:
    """The innermost cause (PynamoDB keeps botocore's error as ``cause``)."""
    seen = {id(exc)}
    while True:
        inner = exc.__cause__ or getattr(exc, "cause", None) or exc.__context__
        if not isinstance(inner, BaseException) or id(inner) in seen:
            return exc
        seen.add(id(inner))
        exc = inner


# ------------------------------------------------------------------ helpers
def _receive(
    sqs: Any, url: str, limit: int, hold_seconds: int, *, once: bool = False
) -> list[dict[str, Any]]:
    """Up to ``limit`` messages, hidden for ``hold_seconds`` (``once``: one call)."""
    messages: list[dict[str, Any]] = []
    while len(messages) < limit:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=max(1, min(10, limit - len(messages))),
            WaitTimeSeconds=1,
            VisibilityTimeout=hold_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        messages += batch
        if not batch or once:
            break
    return messages


def _release(sqs: Any, url: str, receipt_handles: Sequence[str]) -> None:
    """Make held messages visible again at once."""
    for start in range(0, len(receipt_handles), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for i, handle in enumerate(receipt_handles[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def _attributes(message: Mapping[str, Any]) -> dict[str, Any]:
    """The message attributes to send again with a letter (none for raspa's own)."""
    attributes = {
        name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {"MessageAttributes": attributes} if attributes else {}


def _epoch(value: Any) -> float | None:
    return None if value is None else float(value)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(epoch))


def _short(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, indent: int = 0, header: bool = True
) -> str:
    """Columns padded to their widest cell; numbers aligned right."""
    body = [list(row) for row in rows]
    cells = [[str(c) for c in row] for row in ([list(headers)] if header else []) + body]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        any(isinstance(r[i], int) for r in body)
        and all(isinstance(r[i], int) or r[i] in ("", "-") for r in body)
        for i in range(len(widths))
    ]
    pad = " " * indent
    return "\n".join(
        pad
        + "  ".join(
            c.rjust(w) if right else c.ljust(w)
            for c, w, right in zip(row, widths, numeric, strict=True)
        ).rstrip()
        for row in cells
    )


if __name__ == "__main__":
    sys.exit(main())

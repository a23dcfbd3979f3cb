"""Operations CLI: ``python -m infra.ops [--local] <command>`` — queues, the DLQ and tasks.

Commands: ``status`` (lanes and DLQ at a glance), ``dlq`` (list dead letters), ``redrive``
(every dead letter back to its lane), ``purge <lane>`` and ``task <task_id>``. Against
AWS it uses boto3's default credentials and region and the ``RASPA_*`` names; ``--local``
talks to ``make run``'s stack as ``.raspa/local.json`` describes it. See docs/deploy.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Sequence

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings
from infra.dlq import DeadLetter, describe, summarise

__all__ = ["Ops", "RedriveReport", "connect", "main", "redrive_by_body"]

DLQ = "dlq"
#: Each queue ops can name, and the setting prefix of its name and URL.
QUEUES = {
    "vip": "priority_queue",
    "standard": "queue",
    "batch": "batch_queue",
    "ingest": "ingest_queue",
}
#: ``.raspa/local.json`` keys of the queue URLs the local stack writes.
LOCAL_KEYS = {
    "standard": "queue_url",
    "vip": "priority_queue_url",
    "batch": "batch_queue_url",
    "ingest": "ingest_queue_url",
    DLQ: "dlq_url",
}
#: Errors of an SQS endpoint without StartMessageMoveTask (moto, older emulators).
_UNSUPPORTED = {"InvalidAction", "UnsupportedOperation", "NotImplemented", "404", "501"}
_HOLD_SECONDS = 30


@dataclass
class Ops:
    """The clients and queue URLs one command works with."""

    sqs: Any
    dynamodb: Any
    urls: dict[str, str]
    names: dict[str, str]
    tasks_table: str
    local: bool = False


@dataclass
class RedriveReport:
    moved: Counter = field(default_factory=Counter)
    unroutable: list[DeadLetter] = field(default_factory=list)
    move_task: str | None = None


# ------------------------------------------------------------------ connecting
def connect(
    *,
    local: bool = False,
    state: Path = Path(".raspa/local.json"),
    region: str | None = None,
    endpoint_url: str | None = None,
    urls: dict[str, str] | None = None,
    settings: Settings | None = None,
) -> Ops:
    """Clients and queue URLs: flags first, then local.json or settings, then by name."""
    settings = settings or Settings.from_env()
    known: dict[str, str] = {}
    kwargs: dict[str, Any] = {"region_name": region or settings.region}
    if local:
        info = json.loads(state.read_text())
        kwargs.update(
            region_name=region or info.get("region", settings.region),
            endpoint_url=endpoint_url or info["aws_endpoint_url"],
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any
        )
        known.update({lane: info[key] for lane, key in LOCAL_KEYS.items() if info.get(key)})
    else:
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        known.update({lane: getattr(settings, f"{p}_url") for lane, p in QUEUES.items()})
    known.update(urls or {})
    names = {lane: getattr(settings, f"{p}_name") for lane, p in QUEUES.items()}
    names[DLQ] = settings.dlq_name
    sqs = boto3.client("sqs", **kwargs)
    resolved = {lane: url for lane, url in known.items() if url}
    for lane, name in names.items():
        if lane not in resolved:
            try:
                resolved[lane] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except ClientError:
                continue  # an older stack without this lane
    return Ops(
        sqs, boto3.client("dynamodb", **kwargs), resolved, names, settings.tasks_table, local
    )


# ------------------------------------------------------------------ reading
def queue_counts(ops: Ops) -> dict[str, dict[str, int]]:
    """Waiting, in-flight and delayed messages of every known queue."""
    keys = {
        "waiting": "ApproximateNumberOfMessages",
        "in_flight": "ApproximateNumberOfMessagesNotVisible",
        "delayed": "ApproximateNumberOfMessagesDelayed",
    }
    counts = {}
    for lane, url in ops.urls.items():
        attrs = ops.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(keys.values()))
        counts[lane] = {k: int(attrs["Attributes"].get(v, 0)) for k, v in keys.items()}
    return counts


def peek(ops: Ops, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, left in the DLQ (made visible again at once)."""
    letters: dict[str, DeadLetter] = {}
    for message in _receive_all(ops.sqs, ops.urls[DLQ], limit):
        letters.setdefault(message["MessageId"], describe(message, ops.names))
    _release(ops.sqs, ops.urls[DLQ], [d.receipt_handle for d in letters.values()])
    return list(letters.values())


def read_task(ops: Ops, task_id: str) -> dict[str, Any] | None:
    """The task item, plain Python values (sets as sorted lists)."""
    from boto3.dynamodb.types import TypeDeserializer

    item = ops.dynamodb.get_item(
        TableName=ops.tasks_table, Key={"pk": {"S": task_id}}, ConsistentRead=True
    ).get("Item")
    if item is None:
        return None
    plain = {k: TypeDeserializer().deserialize(v) for k, v in item.items()}
    return {k: _plain(v) for k, v in sorted(plain.items())}


def task_reasons(ops: Ops, letters: Sequence[DeadLetter], limit: int = 50) -> dict[str, str]:
    """Why the first ``limit`` dead tasks failed, from their task items."""
    reasons: dict[str, str] = {}
    for task_id in list(dict.fromkeys(d.task_id for d in letters if d.task_id))[:limit]:
        task = read_task(ops, task_id)
        if task is not None:
            reasons[task_id] = str(task.get("error_reason") or task.get("status") or "unknown")
    return reasons


# ------------------------------------------------------------------ changing
def redrive_by_body(
    sqs: Any,
    dlq_url: str,
    lane_urls: dict[str, str],
    *,
    queue_names: dict[str, str] | None = None,
    hold_seconds: int = _HOLD_SECONDS,
) -> RedriveReport:
    """Send every dead letter to the lane its body names, then delete it from the DLQ.

    Messages raspa did not write (or whose lane has no queue) stay in the DLQ, visible
    again, and are listed in the report.
    """
    report = RedriveReport()
    while True:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=hold_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            letter = describe(message, queue_names)
            target = lane_urls.get(letter.lane) if letter.lane else None
            if target is None:
                report.unroutable.append(letter)
                continue
            sqs.send_message(QueueUrl=target, MessageBody=letter.body, **_attributes(message))
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            report.moved[letter.lane] += 1
    _release(sqs, dlq_url, [d.receipt_handle for d in report.unroutable])
    return report


def redrive(ops: Ops, *, by_body: bool = False) -> RedriveReport:
    """Every dead letter back to its lane: SQS's own move task where the endpoint has it."""
    dlq_url = ops.urls[DLQ]
    lanes = {lane: url for lane, url in ops.urls.items() if lane != DLQ}
    if not (by_body or ops.local):
        arn = ops.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
        try:
            handle = ops.sqs.start_message_move_task(SourceArn=arn["Attributes"]["QueueArn"])
            return RedriveReport(move_task=handle["TaskHandle"])
        except ClientError as exc:
            if _code(exc) not in _UNSUPPORTED:
                raise
    return redrive_by_body(ops.sqs, dlq_url, lanes, queue_names=ops.names)


def purge(ops: Ops, lane: str) -> None:
    ops.sqs.purge_queue(QueueUrl=ops.urls[lane])


# ------------------------------------------------------------------ CLI
def main(argv: Sequence[str] | None = None, confirm: Callable[[str], str] = input) -> int:
    args = _parser().parse_args(argv)
    try:
        ops = connect(
            local=args.local,
            state=Path(args.state),
            region=args.region,
            endpoint_url=args.endpoint_url,
            urls=dict(_pair(u) for u in args.url),
        )
        return args.run(ops, args, confirm)
    except FileNotFoundError as exc:
        print(
            f"no local stack: {exc.filename} is missing (start it with `make run`)", file=sys.stderr
        )
    except (ClientError, BotoCoreError) as exc:
        print(f"AWS said no: {exc}", file=sys.stderr)
    return 2


def _status(ops: Ops, args: argparse.Namespace, confirm: Callable[[str], str]) -> int:
    print(f"{'queue':<10}{'name':<28}{'waiting':>9}{'in flight':>11}{'delayed':>9}")
    for lane, c in queue_counts(ops).items():
        print(
            f"{lane:<10}{ops.names[lane]:<28}{c['waiting']:>9}{c['in_flight']:>11}{c['delayed']:>9}"
        )
    if DLQ not in ops.urls:
        print("\nno DLQ found")
        return 1
    letters = peek(ops, args.peek)
    summary = summarise(letters, task_reasons(ops, letters))
    print(f"\ndead letters read: {summary['total']}")
    for title in ("by_lane", "by_kind", "by_reason"):
        if summary[title]:
            items = ", ".join(f"{k} {v}" for k, v in sorted(summary[title].items()))
            print(f"  {title.replace('_', ' ')}: {items}")
    return 0


def _dlq(ops: Ops, args: argparse.Namespace, confirm: Callable[[str], str]) -> int:
    letters = peek(ops, args.max)
    for d in letters:
        body = d.body if args.full else d.body[:160]
        ref = d.task_id or d.batch_id or d.object_key or "-"
        lane = d.lane or "?"
        print(
            f"{d.message_id}  {d.kind:<7} lane={lane:<8} ref={ref} os={d.numero_os or '-'}", end=""
        )
        print(f" receives={d.receive_count}")
        print(f"    {body}")
    print(f"{len(letters)} dead letter(s)")
    return 0


def _redrive(ops: Ops, args: argparse.Namespace, confirm: Callable[[str], str]) -> int:
    report = redrive(ops, by_body=args.by_body)
    if report.move_task:
        print(f"SQS is moving the DLQ back to the source queues (task {report.move_task})")
        return 0
    moved = ", ".join(f"{lane} {n}" for lane, n in sorted(report.moved.items())) or "nothing"
    print(f"moved: {moved}")
    for d in report.unroutable:
        print(f"left in the DLQ (no lane): {d.message_id} {d.body[:120]}")
    return 1 if report.unroutable else 0


def _purge(ops: Ops, args: argparse.Namespace, confirm: Callable[[str], str]) -> int:
    if args.lane not in ops.urls:
        print(f"no queue for {args.lane!r}", file=sys.stderr)
        return 2
    if not args.yes and confirm(
        f"Delete every message in {ops.names[args.lane]}? [y/N] "
    ).strip().lower() not in ("y", "yes"):
        print("nothing purged")
        return 1
    purge(ops, args.lane)
    print(f"purged {ops.names[args.lane]}")
    return 0


def _task(ops: Ops, args: argparse.Namespace, confirm: Callable[[str], str]) -> int:
    task = read_task(ops, args.task_id)
    if task is None:
        print(f"no task {args.task_id}", file=sys.stderr)
        return 1
    for key in ("pk", "numero_os", "status", "attempts", "error", "error_reason", "requesters"):
        print(f"{key:<13}{task.get(key, '-')}")
    others = {k: v for k, v in task.items() if k not in ("pk", "result")}
    print(json.dumps(others, indent=2, default=str))
    return 0


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--local", action="store_true", help="the stack of `make run`")
    common.add_argument("--state", default=".raspa/local.json", help="the local stack's file")
    common.add_argument("--region", help="AWS region (default: boto3's)")
    common.add_argument("--endpoint-url", help="another AWS endpoint")
    common.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="QUEUE=URL",
        help="a queue's URL (vip, standard, batch, ingest, dlq); default: looked up by name",
    )
    parser = argparse.ArgumentParser(
        prog="python -m infra.ops", description=__doc__, parents=[common]
    )
    commands = parser.add_subparsers(required=True, metavar="command")
    sub = commands.add_parser(
        "status", help="queue depths and a DLQ summary", parents=[_quiet(common)]
    )
    sub.add_argument("--peek", type=int, default=50, help="dead letters to read for the summary")
    sub.set_defaults(run=_status)
    sub = commands.add_parser("dlq", help="list dead letters", parents=[_quiet(common)])
    sub.add_argument("--max", type=int, default=100)
    sub.add_argument("--full", action="store_true", help="whole message bodies")
    sub.set_defaults(run=_dlq)
    sub = commands.add_parser(
        "redrive", help="every dead letter back to its lane", parents=[_quiet(common)]
    )
    sub.add_argument(
        "--by-body", action="store_true", help="route by message body, not SQS's move task"
    )
    sub.set_defaults(run=_redrive)
    sub = commands.add_parser(
        "purge", help="delete every message of one queue", parents=[_quiet(common)]
    )
    sub.add_argument("lane", choices=[*QUEUES, DLQ])
    sub.add_argument("--yes", action="store_true", help="do not ask")
    sub.set_defaults(run=_purge)
    sub = commands.add_parser("task", help="one task's item", parents=[_quiet(common)])
    sub.add_argument("task_id")
    sub.set_defaults(run=_task)
    return parser


def _quiet(common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The common options again after the command, without overriding ones given before."""
    quiet = argparse.ArgumentParser(add_help=False)
    for action in common._actions:
        kwargs = {"dest": action.dest, "default": argparse.SUPPRESS, "help": argparse.SUPPRESS}
        if isinstance(action, argparse._StoreTrueAction):
            quiet.add_argument(*action.option_strings, action="store_true", **kwargs)
        elif isinstance(action, argparse._AppendAction):
            quiet.add_argument(*action.option_strings, action="append", **kwargs)
        else:
            quiet.add_argument(*action.option_strings, **kwargs)
    return quiet


# ------------------------------------------------------------------ helpers
def _receive_all(sqs: Any, url: str, limit: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while len(messages) < limit:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - len(messages)),
            WaitTimeSeconds=1,
            VisibilityTimeout=_HOLD_SECONDS,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        messages += batch
    return messages


def _release(sqs: Any, url: str, receipt_handles: list[str]) -> None:
    """Make held messages visible again at once."""
    for start in range(0, len(receipt_handles), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for i, handle in enumerate(receipt_handles[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def _attributes(message: dict[str, Any]) -> dict[str, Any]:
    attributes = {
        name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    return {"MessageAttributes": attributes} if attributes else {}


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(error.get("Code", ""))
    return code if code not in ("", "Unknown") else str(status)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _pair(text: str) -> tuple[str, str]:
    lane, sep, url = text.partition("=")
    if not sep or lane not in (*QUEUES, DLQ):
        raise SystemExit(f"--url takes QUEUE=URL with QUEUE one of {[*QUEUES, DLQ]}: {text!r}")
    return lane, url


if __name__ == "__main__":
    sys.exit(main())

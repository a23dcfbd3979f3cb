"""The commands: each reads or changes what it is asked to, prints it (a table, or JSON
with ``--json``) and returns its exit code."""

from __future__ import annotations

import argparse
from typing import Callable

from chalicelib.domain.tasks import is_task_id
from chalicelib.errors import BatchFinishedError, BatchNotFoundError
from ops import dlq as dead_letters
from ops.connect import Ops, OpsError
from ops.letters import DLQ, QUEUES, Disposition, queue_named, summarise
from ops.output import Console, counts, short, table, when
from ops.queues import purge, queue_counts
from ops.tasks import cancel, failures, read_tasks, task_view

__all__ = ["COMMANDS", "Command", "queue_arg"]

Command = Callable[[Ops, argparse.Namespace, Console], int]


def status_command(ops: Ops, args: argparse.Namespace, con: Console) -> int:
    queues = queue_counts(ops)
    letters = dead_letters.peek(ops, args.peek) if DLQ in ops.urls else []
    tasks = read_tasks(ops, [d.task_id for d in letters if d.task_id])
    reasons = {t: tasks[t].error_reason or tasks[t].status for t in tasks}
    recent = failures(letters, tasks)
    summary = summarise(letters, reasons)
    if args.json:
        con.json(
            {
                "where": ops.where,
                "queues": queues,
                "dead_letters": summary,
                "recent_failures": recent[: args.failures],
            }
        )
        return 0
    con.say(f"raspa on {ops.where}")
    rows = [
        [q, c["name"], c["waiting"], c["in_flight"], c["delayed"], c.get("tasks_pending", "")]
        for q, c in queues.items()
    ]
    con.say(table(["queue", "name", "waiting", "in flight", "delayed", "tasks pending"], rows))
    missing = [q for q in QUEUES if q not in queues]
    if missing:
        con.say(f"not found: {', '.join(f'{q} ({ops.names[q]})' for q in missing)}")
    con.say(f"\ndead letters read: {summary['total']}", end="")
    if summary["total"]:
        con.say(
            " — " + "; ".join(counts(summary[k]) for k in ("by_lane", "by_reason") if summary[k])
        )
    else:
        con.say()
    if recent:
        con.say("recent failures (newest first):")
        rows = [
            [
                when(r["finished_at"]),
                r["task_id"],
                r["numero_os"],
                r["lane"],
                r["reason"],
                short(r["error"], 60),
            ]
            for r in recent[: args.failures]
        ]
        con.say(table(["finished", "task", "OS", "lane", "reason", "error"], rows, indent=2))
    return 0


def dlq_command(ops: Ops, args: argparse.Namespace, con: Console) -> int:
    letters = dead_letters.peek(ops, args.max)
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
            short(r["error"] or ("" if d.task_id else d.body), 60),
        ]
        for r, d in zip(listed, letters, strict=True)
    ]
    if rows:
        con.say(
            table(
                ["kind", "lane", "task / ref", "OS", "receives", "status", "reason", "error"], rows
            )
        )
    con.say(f"{len(letters)} dead letter(s) in {ops.names[DLQ]}")
    return 0


def redrive_command(ops: Ops, args: argparse.Namespace, con: Console) -> int:
    if args.sqs_move:
        report = dead_letters.redrive_by_move_task(ops, limit=args.max or 1000)
    else:
        report = dead_letters.redrive(ops, limit=args.max)
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
            con.say(table(["action", "lane", "task / ref", "OS", "why"], rows))
        if report.move_task:
            con.say(f"SQS is moving the DLQ back to the source queues (task {report.move_task})")
        con.say(
            f"sent back: {counts(report.count(Disposition.SEND)) or 'none'}; "
            f"dropped: {sum(report.count(Disposition.DROP).values())}; "
            f"left in the DLQ: {sum(report.count(Disposition.KEEP).values())}"
        )
    return 1 if report.count(Disposition.KEEP) else 0


def purge_command(ops: Ops, args: argparse.Namespace, con: Console) -> int:
    queue = queue_arg(args.lane)
    ops.url(queue)  # exists, or a one-line error
    name = ops.names[queue]
    held = queue_counts(ops).get(queue, {})
    if not args.yes:
        con.say(
            f"{name} ({queue}) holds {held.get('waiting', 0)} waiting, "
            f"{held.get('in_flight', 0)} in flight and {held.get('delayed', 0)} delayed."
        )
        if held.get("tasks_pending"):
            con.say(
                f"{held['tasks_pending']} waiting task(s) of this lane will fail as purged, "
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


def cancel_command(ops: Ops, args: argparse.Namespace, con: Console) -> int:
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


def task_command(ops: Ops, args: argparse.Namespace, con: Console) -> int:
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
        rows.append([key.removesuffix("_at"), when(view[key])])
    if view["result"]:
        rows.append(["result", f"{len(view['result'])} fields (--json shows them)"])
    con.say(table(["", ""], rows, header=False))
    return 0


def queue_arg(text: str) -> str:
    """The queue an operator typed (``priority`` is ``vip``); an OpsError if none."""
    try:
        return queue_named(text)
    except ValueError as exc:
        raise OpsError(str(exc)) from None


#: Every command: what it runs and its help.
COMMANDS: dict[str, tuple[Command, str]] = {
    "status": (status_command, "lane depths, dead letters and recent failures"),
    "dlq": (dlq_command, "list dead letters with their tasks' failure reasons"),
    "redrive": (redrive_command, "send every dead letter back to its lane and rerun it"),
    "purge": (purge_command, "delete every message of one lane (asks first)"),
    "task": (task_command, "one task: status, attempts, error, requesters, timestamps"),
    "cancel": (cancel_command, "cancel a batch: its waiting tasks fail, locks released"),
}

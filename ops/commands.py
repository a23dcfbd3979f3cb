"""The commands: each reads or changes what it is asked to, prints it (a table, or JSON
with ``--json``) and returns its exit code."""

from __future__ import annotations

import argparse
from typing import Callable

from chalicelib.domain.tasks import is_task_id
from chalicelib.errors import BatchFinishedError, BatchNotFoundError
from ops import dlq as dead_letters
from ops.connect import Ops, OpsError
from ops.letters import DLQ, LANES, QUEUES, SCRAPE, Disposition, queue_named, summarise
from ops.output import Console, counts, short, table, when
from ops.queues import SCRAPE_PURGE_REFUSED, lane_counts, purge, queue_counts
from ops.tasks import cancel, failures, read_tasks, task_view

__all__ = ["COMMANDS", "Command", "purge_arg", "queue_arg"]

Command = Callable[[Ops, argparse.Namespace, Console], int]


def status_command(ops: Ops, args: argparse.Namespace, con: Console) -> int:
    queues = queue_counts(ops)
    lanes = lane_counts(ops)
    letters = dead_letters.peek(ops, args.peek) if DLQ in ops.urls else []
    tasks = read_tasks(ops, [d.task_id for d in letters if d.task_id])
    reasons = {t: tasks[t].error_reason or tasks[t].status for t in tasks}
    recent = failures(letters, tasks)
    summary = summarise(letters, reasons)
    breaker = breaker_view(ops)
    if args.json:
        con.json(
            {
                "where": ops.where,
                "breaker": breaker,
                "lanes": lanes,
                "queues": queues,
                "dead_letters": summary,
                "recent_failures": recent[: args.failures],
            }
        )
        return 0
    con.say(f"raspa on {ops.where}")
    con.say(f"portal breaker: {breaker['summary']}")
    con.say(table(["lane", "tasks waiting"], [[lane, n] for lane, n in lanes.items()]))
    con.say()
    rows = [[q, c["name"], c["waiting"], c["in_flight"], c["delayed"]] for q, c in queues.items()]
    con.say(table(["queue", "name", "waiting", "in flight", "delayed"], rows))
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


def breaker_view(ops: Ops) -> dict:
    """The portal breaker as ops read it (``state``, ``failures``, ``next_probe_at``...)."""
    state = ops.services.store.breaker.read(fresh=True)
    view = {
        "state": state.state.value,
        "failures": state.failures,
        "probes": state.probes,
        "parked": state.parked,
        "opened_at": state.opened_at,
        "next_probe_at": state.next_probe_at,
    }
    if state.is_open:
        view["summary"] = (
            f"OPEN since {when(state.opened_at)}, {state.probes} failed probe(s), next probe "
            f"{when(state.next_probe_at)}, {state.parked} wake-up(s) parked"
        )
    else:
        view["summary"] = f"closed ({state.failures} consecutive failure(s))"
    return view


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
                        "kind": r.letter.kind,
                        "task_id": r.letter.task_id,
                        "numero_os": r.letter.numero_os,
                        "lane": r.lane or r.letter.lane,
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
            [
                r.action,
                r.lane or r.letter.lane or "?",
                r.letter.ref,
                r.letter.numero_os or "-",
                r.to or "-",
                r.why,
            ]
            for r in report.letters
        ]
        if rows:
            con.say(table(["action", "lane", "task / ref", "OS", "to", "why"], rows))
        if report.move_task:
            con.say(
                f"SQS is moving the DLQ's letters to {ops.names[SCRAPE]} (task {report.move_task})"
            )
        con.say(
            f"sent back: {counts(report.count(Disposition.SEND)) or 'none'}; "
            f"dropped: {sum(report.count(Disposition.DROP).values())}; "
            f"left in the DLQ: {sum(report.count(Disposition.KEEP).values())}"
        )
    return 1 if report.count(Disposition.KEEP) else 0


def purge_command(ops: Ops, args: argparse.Namespace, con: Console) -> int:
    target = purge_arg(args.lane)
    if target in LANES:
        return _purge_lane(ops, target, args, con)
    ops.url(target)  # exists, or a one-line error
    name = ops.names[target]
    held = queue_counts(ops).get(target, {})
    question = (
        f"{name} ({target}) holds {held.get('waiting', 0)} waiting, "
        f"{held.get('in_flight', 0)} in flight and {held.get('delayed', 0)} delayed.",
        f"Delete every message in {name}? [y/N] ",
    )
    if not args.yes and not _confirmed(con, *question):
        return 1
    purge(ops, target)
    con.say(f"purged {name} ({target})")
    return 0


def _purge_lane(ops: Ops, lane: str, args: argparse.Namespace, con: Console) -> int:
    """Fail the lane's waiting tasks; the shared scrape queue is not purged."""
    ops.url(SCRAPE)  # the deployment exists, or a one-line error
    question = (
        f"The {lane} lane has {lane_counts(ops)[lane]} waiting task(s): each will fail as "
        "purged, its OS lock released (its users can ask again); the scrape queue is left "
        "alone (their wake-ups find nothing to run).",
        f"Fail every waiting task of the {lane} lane? [y/N] ",
    )
    if not args.yes and not _confirmed(con, *question):
        return 1
    dropped = purge(ops, lane)
    con.say(f"purged the {lane} lane: {dropped} waiting task(s) failed as purged, locks released")
    return 0


def _confirmed(con: Console, what: str, prompt: str) -> bool:
    con.say(what)
    try:
        answer = con.confirm(prompt)
    except EOFError:
        con.say()
        answer = ""
    if answer.strip().lower() in ("y", "yes"):
        return True
    con.say("nothing purged")
    return False


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
    """The lane or queue an operator typed (``priority`` is ``vip``); an OpsError if none."""
    try:
        return queue_named(text)
    except ValueError as exc:
        raise OpsError(str(exc)) from None


def purge_arg(text: str) -> str:
    """What ``purge`` may empty: a lane, the ingest queue or the DLQ (not the scrape
    queue: ``SCRAPE_PURGE_REFUSED``); an OpsError otherwise."""
    target = queue_arg(text)
    if target == SCRAPE:
        raise OpsError(SCRAPE_PURGE_REFUSED)
    return target


#: Every command: what it runs and its help.
COMMANDS: dict[str, tuple[Command, str]] = {
    "status": (status_command, "tasks waiting per lane, queue depths, dead letters, failures"),
    "dlq": (dlq_command, "list dead letters with their tasks' failure reasons"),
    "redrive": (redrive_command, "reopen every dead letter's task and wake the worker for it"),
    "purge": (
        purge_command,
        "fail a lane's waiting tasks, or empty the ingest queue or the DLQ (asks first)",
    ),
    "task": (task_command, "one task: status, attempts, error, requesters, timestamps"),
    "cancel": (cancel_command, "cancel a batch: its waiting tasks fail, locks released"),
}

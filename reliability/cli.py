"""``python -m reliability [scenario ...] [--param value ...] [--write docs/reliability.md]``

Runs the scenarios (all by default) against one local stack, prints a row of figures and
criteria per scenario as it finishes, then the table; exits 1 if any criterion broke.
Every scenario parameter is an option, applied to each selected scenario that has it
(``--os 2000`` makes every scenario that scrapes distinct OS numbers use 2000).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

from reliability.report import Row, console_row, markdown, params_text, write

__all__ = ["METHOD", "main"]

_TYPES = {"int": int, "float": float, "str": str}

#: How the figures are measured, for docs/reliability.md.
METHOD = (
    "One process runs the stack as `make run` does: the Chalice app behind Chalice's local "
    "HTTP server (JWTs from moto's Cognito, verified by the app's authorizer), the local "
    "WebSocket gateway (`local/ws_gateway.py`) with the app's real handlers, the demo portal, "
    "the scrape worker (`local.event_source.worker`: one event source on the scrape queue, "
    "capped at 3, the reserved concurrency; each wake-up claims the best waiting task of "
    "any lane, VIP 6 / standard 3 / batch 1 turns per cycle) and the batch ingest; "
    "moto's server runs in a second process (`local/awsserver.py`, whose SQS long polls "
    "wait for a change to the queues). Tables, "
    "queues, bucket and secret are created per scenario from `infra/spec.py`.",
    "Each worker thread scrapes with a portal session of its own, as each concurrent Lambda "
    "invocation is its own container.",
    "Requesters are signed-in users, each with a real WebSocket connection (`websockets`) "
    "to the gateway; they look OS numbers up with `POST /buscar-os-async` and send "
    '`{"action": "subscribe"}` as the page does. Terminal notifications are counted on '
    "each requester's own connection, per (requester, task).",
    "Concurrent scrapes are the portal's own count (`GET /_stats`, `peak_open`: requests "
    "whose client still waits for the answer).",
    "Stored records: the OS table's items, and the hourly counters each successful finish "
    "adds 1 to in the transaction that writes the record (a second write would count twice).",
    "Retry delays, timeouts, the worker's time limit (queue visibility is 6 × it) and rate "
    "limits are shortened or raised per scenario through `RASPA_*` settings; each row's notes "
    "say which.",
)


def _fields() -> dict[str, tuple[type, dict[str, Any]]]:
    """Every scenario parameter: its type and its default in each scenario that has it."""
    from reliability.scenarios import SCENARIOS

    found: dict[str, tuple[type, dict[str, Any]]] = {}
    for name, scenario in SCENARIOS.items():
        defaults = scenario.params()
        for f in dataclasses.fields(scenario.params):
            kind = _TYPES[str(f.type)]
            found.setdefault(f.name, (kind, {}))[1][name] = getattr(defaults, f.name)
    return found


def _parser() -> argparse.ArgumentParser:
    from reliability.scenarios import SCENARIOS

    parser = argparse.ArgumentParser(
        prog="python -m reliability",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="scenario",
        help=f"any of: {', '.join(SCENARIOS)} (default: all, in that order)",
    )
    parser.add_argument("--write", type=Path, help="write the figures to this Markdown file")
    parser.add_argument("--verbose", action="store_true", help="show raspa's log lines")
    params = parser.add_argument_group(
        "scenario parameters (each applies to every selected scenario that has it)"
    )
    for name, (kind, defaults) in _fields().items():
        used = ", ".join(f"{s} {v}" for s, v in defaults.items())
        params.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"param_{name}",
            type=kind,
            metavar=kind.__name__.upper(),
            help=f"default: {used}",
        )
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    from reliability.harness import Harness
    from reliability.scenarios import SCENARIOS, run_scenario

    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    selected = list(dict.fromkeys(args.scenarios)) or list(SCENARIOS)
    params = {name: SCENARIOS[name].params() for name in selected}
    for key, value in vars(args).items():
        if not key.startswith("param_") or value is None:
            continue
        name = key.removeprefix("param_")
        users = [s for s in selected if hasattr(params[s], name)]
        if not users:
            parser.error(f"--{name.replace('_', '-')} applies to none of {', '.join(selected)}")
        for scenario in users:
            setattr(params[scenario], name, value)
    command = shlex.join(["python", "-m", "reliability", *argv])
    vip = max(getattr(p, "vip", 0) for p in params.values())
    standard = max(
        getattr(p, "users", getattr(p, "requesters", 0)) - getattr(p, "vip", 0)
        for p in params.values()
    )
    started = time.monotonic()
    rows: list[Row] = []
    print(f"{command}: {', '.join(selected)}", file=out, flush=True)
    with Harness(users=max(4, standard), vip_users=max(2, vip), quiet=not args.verbose) as h:
        for name in selected:
            print(f"\n{name}: {params_text(vars(params[name]))} ...", file=out, flush=True)
            row = run_scenario(h, name, params[name])
            rows.append(row)
            print(console_row(row), file=out, flush=True)
    seconds = time.monotonic() - started
    print("\n" + summary(rows, seconds), file=out, flush=True)
    if args.write:
        write(args.write, markdown(rows, command=command, seconds=seconds, method=METHOD))
        print(f"figures written to {args.write}", file=out, flush=True)
    return 0 if all(r.ok for r in rows) else 1


def summary(rows: Sequence[Row], seconds: float) -> str:
    width = max(len(r.scenario) for r in rows)
    lines = [f"{'scenario':<{width}}  result  time    criteria"]
    for r in rows:
        held = sum(1 for c in r.checks if c.ok)
        lines.append(
            f"{r.scenario:<{width}}  {'PASS' if r.ok else 'FAIL':<6}  {r.seconds:5.0f} s"
            f"  {held}/{len(r.checks)} held" + (f"; {r.error}" if r.error else "")
        )
    verdict = "every criterion held" if all(r.ok for r in rows) else "SOME CRITERIA BROKE"
    lines.append(f"{len(rows)} scenario(s) in {seconds:.0f} s: {verdict}")
    return "\n".join(lines)

"""Operations CLI: ``python -m ops [--local] <command>`` — lanes, queues, the DLQ and tasks.

Commands: ``status`` (tasks waiting per lane, queue depths, dead letters at a glance),
``dlq`` (list dead letters), ``redrive`` (every dead letter's task made runnable again and
woken for on the scrape queue), ``purge <lane>`` (its waiting tasks fail as purged, their
locks released; ``purge ingest``/``purge dlq`` empty that queue; the shared scrape queue
is never purged), ``task <task_id>`` and ``cancel <batch_id>``. Against AWS it uses
boto3's default credentials and the ``RASPA_*`` names; ``--local`` talks to ``make run``'s
stack as ``.raspa/local.json`` describes it. See docs/ops.md.

Exit codes: 0 done, 1 not (all) done (a declined purge, letters left in the DLQ, AWS
refused a call), 2 bad input or nothing to talk to (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)
from pynamodb.exceptions import PynamoDBException

from chalicelib.errors import RaspaError
from ops.commands import COMMANDS, purge_arg
from ops.connect import OpsError, connect
from ops.output import Console

__all__ = ["main", "parser"]


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


def parser() -> argparse.ArgumentParser:
    """The command line: the common options, then a command and its own."""
    made = _Parser(
        prog="python -m ops",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _options(made, defaults=True)
    commands = made.add_subparsers(required=True, metavar="command", dest="command_name")
    subs = {}
    for name, (run, help) in COMMANDS.items():
        sub = subs[name] = commands.add_parser(name, help=help, description=help)
        _options(sub, defaults=False)
        sub.set_defaults(run=run)
    sub = subs["status"]
    sub.add_argument("--peek", type=int, default=100, help="dead letters to read (default 100)")
    sub.add_argument("--failures", type=int, default=10, help="recent failures to show")
    subs["dlq"].add_argument(
        "--max", type=int, default=100, help="dead letters to read (default 100)"
    )
    sub = subs["redrive"]
    sub.add_argument("--max", type=int, default=None, help="redrive at most this many letters")
    sub.add_argument(
        "--sqs-move",
        action="store_true",
        help="let SQS move the letters (StartMessageMoveTask) after reopening their tasks",
    )
    sub = subs["purge"]
    sub.add_argument(
        "lane",
        help="a lane: vip (priority), standard or batch (its waiting tasks fail as purged; "
        "the shared scrape queue is left alone), or a queue to empty: ingest (batch-ingest) "
        "or dlq; the scrape queue itself is refused",
    )
    sub.add_argument("--yes", action="store_true", help="do not ask")
    subs["task"].add_argument("task_id")
    subs["cancel"].add_argument("batch_id")
    return made


def main(
    argv: Sequence[str] | None = None,
    *,
    confirm: Callable[[str], str] = input,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one command; returns the exit code (0, 1, or 2 with one line on stderr)."""
    args = parser().parse_args(argv)
    con = Console(out or sys.stdout, err or sys.stderr, confirm)

    def _fail(message: str, code: int) -> int:
        print(f"ops: {message}", file=con.err)
        return code

    try:
        if args.command_name == "purge":
            purge_arg(args.lane)  # bad input first, before any file or AWS call
        ops = connect(
            local=args.local, state=args.state, region=args.region, endpoint_url=args.endpoint_url
        )
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


def _root(exc: BaseException) -> BaseException:
    """The innermost cause (PynamoDB keeps botocore's error as ``cause``)."""
    seen = {id(exc)}
    while True:
        inner = exc.__cause__ or getattr(exc, "cause", None) or exc.__context__
        if not isinstance(inner, BaseException) or id(inner) in seen:
            return exc
        seen.add(id(inner))
        exc = inner

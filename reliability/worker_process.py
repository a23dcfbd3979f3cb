"""The scrape worker in a process of its own, so a scenario can kill it with SIGKILL.

``python -m reliability.worker_process <queue URLs as JSON> <ready file>``: the worker's
lanes (``local.event_source.lanes``, as deployed) against the AWS endpoint, tables and
queues the environment names (the parent's stack), each worker thread with its own portal
session (``reliability.harness.Containers``). It creates ``<ready file>`` once polling,
and stops on SIGTERM.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    urls, ready = json.loads(args[0]), Path(args[1])

    import boto3

    import app as raspa_app
    from infra.spec import resources
    from local.event_source import lanes
    from reliability.harness import Containers

    settings = raspa_app.get_settings()
    raspa_app.get_worker().scraper = Containers(raspa_app.get_scraper.__wrapped__)
    sqs = boto3.client("sqs", region_name=settings.region)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    runtime = lanes(
        sqs,
        raspa_app.scrape_worker,
        resources(settings),
        urls,
        timeout_seconds=settings.scrape_timeout_seconds,
        wait_seconds=1,
    ).start()
    ready.write_text("polling\n")
    stopped.wait()
    runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The scrape worker in a process of its own, so a scenario can kill it with SIGKILL.

``python -m reliability.worker_process <queue URLs as JSON> <ready file> --endpoint-url URL
--access-key-id KEY --secret-access-key SECRET``: the scrape worker
(``local.event_source.worker``, as deployed) serving the settings of the environment, as a
Lambda function's (``RASPA_*``, ``AWS_REGION``: the parent's stack), on the AWS endpoint
and keys given, each worker thread with its own portal session
(``reliability.containers.Containers``). It creates ``<ready file>`` once polling, and stops
on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reliability.worker_process")
    parser.add_argument("urls", help="every queue's URL by name, as JSON")
    parser.add_argument("ready", type=Path, help="created once the worker polls")
    parser.add_argument("--endpoint-url", required=True, help="the AWS endpoint (moto)")
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--secret-access-key", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    urls = json.loads(args.urls)

    import app as raspa_app
    from chalicelib.adapters.aws import AwsClients
    from chalicelib.composition import Services
    from chalicelib.config import Settings
    from infra.spec import resources
    from local.event_source import worker
    from reliability.containers import Containers

    settings = Settings.from_env()
    where = {
        "region": settings.region,
        "endpoint_url": args.endpoint_url,
        "access_key_id": args.access_key_id,
        "secret_access_key": args.secret_access_key,
    }

    def scraper() -> Any:
        return services.new_portal_scraper()

    services = Services.build(settings, AwsClients(**where), scraper_factory=Containers(scraper))
    raspa_app.use(services)
    pollers = AwsClients(**where)  # the event sources' own clients (Lambda's), not the app's
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    runtime = worker(
        pollers.client("sqs"),
        raspa_app.scrape_worker,
        resources(settings),
        urls,
        timeout_seconds=settings.scrape_timeout_seconds,
        wait_seconds=1,
    ).start()
    args.ready.write_text("polling\n")
    stopped.wait()
    runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

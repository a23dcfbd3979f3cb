"""raspa's whole local stack in one process: ``python -m local.stack`` (``make run``).

The sandbox (``local.sandbox``) on loopback: a moto server as the AWS endpoint, every
resource created from ``infra.spec`` (the definitions the infrastructure code uses), the
demo portal, the Chalice app behind Chalice's local server, the scrape worker driven like
Lambda's SQS event source (at most 3 at once), the batch ingest fed by the bucket's S3
notifications (moto sends them to the ingest queue, as S3 does), and a WebSocket gateway
with the @connections API. Settings come from the ``RASPA_*`` variables, as in Lambda.
URLs go to ``.raspa/local.json``. Ports come from ``RASPA_*_PORT`` variables.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from chalicelib.config import Settings
from local.sandbox import REGION, Ports, Sandbox

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = Path(os.environ.get("RASPA_STATE_DIR") or ROOT / ".raspa")


def ports_from_env() -> Ports:
    """The servers' ports from ``RASPA_*_PORT`` variables (defaults 8000 to 8003 and 4566)."""

    def port(name: str, default: int) -> int:
        raw = os.environ.get(f"RASPA_{name}_PORT", "")
        try:
            return int(raw) if raw else default
        except ValueError:
            sys.exit(f"RASPA_{name}_PORT={raw!r} is not a port number")

    return Ports(
        api=port("API", 8000),
        portal=port("PORTAL", 8001),
        ws=port("WS", 8002),
        ws_management=port("WS_MANAGEMENT", 8003),
        aws=port("AWS", 4566),
    )


class LocalStack:
    """The sandbox with every server, one deployment with the default resource names and
    the ``RASPA_*`` settings of the environment, and its event sources running."""

    def __init__(self, ports: Ports, *, settings: Settings | None = None) -> None:
        self.ports = ports
        self.base = settings
        self.urls: dict[str, Any] = {}
        self.box = Sandbox(ports=ports, api=True)

    def start(self) -> LocalStack:
        box = self.box.start()
        try:
            base = self.base or Settings.from_env()
            self.deployment = deployment = box.deploy(box.settings(base=base))
            settings = deployment.settings
            self.worker = deployment.worker().start()
            self.ingest = deployment.ingest(wait_seconds=1).start()
        except BaseException:
            self.stop()
            raise
        self.settings = settings
        self.portal = box.portal
        self.gateway = box.gateway
        queues = deployment.queue_urls
        self.urls = {
            "api_url": box.api_url,
            "ws_url": box.gateway.url,
            "portal_url": box.portal_url,
            "aws_endpoint_url": box.aws_url,
            "region": REGION,
            "queue_url": queues["scrape"],
            "dlq_url": queues["dlq"],
            "ingest_queue_url": queues["ingest"],
            "batch_bucket": settings.batch_bucket,
            "os_table": settings.os_table,
            "tasks_table": settings.tasks_table,
            "connections_table": settings.connections_table,
            "user_pool_id": box.pool.user_pool_id,
            "user_pool_client_id": box.pool.user_pool_client_id,
            "cognito_endpoint": box.aws_url + "/",
            "users": box.users,
        }
        return self

    def stop(self) -> None:
        for source in (getattr(self, "ingest", None), getattr(self, "worker", None)):
            if source is not None:
                try:
                    source.stop()
                except Exception as exc:  # noqa: BLE001 - stop the rest regardless
                    print(f"stopping {type(source).__name__} failed: {exc}", file=sys.stderr)
        self.box.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _single_instance() -> Any:
    """Hold ``.raspa/run.lock`` for as long as the stack runs; exit if another one holds it."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    handle = (STATE_DIR / "run.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        info = STATE_DIR / "local.json"
        where = json.loads(info.read_text())["api_url"] if info.exists() else "see .raspa/"
        sys.exit(
            f"raspa's local stack is already running ({where}); stop it with Ctrl-C "
            "in its terminal first."
        )
    return handle


def main() -> None:
    lock = _single_instance()
    ports = ports_from_env()
    try:
        stack = LocalStack(ports).start()
    except OSError as exc:
        sys.exit(
            f"could not start the local stack: {exc}. A port may be taken; set "
            "RASPA_API_PORT, RASPA_PORTAL_PORT, RASPA_WS_PORT, RASPA_WS_MANAGEMENT_PORT "
            "or RASPA_AWS_PORT."
        )
    (STATE_DIR / "local.json").write_text(json.dumps(stack.urls, indent=2) + "\n")
    print("\nraspa is running:")
    print(f"  page and API   {stack.urls['api_url']}/")
    print(f"  WebSocket      {stack.urls['ws_url']}")
    print(f"  demo portal    {stack.urls['portal_url']}  (demo / demo-password)")
    print(f"  AWS (moto)     {stack.urls['aws_endpoint_url']}")
    for user in stack.urls["users"]:
        kind = "VIP" if user["vip"] else "standard"
        print(f"  user {user['username']:<9} password {user['password']}  ({kind})")
    print("  a token for curl: make token AS=ana")
    print("  written to     .raspa/local.json — Ctrl-C stops everything\n", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    print("\nstopping…", flush=True)
    stack.stop()
    (STATE_DIR / "local.json").unlink(missing_ok=True)
    lock.close()


if __name__ == "__main__":
    main()

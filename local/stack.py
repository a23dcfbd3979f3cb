"""raspa's whole local stack in one process: ``python -m local.stack`` (``make run``).

On loopback: a moto server as the AWS endpoint, every resource created from
``infra.spec`` (the definitions the infrastructure code uses), the demo portal, the
Chalice app behind Chalice's local server, the scrape worker driven like Lambda's SQS
event source (at most 3 at once), the batch ingest fed by the bucket's S3 notifications
(moto sends them to the ingest queue, as S3 does), and a WebSocket gateway with the
@connections API.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = Path(os.environ.get("RASPA_STATE_DIR") or ROOT / ".raspa")
DEMO_CREDENTIALS = {"username": "demo", "password": "demo-password"}
REGION = "us-east-1"


@dataclass(frozen=True)
class Ports:
    api: int = 8000
    portal: int = 8001
    ws: int = 8002
    ws_management: int = 8003
    aws: int = 4566

    @classmethod
    def from_env(cls) -> Ports:
        def port(name: str, default: int) -> int:
            raw = os.environ.get(f"RASPA_{name}_PORT", "")
            try:
                return int(raw) if raw else default
            except ValueError:
                sys.exit(f"RASPA_{name}_PORT={raw!r} is not a port number")

        return cls(
            port("API", 8000),
            port("PORTAL", 8001),
            port("WS", 8002),
            port("WS_MANAGEMENT", 8003),
            port("AWS", 4566),
        )

    @classmethod
    def ephemeral(cls) -> Ports:
        return cls(0, 0, 0, 0, 0)


class LocalStack:
    """Starts and stops every piece; used by ``make run`` and by the end-to-end tests."""

    def __init__(
        self, ports: Ports, *, env: dict[str, str] | None = None, websockets: bool = True
    ) -> None:
        self.ports = ports
        self.extra_env = env or {}
        self.websockets = websockets
        self.urls: dict[str, Any] = {}
        self._stoppers: list[Any] = []

    def start(self) -> LocalStack:
        from chalice.cli.factory import CLIFactory
        from chalice.local import create_local_server

        from chalicelib.domain.lanes import SETTINGS as LANE_SETTINGS
        from chalicelib.domain.lanes import lane_configs
        from infra.spec import resources
        from local.awsserver import AwsServer
        from local.event_source import ingest, lanes
        from local.portal import PortalServer
        from local.resources import create_all

        try:
            aws = self._keep(AwsServer(port=self.ports.aws).start())
            os.environ.update(
                {
                    "AWS_ENDPOINT_URL": aws.url,
                    "AWS_ACCESS_KEY_ID": "local",
                    "AWS_SECRET_ACCESS_KEY": "local",
                    "AWS_DEFAULT_REGION": REGION,
                    "AWS_REGION": REGION,
                    "POWERTOOLS_SERVICE_NAME": "raspa",
                }
            )
            os.environ.pop("AWS_PROFILE", None)
            portal = self._keep(PortalServer(port=self.ports.portal).start())
            os.environ["RASPA_PORTAL_BASE_URL"] = portal.url
            from local.users import create_pool

            pool, users = create_pool(
                boto3.client("cognito-idp", region_name=REGION), region=REGION
            )
            os.environ.update(
                {
                    "RASPA_AUTH_ISSUER": pool.issuer,
                    "RASPA_AUTH_CLIENT_ID": pool.user_pool_client_id,
                    "RASPA_AUTH_JWKS_URL": f"{aws.url}/{pool.user_pool_id}/.well-known/jwks.json",
                    "RASPA_AUTH_COGNITO_ENDPOINT": aws.url + "/",
                }
            )
            os.environ.update(self.extra_env)

            import app as raspa_app

            gateway = None
            if self.websockets:
                from local.ws_gateway import WebSocketGateway

                gateway = self._keep(
                    WebSocketGateway(
                        connect=raspa_app.ws_connect,
                        message=raspa_app.ws_message,
                        disconnect=raspa_app.ws_disconnect,
                        port=self.ports.ws,
                        management_port=self.ports.ws_management,
                    ).start()
                )
                os.environ["RASPA_WS_ENDPOINT"] = gateway.management_url
                os.environ["RASPA_WS_URL"] = gateway.url
            else:
                os.environ["RASPA_WS_ENDPOINT"] = ""
                os.environ["RASPA_WS_URL"] = ""

            raspa_app.reset_wiring()
            settings = raspa_app.get_settings()
            queue_urls = create_all(settings, credentials=DEMO_CREDENTIALS)

            config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="dev")
            api = create_local_server(raspa_app.app, config, "127.0.0.1", self.ports.api)
            api_thread = threading.Thread(target=api.server.serve_forever, name="api", daemon=True)
            api_thread.start()
            self._stoppers.append(api.server)
            api_url = f"http://127.0.0.1:{api.server.server_address[1]}"

            sqs = boto3.client("sqs", region_name=REGION)
            spec = resources(settings)
            self.worker = self._keep(
                lanes(
                    sqs,
                    raspa_app.scrape_worker,
                    spec,
                    queue_urls,
                    timeout_seconds=settings.scrape_timeout_seconds,
                ).start()
            )
            self.ingest = self._keep(
                ingest(sqs, raspa_app.batch_ingest, spec, queue_urls, wait_seconds=1).start()
            )
        except BaseException:
            self.stop()
            raise
        self.gateway = gateway
        self.portal = portal
        self.settings = settings
        self.urls = {
            "api_url": api_url,
            "ws_url": gateway.url if gateway else "",
            "portal_url": portal.url,
            "aws_endpoint_url": aws.url,
            "region": REGION,
            # Each lane's URL under the name of its URL setting (``lanes.SETTINGS``).
            **{
                LANE_SETTINGS[c.lane].queue_url: queue_urls[c.queue_name]
                for c in lane_configs(settings)
            },
            "dlq_url": queue_urls[settings.dlq_name],
            "ingest_queue_url": queue_urls[settings.ingest_queue_name],
            "batch_bucket": settings.batch_bucket,
            "os_table": settings.os_table,
            "tasks_table": settings.tasks_table,
            "connections_table": settings.connections_table,
            "user_pool_id": pool.user_pool_id,
            "user_pool_client_id": pool.user_pool_client_id,
            "cognito_endpoint": aws.url + "/",
            "users": users,
        }
        return self

    def _keep(self, thing: Any) -> Any:
        self._stoppers.append(thing)
        return thing

    def stop(self) -> None:
        for thing in reversed(self._stoppers):
            try:
                (thing.shutdown if hasattr(thing, "shutdown") else thing.stop)()
            except Exception as exc:  # noqa: BLE001 - stop the rest regardless
                print(f"stopping {type(thing).__name__} failed: {exc}", file=sys.stderr)
        self._stoppers.clear()

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
    ports = Ports.from_env()
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

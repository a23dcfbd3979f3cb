"""The local stack the benchmarks drive: one moto server, one demo portal, one WebSocket
gateway for the whole run, and fresh tables and queues (unique names) per scenario.

Built from the same pieces as ``make run`` (``local.*``) and wired into ``app`` through
the environment, as ``tests/support/stack.py`` does for the integration tests.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import boto3

from bench.counting import counter
from chalicelib.adapters.auth import Identity
from local.portal import control

REGION = "us-east-1"
PORTAL_CREDENTIALS = {"username": "demo", "password": "demo-password"}
_names = itertools.count(1)


@dataclass
class Scenario:
    """One scenario's settings, queues and the app wired to them."""

    settings: Any
    urls: dict[str, str]
    app: Any
    sqs: Any

    def queue_url(self, lane: str = "standard") -> str:
        s = self.settings
        name = {"vip": s.priority_queue_name, "batch": s.batch_queue_name}.get(lane, s.queue_name)
        return self.urls[name]

    def worker(self, on_done: Callable[[dict], None] | None = None) -> Any:
        """The scrape worker's lanes as deployed (``local.event_source.lanes``);
        ``on_done`` sees each event the handler finished without raising."""
        from infra.spec import resources
        from local.event_source import lanes

        handler = self.app.scrape_worker
        if on_done is not None:

            def handler(event: dict, context: Any) -> Any:
                result = self.app.scrape_worker(event, context)
                on_done(event)
                return result

        return lanes(self.sqs, handler, resources(self.settings), self.urls, wait_seconds=1)

    def deliver(self, lane: str = "standard") -> float | None:
        """Play Lambda's event source once: receive one message of ``lane``, invoke the
        worker, delete the message. Returns the invocation's seconds (None: lane empty)."""
        from local.event_source import LambdaContext

        url = self.queue_url(lane)
        messages = self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"], WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            return None
        message = messages[0]
        arn = "arn:aws:sqs:us-east-1:123456789012:" + url.rsplit("/", 1)[-1]
        event = {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": message.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": REGION,
                }
            ]
        }
        started = time.perf_counter()
        self.app.scrape_worker(event, LambdaContext("scrape_worker", 300))
        seconds = time.perf_counter() - started
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return seconds

    def wait_terminal(self, task_ids: list[str], timeout: float = 600) -> list[Any]:
        """Poll until every task is SUCCESS or FAILURE; returns them."""
        Task = self.app.get_models().Task
        pending = set(task_ids)
        done: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        while pending:
            for task in Task.batch_get(sorted(pending)):  # 100 keys per call
                if task.status in ("SUCCESS", "FAILURE"):
                    done[task.pk] = task
                    pending.discard(task.pk)
            if pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{len(pending)} tasks did not finish")
                time.sleep(0.05)
        return [done[t] for t in task_ids]


@dataclass
class Harness:
    """Everything on loopback, started once per benchmark run."""

    aws_url: str = ""
    portal_url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    _stoppers: list[Any] = field(default_factory=list)

    def start(self) -> Harness:
        from local.awsserver import AwsProcess
        from local.portal import PortalServer
        from local.users import create_pool, sign_in
        from local.ws_gateway import WebSocketGateway

        aws = self._keep(AwsProcess().start())
        self.aws_url = aws.url
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
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(key, None)
        self.portal = self._keep(PortalServer().start())
        self.portal_url = self.portal.url
        cognito = counter.ignore(boto3.client("cognito-idp", region_name=REGION))
        pool, users = create_pool(cognito, region=REGION)
        os.environ.update(
            {
                "RASPA_AUTH_ISSUER": pool.issuer,
                "RASPA_AUTH_CLIENT_ID": pool.user_pool_client_id,
                "RASPA_AUTH_JWKS_URL": f"{aws.url}/{pool.user_pool_id}/.well-known/jwks.json",
                "RASPA_PORTAL_BASE_URL": self.portal_url,
            }
        )
        self.tokens = {
            u["username"]: sign_in(cognito, pool, u["username"], u["password"]) for u in users
        }
        import app as raspa_app

        self.app = raspa_app
        self.gateway = self._keep(
            WebSocketGateway(
                connect=raspa_app.ws_connect,
                message=raspa_app.ws_message,
                disconnect=raspa_app.ws_disconnect,
            ).start()
        )
        os.environ["RASPA_WS_ENDPOINT"] = self.gateway.management_url
        os.environ["RASPA_WS_URL"] = self.gateway.url
        return self

    def _keep(self, thing: Any) -> Any:
        self._stoppers.append(thing)
        return thing

    def stop(self) -> None:
        for thing in reversed(self._stoppers):
            try:
                (thing.shutdown if hasattr(thing, "shutdown") else thing.stop)()
            except Exception as exc:  # noqa: BLE001 - stop the rest regardless
                print(f"stopping {type(thing).__name__} failed: {exc}")
        self._stoppers.clear()

    def __enter__(self) -> Harness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ portal
    def faults(self, **faults: Any) -> Any:
        return control.faults(self.portal_url, **faults)

    def portal_stats(self) -> dict[str, Any]:
        return control.stats(self.portal_url)

    def portal_reset(self, **faults: Any) -> None:
        control.reset(self.portal_url)
        if faults:
            self.faults(**faults)

    # ---------------------------------------------------------- scenarios
    def scenario(self, **env: str) -> Scenario:
        """Fresh tables, queues, bucket and secret (unique names), ``app`` rewired to them."""
        from chalicelib.config import Settings
        from local.resources import create_all, named

        values = {
            **named(f"b{next(_names)}"),
            "RASPA_RETRY_BASE_DELAY_SECONDS": "1",
            "RASPA_STANDARD_MAX_CONCURRENCY": "2",
            **env,
        }
        os.environ.update(values)
        settings = Settings.from_env()
        urls = create_all(settings, credentials=PORTAL_CREDENTIALS)
        self.app.reset_wiring()
        self.app.get_settings()
        sqs = counter.ignore(boto3.client("sqs", region_name=REGION))
        return Scenario(settings, urls, self.app, sqs)


#: Identities the benchmarks look up as (rate limits are raised for the scenarios).
ANA = Identity("ana")
CARLA = Identity("carla", vip=True)


def users(n: int) -> list[Identity]:
    """``n`` distinct standard users."""
    return [Identity(f"user{i:03d}") for i in range(n)]


def run_threads(target: Callable[[int], Any], count: int, workers: int) -> list[Any]:
    """``target(i)`` for i in range(count) on ``workers`` threads; the results in order."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(target, range(count)))

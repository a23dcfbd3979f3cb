"""The local stack in-process, for the reliability scenarios.

One ``Harness`` runs the shared servers: a moto server (``local.awsserver``, in a
process of its own), the demo
portal (on a fixed port, so it can be stopped and started again), Cognito users, the
local WebSocket gateway (``local.ws_gateway``, the app's real ``$connect``/``$default``/
``$disconnect`` handlers and its ``@connections`` API) and the Chalice app behind
Chalice's local HTTP server. Each scenario gets a ``Stack`` of its own: fresh tables,
queues, bucket and secret (unique names, created from ``infra.spec``), the app wired to
them, the worker lanes (``local.event_source.lanes``) and the batch ingest on demand.

Each worker thread gets a portal scraper of its own, as each concurrent Lambda
invocation is its own container with its own portal session (``make run`` shares one).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import logging
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import boto3

from reliability.clients import TERMINAL_STATES, Requester, SocketHub
from reliability.probes import EmfTap

__all__ = ["Harness", "Stack", "wait_until"]

#: The project, as this package was imported from it.
ROOT = Path(__file__).absolute().parents[1]
REGION = "us-east-1"
PORTAL_CREDENTIALS = {"username": "demo", "password": "demo-password"}
_ids = itertools.count(1)


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``check`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Environment:
    """Changes to ``os.environ``, undone in reverse order by ``restore``."""

    def __init__(self) -> None:
        self._saved: list[tuple[str, str | None]] = []

    def set(self, **values: str) -> None:
        for key, value in values.items():
            self._saved.append((key, os.environ.get(key)))
            os.environ[key] = value

    def drop(self, *keys: str) -> None:
        for key in keys:
            self._saved.append((key, os.environ.get(key)))
            os.environ.pop(key, None)

    def restore(self) -> None:
        for key, value in reversed(self._saved):
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """raspa's JSON log lines and the local runtime's warnings off while a scenario runs
    (thousands of retries and failures are the point); errors of the local runtime stay."""
    manager = logging.root.manager
    names = [
        n for n in list(manager.loggerDict) if n == "raspa" or n.startswith(("chalicelib", "local"))
    ]
    levels = {"raspa": logging.CRITICAL, "chalicelib": logging.CRITICAL, "local": logging.ERROR}
    saved = {}
    for name in {*names, *levels}:
        logger = logging.getLogger(name)
        saved[name] = logger.level
        top = name.split(".", 1)[0]
        logger.setLevel(levels.get(top, logging.CRITICAL))
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


class Containers:
    """Each worker thread is its own Lambda container: it builds its own portal scraper
    (``app.get_scraper``'s construction) on its first invocation and keeps it."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self.build = build
        self.created = 0
        self._local = threading.local()
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        scraper = getattr(self._local, "scraper", None)
        if scraper is None:
            scraper = self._local.scraper = self.build()
            with self._lock:
                self.created += 1
        return scraper


def _quiet_handler(app_object: Any, config: Any) -> Any:
    from chalice.local import ChaliceRequestHandler

    class QuietHandler(ChaliceRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    return functools.partial(QuietHandler, app_object=app_object, config=config)


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    token: str
    vip: bool = False


class Harness:
    """The shared servers; ``stack(name)`` gives a scenario its own resources."""

    def __init__(
        self, *, users: int = 20, vip_users: int = 5, quiet: bool = True, aws_process: bool = True
    ) -> None:
        self.user_count, self.vip_count = users, vip_users
        self.aws_process = aws_process
        self.quiet = quiet
        self.users: list[User] = []
        self._env = Environment()
        self._stoppers: list[Callable[[], None]] = []
        self._quiet: contextlib.ExitStack | None = None
        self._portal_up = False

    # ------------------------------------------------------------ lifecycle
    def start(self) -> Harness:
        from local.awsserver import AwsProcess, AwsServer
        from local.portal import PortalServer
        from local.users import create_pool, sign_in

        try:
            if self.quiet:
                self._quiet = contextlib.ExitStack()
                self._quiet.enter_context(quiet_logs())
                self._stoppers.append(self._quiet.close)
            self.emf = EmfTap(quiet=self.quiet).install()
            self._stoppers.append(self.emf.uninstall)
            self._env.set(
                AWS_ACCESS_KEY_ID="local",
                AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - moto accepts any key
                AWS_DEFAULT_REGION=REGION,
                AWS_REGION=REGION,
                POWERTOOLS_SERVICE_NAME="raspa",
                POWERTOOLS_METRICS_NAMESPACE="Raspa",
            )
            self._env.drop("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
            self.aws = (AwsProcess() if self.aws_process else AwsServer()).start()
            self._stoppers.append(self.aws.stop)
            self._env.set(AWS_ENDPOINT_URL=self.aws.url)
            self.portal = PortalServer(port=free_port()).start()
            self._portal_up = True
            self._stoppers.append(self.portal_stop)
            self._env.set(RASPA_PORTAL_BASE_URL=self.portal.url)
            cognito = boto3.client("cognito-idp", region_name=REGION)
            names = tuple((f"user{i:02d}", False) for i in range(1, self.user_count + 1))
            names += tuple((f"vip{i:02d}", True) for i in range(1, self.vip_count + 1))
            pool, created = create_pool(cognito, region=REGION, users=names)
            self.users = [
                User(u["username"], sign_in(cognito, pool, u["username"], u["password"]), u["vip"])
                for u in created
            ]
            self._env.set(
                RASPA_AUTH_ISSUER=pool.issuer,
                RASPA_AUTH_CLIENT_ID=pool.user_pool_client_id,
                RASPA_AUTH_JWKS_URL=f"{self.aws.url}/{pool.user_pool_id}/.well-known/jwks.json",
                RASPA_AUTH_COGNITO_ENDPOINT=self.aws.url + "/",
            )
            self._start_gateway_and_api()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_gateway_and_api(self) -> None:
        from chalice.cli.factory import CLIFactory
        from chalice.local import LocalChalice, LocalDevServer, create_local_server

        import app as raspa_app
        from local.ws_gateway import WebSocketGateway

        self.app = raspa_app
        self.disconnected = 0
        self._disconnects = threading.Lock()

        def disconnect(event: dict, context: Any) -> Any:
            try:
                return raspa_app.ws_disconnect(event, context)
            finally:
                with self._disconnects:
                    self.disconnected += 1

        self.gateway = WebSocketGateway(
            connect=raspa_app.ws_connect, message=raspa_app.ws_message, disconnect=disconnect
        ).start()
        self._stoppers.append(self.gateway.stop)
        self._env.set(RASPA_WS_ENDPOINT=self.gateway.management_url, RASPA_WS_URL=self.gateway.url)
        config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="dev")
        # create_local_server makes the app's class thread-local for current_request (each
        # call re-parents it, so only once per process); the class is put back at stop.
        original = type(raspa_app.app)
        if isinstance(raspa_app.app, LocalChalice):
            api = LocalDevServer(raspa_app.app, config, "127.0.0.1", 0)
        else:
            api = create_local_server(raspa_app.app, config, "127.0.0.1", 0)
            self._stoppers.append(lambda: setattr(raspa_app.app, "__class__", original))
        api.server.RequestHandlerClass = _quiet_handler(raspa_app.app, config)
        thread = threading.Thread(target=api.server.serve_forever, name="api", daemon=True)
        thread.start()

        def stop_api() -> None:
            api.server.shutdown()
            api.server.server_close()

        self._stoppers.append(stop_api)
        self.api_url = f"http://127.0.0.1:{api.server.server_address[1]}"
        self.hub = SocketHub(self.gateway.url)
        self._stoppers.append(self.hub.close)

    def stop(self) -> None:
        for stop in reversed(self._stoppers):
            with contextlib.suppress(Exception):
                stop()
        self._stoppers.clear()
        self._env.restore()
        with contextlib.suppress(Exception):
            import app as raspa_app

            raspa_app.reset_wiring()

    def __enter__(self) -> Harness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --------------------------------------------------------------- portal
    def portal_stop(self) -> None:
        """The portal goes down: its port refuses connections (``portal_start`` brings it
        back on the same port, its sessions and statistics kept)."""
        if self._portal_up:
            self.portal.stop()
            self._portal_up = False

    def portal_start(self) -> None:
        if not self._portal_up:
            self.portal.start()
            self._portal_up = True

    def faults(self, **values: Any) -> dict[str, Any]:
        from local.portal import control

        return control.faults(self.portal.url, **values)

    def portal_stats(self) -> dict[str, Any]:
        from local.portal import control

        return control.stats(self.portal.url)

    def portal_reset(self) -> None:
        from local.portal import control

        control.reset(self.portal.url)

    # ---------------------------------------------------------------- stacks
    def stack(self, scenario: str, **env: str) -> Stack:
        """Fresh resources for ``scenario`` with extra ``RASPA_*`` settings (use ``with``)."""
        return Stack(self, scenario, env)


class Stack:
    """One scenario's resources and the app wired to them."""

    def __init__(self, harness: Harness, scenario: str, env: dict[str, str]) -> None:
        self.h = harness
        self.scenario = scenario
        self.extra_env = env
        self._env = Environment()
        self._stoppers: list[Callable[[], None]] = []
        self.sockets: list[Any] = []

    def __enter__(self) -> Stack:
        from chalicelib.config import Settings
        from local.resources import create_all, named

        prefix = f"rel{next(_ids)}-{self.scenario.replace('_', '-')}"
        self._env.set(**named(prefix), **self.extra_env)
        try:
            self.settings = Settings.from_env()
            self.urls = create_all(self.settings, credentials=PORTAL_CREDENTIALS)
            # The harness's own clients (Lambda's pollers, the observer), never the app's.
            self.sqs = boto3.client("sqs", region_name=REGION)
            self.s3 = boto3.client("s3", region_name=REGION)
            self.ddb = boto3.client("dynamodb", region_name=REGION)
            self.app = self.h.app
            self.app.reset_wiring()
            self.app.get_settings()
            for getter in ("get_lookup", "get_worker", "get_websocket", "get_batches"):
                getattr(self.app, getter)()
            # PynamoDB builds each model's client on first use, unlocked: a burst of
            # concurrent first calls would build one per thread (a warm container has one).
            self.app_clients()
            self.containers = Containers(self.app.get_scraper.__wrapped__)
            self.app.get_worker().scraper = self.containers
            self.h.portal_reset()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for stop in reversed(self._stoppers):
            with contextlib.suppress(Exception):
                stop()
        self._stoppers.clear()
        expected = self.h.disconnected + len(self.sockets)
        for sock in self.sockets:
            sock.stop_following()
            with contextlib.suppress(Exception):
                self.h.hub.run(sock.ws.close(), timeout=5)
        # $disconnect runs after the socket closes: let it finish while this stack is wired.
        wait_until(lambda: self.h.disconnected >= expected, 10, interval=0.05)
        self.h.app.reset_wiring()
        self._env.restore()
        self.h.portal_start()  # a scenario that took it down leaves it up

    # ------------------------------------------------------------ runtimes
    @property
    def queue_url(self) -> str:
        return self.urls[self.settings.queue_name]

    @property
    def dlq_url(self) -> str:
        return self.urls[self.settings.dlq_name]

    @property
    def lane_urls(self) -> list[str]:
        s = self.settings
        return [self.urls[n] for n in (s.priority_queue_name, s.queue_name, s.batch_queue_name)]

    def worker(self, handler: Callable[[dict, Any], Any] | None = None) -> Any:
        """The scrape worker's lanes as deployed (VIP, standard, batch; 3 at once), started;
        stopped with the stack or by ``stop()``."""
        from infra.spec import resources
        from local.event_source import lanes

        runtime = lanes(
            self.sqs,
            handler or self.app.scrape_worker,
            resources(self.settings),
            self.urls,
            timeout_seconds=self.settings.scrape_timeout_seconds,
            wait_seconds=1,
        ).start()
        self._stoppers.append(runtime.stop)
        return runtime

    def ingest(self, handler: Callable[[dict, Any], Any] | None = None) -> Any:
        """The batch ingest on its queue, started."""
        from infra.spec import resources
        from local.event_source import ingest

        source = ingest(
            self.sqs,
            handler or self.app.batch_ingest,
            resources(self.settings),
            self.urls,
            wait_seconds=1,
        ).start()
        self._stoppers.append(source.stop)
        return source

    def requesters(self, count: int, *, vip: int = 0, sockets: bool = True) -> list[Requester]:
        """``count`` signed-in users (distinct), ``vip`` of them VIP (their lookups take the
        priority lane), each with a WebSocket connection."""
        standard = [u for u in self.h.users if not u.vip][: count - vip]
        vips = [u for u in self.h.users if u.vip][:vip]
        chosen = standard + vips
        if len(chosen) < count:
            raise ValueError(f"the harness has too few users for {count} ({vip} VIP)")
        people = []
        for user in chosen:
            sock = self.h.hub.open(user.token) if sockets else None
            if sock is not None:
                self.sockets.append(sock)
            people.append(Requester(user.name, user.token, self.h.api_url, sock))
        return people

    def app_clients(self) -> list[Any]:
        """The botocore clients the app makes its DynamoDB and SQS calls with: its SQS
        client and every model's PynamoDB connection."""
        from chalicelib.adapters.dynamo.connection import dynamodb_clients

        return [self.app.get_sqs(), *dynamodb_clients(self.app.get_models())]

    # ------------------------------------------------------------ reading
    @property
    def m(self) -> Any:
        return self.app.get_models()

    def tasks(self) -> list[Any]:
        Task = self.m.Task
        return list(Task.scan(Task.kind == "task", consistent_read=True))

    def task(self, task_id: str) -> Any:
        return self.app.get_store().tasks.get_task(task_id)

    def records(self) -> list[Any]:
        return list(self.m.OsRecord.scan(consistent_read=True))

    def record_writes(self) -> int:
        """OS records written by finished scrapes: the hourly counters every successful
        finish adds 1 to, in the same transaction that writes the record."""
        Stats = self.m.Stats
        return sum(int(s.scrapes or 0) for s in Stats.scan(Stats.kind == "stats"))

    def depth(self, url: str) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def lanes_empty(self) -> bool:
        return all(self.depth(url) == 0 for url in self.lane_urls)

    def status_of(self, task_ids: Iterable[str]) -> dict[str, str]:
        """The status of each of ``task_ids`` that exists (BatchGetItem of two attributes,
        100 keys a call), with the harness's own client: never one a scenario throttles,
        and cheap for the emulator (a scan would copy every item, scraped records and all)."""
        wanted = list(dict.fromkeys(task_ids))
        found: dict[str, str] = {}
        table = self.settings.tasks_table
        for start in range(0, len(wanted), 100):
            keys: list[dict[str, Any]] = [{"pk": {"S": t}} for t in wanted[start : start + 100]]
            while keys:
                answer = self.ddb.batch_get_item(
                    RequestItems={
                        table: {
                            "Keys": keys,
                            "ConsistentRead": True,
                            "ProjectionExpression": "pk, #s",
                            "ExpressionAttributeNames": {"#s": "status"},
                        }
                    }
                )
                for item in answer["Responses"].get(table, []):
                    found[item["pk"]["S"]] = item["status"]["S"]
                keys = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
        return found

    def unfinished(self, task_ids: Iterable[str]) -> set[str]:
        """Those of ``task_ids`` not SUCCESS nor FAILURE (missing ones included)."""
        wanted = set(task_ids)
        done = {t for t, s in self.status_of(wanted).items() if s in TERMINAL_STATES}
        return wanted - done

    def ops(self) -> Any:
        """The ops library's view of this stack (``infra.ops``)."""
        from infra import ops

        s = self.settings
        names = {
            "vip": s.priority_queue_name,
            "standard": s.queue_name,
            "batch": s.batch_queue_name,
            "ingest": s.ingest_queue_name,
            "dlq": s.dlq_name,
        }
        urls = {queue: self.urls[name] for queue, name in names.items()}
        return ops.Ops(
            self.sqs, self.app.get_store(), s, urls, names, "the reliability stack", True
        )

    def dead_letters(self) -> list[Any]:
        """Every message in the DLQ (read and left there), as the ops CLI describes them."""
        from infra import ops

        return ops.peek(self.ops(), limit=100_000)

    def ops_state(self) -> Path:
        """A ``.raspa/local.json`` describing this stack, for ``python -m infra.ops --local``."""
        s = self.settings
        folder = Path(tempfile.mkdtemp(prefix="raspa-reliability-"))
        path = folder / "local.json"
        path.write_text(
            json.dumps(
                {
                    "aws_endpoint_url": self.h.aws.url,
                    "region": REGION,
                    "portal_url": self.h.portal.url,
                    "queue_url": self.urls[s.queue_name],
                    "priority_queue_url": self.urls[s.priority_queue_name],
                    "batch_queue_url": self.urls[s.batch_queue_name],
                    "ingest_queue_url": self.urls[s.ingest_queue_name],
                    "dlq_url": self.urls[s.dlq_name],
                }
            )
        )
        return path

    def worker_env(self) -> dict[str, str]:
        """The environment a worker in another process needs to serve this stack."""
        return {**os.environ, "PYTHONPATH": str(ROOT)}

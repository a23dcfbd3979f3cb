"""The local stack in-process, for the reliability scenarios.

One ``Harness`` is the sandbox (``local.sandbox``) with every server: moto in a process of
its own, the demo portal (on a fixed port, so it can be stopped and started again),
Cognito users, the local WebSocket gateway (the app's real ``$connect``/``$default``/
``$disconnect`` handlers and its ``@connections`` API) and the Chalice app behind
Chalice's local HTTP server. Each scenario gets a ``Stack`` of its own: a deployment of
fresh tables, queues, bucket and secret (unique names, created from ``infra.spec``) with
the settings it changes, the app serving it, the scrape worker
(``local.event_source.worker``: one event source on the scrape queue) and the batch ingest
on demand.

Each worker thread gets a portal scraper of its own, as each concurrent Lambda
invocation is its own container with its own portal session (``make run`` shares one):
``Containers`` is the deployment's scraper factory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

from chalicelib.domain.tasks import TERMINAL
from local.sandbox import LOCAL_KEYS, REGION, Ports, Sandbox, process_env
from reliability.clients import Requester, SocketHub
from reliability.containers import Containers, free_port, quiet_logs, wait_until
from reliability.probes import EmfTap

__all__ = ["Containers", "Harness", "Stack", "wait_until"]

#: The project, as this package was imported from it.
ROOT = Path(__file__).absolute().parents[1]
_ids = itertools.count(1)


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    token: str
    vip: bool = False


class Harness(Sandbox):
    """The sandbox with every server; ``stack(name)`` gives a scenario its own resources."""

    def __init__(
        self, *, users: int = 20, vip_users: int = 5, quiet: bool = True, aws_process: bool = True
    ) -> None:
        names = tuple((f"user{i:02d}", False) for i in range(1, users + 1))
        names += tuple((f"vip{i:02d}", True) for i in range(1, vip_users + 1))
        super().__init__(
            aws="process" if aws_process else "server",
            ports=Ports(portal=free_port()),
            users=names,
            api=True,
            quiet=True,  # the API server's request lines
        )
        self.quiet_logs = quiet
        #: The signed-in users, with their tokens.
        self.accounts: list[User] = []
        self._portal_up = False

    # ------------------------------------------------------------ lifecycle
    def start(self) -> Harness:
        if self.quiet_logs:
            logs = contextlib.ExitStack()
            logs.enter_context(quiet_logs())
            self._stoppers.append(logs.close)
        self.emf = EmfTap(quiet=self.quiet_logs).install()
        self._stoppers.append(self.emf.uninstall)
        super().start()
        try:
            self._portal_up = True
            self.accounts = [
                User(u["username"], self.tokens[u["username"]], u["vip"]) for u in self.users
            ]
            self.hub = SocketHub(self.gateway.url)
            self._stoppers.append(self.hub.close)
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> Harness:
        return self.start()

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

    # ---------------------------------------------------------------- stacks
    def stack(
        self,
        scenario: str,
        *,
        scrapers: Callable[[Containers], Callable[[], Any]] | None = None,
        **changes: Any,
    ) -> Stack:
        """Fresh resources for ``scenario`` (use ``with``); ``changes`` replace settings
        (field names: ``rate_limit=30``), ``scrapers`` wraps the per-container scraper
        factory (to time each attempt, say)."""
        return Stack(self, scenario, changes, scrapers)


class Stack:
    """One scenario's deployment and the app serving it."""

    def __init__(
        self,
        harness: Harness,
        scenario: str,
        changes: dict[str, Any],
        scrapers: Callable[[Containers], Callable[[], Any]] | None = None,
    ) -> None:
        self.h = harness
        self.scenario = scenario
        self.changes = changes
        self.wrap = scrapers
        self._stoppers: list[Callable[[], None]] = []
        self.sockets: list[Any] = []

    def __enter__(self) -> Stack:
        prefix = f"rel{next(_ids)}-{self.scenario.replace('_', '-')}"
        try:
            self.settings = self.h.settings(prefix, **self.changes)
            self.containers = Containers(lambda: self.services.new_portal_scraper())
            #: The deployment's scraper factory: the containers, or what wraps them.
            self.scrapers = self.wrap(self.containers) if self.wrap else self.containers
            self.deployment = self.h.deploy(self.settings, scraper_factory=self.scrapers)
            self.services = self.deployment.services
            self.urls = self.deployment.urls
            self.app = self.deployment.app
            # The harness's own clients (Lambda's pollers, the observer), never the app's.
            self.sqs = self.deployment.sqs
            self.s3 = self.h.clients.client("s3")
            self.ddb = self.h.clients.client("dynamodb")
            for part in ("lookup", "worker", "websocket", "batches"):
                getattr(self.services, part)
            # PynamoDB builds each model's client on first use, unlocked: a burst of
            # concurrent first calls would build one per thread (a warm container has one).
            self.app_clients()
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
        # $disconnect runs after the socket closes: let it finish while this stack serves.
        wait_until(lambda: self.h.disconnected >= expected, 10, interval=0.05)
        self.h.portal_start()  # a scenario that took it down leaves it up

    # ------------------------------------------------------------ runtimes
    @property
    def queue_url(self) -> str:
        """The scrape queue (every lane's wake-ups)."""
        return self.deployment.queue_url

    @property
    def dlq_url(self) -> str:
        return self.deployment.queue_urls["dlq"]

    def worker(self, handler: Callable[[dict, Any], Any] | None = None) -> Any:
        """The scrape worker as deployed (one event source on the scrape queue, 3 at
        once), started; stopped with the stack or by ``stop()``."""
        runtime = self.deployment.worker(
            handler=handler,
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
        """``count`` signed-in users (distinct), ``vip`` of them VIP (their lookups are
        VIP tasks, claimed first), each with a WebSocket connection."""
        standard = [u for u in self.h.accounts if not u.vip][: count - vip]
        vips = [u for u in self.h.accounts if u.vip][:vip]
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

        return [self.services.aws.client("sqs"), *dynamodb_clients(self.services.models)]

    # ------------------------------------------------------------ reading
    @property
    def m(self) -> Any:
        return self.services.models

    def tasks(self) -> list[Any]:
        Task = self.m.Task
        return list(Task.scan(Task.kind == "task", consistent_read=True))

    def task(self, task_id: str) -> Any:
        return self.services.store.tasks.get_task(task_id)

    def records(self) -> list[Any]:
        return list(self.m.OsRecord.scan(consistent_read=True))

    def record_writes(self) -> int:
        """OS records written by finished scrapes: the hourly counters every successful
        finish adds 1 to, in the same transaction that writes the record."""
        Stats = self.m.Stats
        return sum(int(s.scrapes or 0) for s in Stats.scan(Stats.kind == "stats"))

    def depth(self, url: str) -> int:
        """Messages in ``url``: visible, in flight and delayed (a retry waiting counts,
        unlike ``Deployment.depth``)."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def queue_empty(self) -> bool:
        """No wake-up waiting or running in the scrape queue (visible or in flight: a
        retry's back-off included). Delayed ones do not count: they are timers (the portal
        breaker's next probe, a rescan) that find nothing to do once every task ended."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        return sum(int(v) for v in attrs.values()) == 0

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
        done = {t for t, s in self.status_of(wanted).items() if s in TERMINAL}
        return wanted - done

    def ops(self) -> Any:
        """The ops CLI's view of this stack (``ops.Ops``), as ``--local`` builds it from
        ``ops_info``: raspa's services on clients of its own, never the app's."""
        from ops.connect import on_local

        return on_local(self.ops_info(), where="the reliability stack")

    def dead_letters(self) -> list[Any]:
        """Every message in the DLQ (read and left there), as the ops CLI describes them."""
        import ops

        return ops.peek(self.ops(), limit=100_000)

    def ops_info(self) -> dict[str, Any]:
        """This stack as ``.raspa/local.json`` describes one (its endpoint, queues, tables
        and bucket, as ``make run`` writes them)."""
        s = self.settings
        queues = self.deployment.queue_urls
        return {
            "aws_endpoint_url": self.h.aws_url,
            "region": REGION,
            "portal_url": self.h.portal_url,
            "queue_url": queues["scrape"],
            "ingest_queue_url": queues["ingest"],
            "dlq_url": queues["dlq"],
            "batch_bucket": s.batch_bucket,
            "os_table": s.os_table,
            "tasks_table": s.tasks_table,
            "connections_table": s.connections_table,
        }

    def ops_state(self) -> Path:
        """A ``.raspa/local.json`` of this stack (``ops_info``), for ``python -m ops --local``."""
        folder = Path(tempfile.mkdtemp(prefix="raspa-reliability-"))
        path = folder / "local.json"
        path.write_text(json.dumps(self.ops_info()))
        return path

    def worker_process(self, ready: Path) -> tuple[list[str], dict[str, str]]:
        """The command and environment of ``python -m reliability.worker_process`` serving
        this stack: its settings as a Lambda's environment (``Settings.to_env``), the
        sandbox's AWS endpoint and keys on the command line."""
        command = [
            sys.executable,
            "-m",
            "reliability.worker_process",
            json.dumps(self.urls),
            str(ready),
            "--endpoint-url",
            self.h.aws_url,
            "--access-key-id",
            LOCAL_KEYS["access_key_id"],
            "--secret-access-key",
            LOCAL_KEYS["secret_access_key"],
        ]
        return command, process_env(
            **self.settings.to_env(),
            AWS_REGION=self.settings.region,
            AWS_DEFAULT_REGION=self.settings.region,
        )

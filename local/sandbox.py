"""One sandbox for everything that runs raspa off AWS: ``make run``, the tests, the
benchmarks and the reliability suite.

A ``Sandbox`` owns the shared pieces: AWS emulation (moto, as a server on loopback, in a
process of its own, or in memory), the demo portal, a Cognito pool with users and their
tokens, the WebSocket gateway with its ``@connections`` API, and Chalice's local HTTP
server. ``deploy(settings)`` creates one set of resources (tables, queues, bucket, secret,
from ``infra.spec``), builds ``Services`` from those settings and this sandbox's endpoints,
and installs them into the app; the ``Deployment`` it returns drives the event sources
(the scrape worker and the batch ingest) as Lambda would. Callers change settings with
``dataclasses.replace`` (``sandbox.settings(...)`` takes the changes as keywords) and the
scraper with a factory; nothing here sets an environment variable.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from chalicelib.adapters.aws import AwsClients
from chalicelib.composition import Services
from chalicelib.config import Settings
from local.deployment import LOCAL_KEYS, Deployment, process_env
from local.users import DEMO_USERS

__all__ = [
    "DEMO_CREDENTIALS",
    "REGION",
    "Deployment",
    "Ports",
    "Sandbox",
    "process_env",
    "resource_names",
]

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
#: The demo portal's account, written into each deployment's portal secret.
DEMO_CREDENTIALS = {"username": "demo", "password": "demo-password"}
_ids = itertools.count(1)

AwsMode = Literal["server", "process", "memory"]


@dataclass(frozen=True)
class Ports:
    """Loopback ports of the sandbox's servers (0: any free port)."""

    api: int = 0
    portal: int = 0
    ws: int = 0
    ws_management: int = 0
    aws: int = 0


def resource_names(prefix: str) -> dict[str, str]:
    """Settings that give every table, queue, bucket and secret a name starting with
    ``prefix``: a fresh set of resources beside the others."""
    return {
        "os_table": f"{prefix}-os",
        "tasks_table": f"{prefix}-tasks",
        "connections_table": f"{prefix}-connections",
        "queue_name": f"{prefix}-scrape",
        "dlq_name": f"{prefix}-dlq",
        "ingest_queue_name": f"{prefix}-ingest",
        "batch_bucket": f"{prefix}-batches",
        "portal_secret_name": f"{prefix}-portal",
    }


class Sandbox:
    """The shared servers; ``deploy(settings)`` gives a run, a test or a scenario its own
    resources and services. Use with ``with``, or ``start()`` / ``stop()``."""

    def __init__(
        self,
        *,
        aws: AwsMode = "server",
        ports: Ports = Ports(),
        portal: bool = True,
        users: Sequence[tuple[str, bool]] = DEMO_USERS,
        gateway: bool = True,
        api: bool = False,
        quiet: bool = False,
    ) -> None:
        self.mode = aws
        self.ports = ports
        self.want_portal, self.want_gateway, self.want_api = portal, gateway, api
        self.user_specs = tuple(users)
        self.quiet = quiet
        self.users: list[dict[str, Any]] = []
        self.tokens: dict[str, str] = {}
        self.portal: Any = None
        self.gateway: Any = None
        self.api_url = ""
        self.aws_url = ""
        #: WebSocket disconnects the gateway delivered (each a ``$disconnect`` invocation).
        self.disconnected = 0
        self._count_lock = threading.Lock()
        self._stoppers: list[Callable[[], Any]] = []

    # ------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        try:
            self._start_aws()
            if self.want_portal:
                from local.portal import PortalServer

                self.portal = self._keep(PortalServer(port=self.ports.portal).start())
            self._create_users()
            if self.want_gateway:
                self._start_gateway()
            if self.want_api:
                self._start_api()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        import app as raspa_app

        for stop in reversed(self._stoppers):
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - stop the rest regardless
                print(f"stopping the sandbox: {exc}", file=sys.stderr)
        self._stoppers.clear()
        raspa_app.use(None)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _keep(self, thing: Any) -> Any:
        self._stoppers.append(thing.stop)
        return thing

    def _start_aws(self) -> None:
        if self.mode == "memory":
            from moto import mock_aws

            mock = mock_aws()
            mock.start()
            self._stoppers.append(mock.stop)
            self.clients = AwsClients(region=REGION, **LOCAL_KEYS)
            return
        from local.awsserver import AwsProcess, AwsServer

        if self.mode == "process":
            server: Any = AwsProcess().start()
        else:
            server = AwsServer(port=self.ports.aws).start()
        self._stoppers.append(server.stop)
        self.aws_url = server.url
        self.clients = self.aws_clients()

    def aws_clients(self) -> AwsClients:
        """A new set of clients on this sandbox's AWS (each deployment's services get their
        own, so the harness's calls are never counted as the app's)."""
        return AwsClients(region=REGION, endpoint_url=self.aws_url or None, **LOCAL_KEYS)

    def _create_users(self) -> None:
        from local.users import create_pool, sign_in

        cognito = self.clients.client("cognito-idp")
        self.pool, self.users = create_pool(cognito, region=REGION, users=self.user_specs)
        self.tokens = {
            u["username"]: sign_in(cognito, self.pool, u["username"], u["password"])
            for u in self.users
        }

    def _start_gateway(self) -> None:
        import app as raspa_app
        from local.ws_gateway import WebSocketGateway

        # Chalice builds its own @connections client for each WebSocket event from this
        # session (in Lambda, from the runtime's AWS_REGION); the app never uses it.
        raspa_app.app.websocket_api.session = self.clients.session()

        def disconnect(event: dict, context: Any) -> Any:
            try:
                return raspa_app.ws_disconnect(event, context)
            finally:
                with self._count_lock:
                    self.disconnected += 1

        self.gateway = self._keep(
            WebSocketGateway(
                connect=raspa_app.ws_connect,
                message=raspa_app.ws_message,
                disconnect=disconnect,
                port=self.ports.ws,
                management_port=self.ports.ws_management,
            ).start()
        )

    def _start_api(self) -> None:
        """The app behind Chalice's local server (API Gateway's part, authorizer included)."""
        from chalice.cli.factory import CLIFactory
        from chalice.local import LocalChalice, LocalDevServer, create_local_server

        import app as raspa_app

        config = CLIFactory(str(ROOT)).create_config_obj(chalice_stage_name="dev")
        # create_local_server makes the app's class thread-local for current_request (it
        # re-parents the class, so only once per process); the class is put back at stop.
        original = type(raspa_app.app)
        if isinstance(raspa_app.app, LocalChalice):
            api = LocalDevServer(raspa_app.app, config, "127.0.0.1", self.ports.api)
        else:
            api = create_local_server(raspa_app.app, config, "127.0.0.1", self.ports.api)
            self._stoppers.append(lambda: setattr(raspa_app.app, "__class__", original))
        if self.quiet:
            api.server.RequestHandlerClass = _quiet_handler(raspa_app.app, config)
        thread = threading.Thread(target=api.server.serve_forever, name="api", daemon=True)
        thread.start()

        def stop_api() -> None:
            api.server.shutdown()
            api.server.server_close()

        self._stoppers.append(stop_api)
        self.api_url = f"http://127.0.0.1:{api.server.server_address[1]}"

    # ------------------------------------------------------------ settings
    @property
    def portal_url(self) -> str:
        return self.portal.url if self.portal is not None else ""

    def settings(
        self, prefix: str = "", *, base: Settings | None = None, **changes: Any
    ) -> Settings:
        """Settings that reach this sandbox: its portal, its users' pool, its gateway;
        ``prefix`` names a fresh set of resources (``"auto"``: a unique one), ``base`` is
        where the rest comes from (the defaults), ``changes`` replace fields."""
        if prefix == "auto":
            prefix = f"sb{next(_ids)}"
        reach: dict[str, Any] = {
            "region": REGION,
            "auth_issuer": self.pool.issuer,
            "auth_client_id": self.pool.user_pool_client_id,
        }
        if self.aws_url:
            reach["auth_jwks_url"] = (
                f"{self.aws_url}/{self.pool.user_pool_id}/.well-known/jwks.json"
            )
            reach["auth_cognito_endpoint"] = self.aws_url + "/"
        if self.portal is not None:
            reach["portal_base_url"] = self.portal.url
        if self.gateway is not None:
            reach["ws_endpoint"] = self.gateway.management_url
            reach["ws_url"] = self.gateway.url
        if prefix:
            reach.update(resource_names(prefix))
        settings = dataclasses.replace(base or Settings(), **{**reach, **changes})
        settings.validate()
        return settings

    # ------------------------------------------------------------ deploying
    def deploy(
        self,
        settings: Settings,
        *,
        scraper_factory: Callable[[], Any] | None = None,
        management_api: Any = None,
        credentials: dict[str, str] | None = DEMO_CREDENTIALS,
        install: bool = True,
        create: bool = True,
    ) -> Deployment:
        """Create ``settings``' resources (unless ``create`` is false: they exist), build
        their services on a fresh set of clients and (``install``) serve the app from them."""
        from local.resources import create_all, queue_urls

        if create:
            urls = create_all(settings, self.clients, credentials=credentials)
        else:
            urls = queue_urls(settings, self.clients)
        jwks = None
        if self.mode == "memory":  # no JWKS URL in memory: moto's published keys
            from local.users import StaticJwks, moto_jwks

            jwks = StaticJwks(moto_jwks())
        services = Services.build(
            settings,
            self.aws_clients(),
            scraper_factory=scraper_factory,
            jwks=jwks,
            management_api=management_api,
        )
        if install:
            import app as raspa_app

            raspa_app.use(services)
        return Deployment(self, settings, services, urls)

    def headers(self, user: str = "ana") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    # ------------------------------------------------------------ portal
    def faults(self, **values: Any) -> dict[str, Any]:
        from local.portal import control

        return control.faults(self.portal.url, **values)

    def portal_stats(self) -> dict[str, Any]:
        from local.portal import control

        return control.stats(self.portal.url)

    def portal_reset(self, **faults: Any) -> None:
        from local.portal import control

        control.reset(self.portal.url)
        if faults:
            self.faults(**faults)


def _quiet_handler(app_object: Any, config: Any) -> Any:
    from chalice.local import ChaliceRequestHandler

    class QuietHandler(ChaliceRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    return functools.partial(QuietHandler, app_object=app_object, config=config)
